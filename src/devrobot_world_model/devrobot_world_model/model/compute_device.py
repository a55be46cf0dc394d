"""Where the world model computes: a CUDA GPU when there is one, else the CPU.

The replay buffer, the random-shift augmentation and the frames that come in and go out stay in
host memory as numpy; only the model, its optimizer state and each minibatch live on the device.
"""

from __future__ import annotations

import torch

DEVICE_HELP = ("Where the world model trains and predicts: 'auto' (the first CUDA GPU when torch "
               "finds one, else the CPU), 'cpu', 'cuda' or 'cuda:N'.")


def resolve_device(name: str) -> torch.device:
    """'auto', 'cpu', 'cuda' or 'cuda:N' -> a torch.device this process can use."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {name!r}: expected 'auto', 'cpu', 'cuda' or "
                         f"'cuda:N'") from error
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f"device {name!r} is not supported: expected 'auto', 'cpu', 'cuda' or "
                         f"'cuda:N'")
    if device.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ValueError(f'device {name!r}: torch finds {count} CUDA device(s) here')
    return device
