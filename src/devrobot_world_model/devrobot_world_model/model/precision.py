"""Which arithmetic training runs in: bfloat16 autocast where the hardware has it, else float32.

bfloat16 autocast runs convolutions and matrix products at half the bytes; on a CPU with native
bf16 instructions (AVX512-BF16 or AMX) the default model trained about 30 % faster, and on the
dot world it learned as well once the predictor was kept in float32 (`WorldModel.
predict_for_loss`; docs/world_model.md). Without them the CPU emulates bf16 and is
slower than float32, so 'auto' looks before it chooses. Losses, optimizer state and weights stay
float32 either way; prediction and evaluation always run in float32.
"""

from __future__ import annotations

import torch

PRECISIONS = ('auto', 'bf16', 'fp32')


def native_bf16(device_type: str = 'cpu') -> bool:
    """Whether this machine's `device_type` runs bfloat16 arithmetic natively."""
    if device_type == 'cuda':
        return (torch.cuda.is_available()
                and torch.cuda.is_bf16_supported(including_emulation=False))
    if device_type != 'cpu':
        return False
    # torch.cpu has no public query; these private ones are what PyTorch's own CPU kernels use
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def use_bf16(precision: str, device_type: str = 'cpu') -> bool:
    """Resolve a `precision` setting ('auto', 'bf16', 'fp32') for `device_type`."""
    if precision not in PRECISIONS:
        raise ValueError(f'unknown precision {precision!r}: expected one of {PRECISIONS}')
    if precision == 'auto':
        return native_bf16(device_type)
    return precision == 'bf16'
