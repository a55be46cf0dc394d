"""One training step, pure: a minibatch in, an optimizer step, a flat metrics dict out.

The learner (online) and the offline trainer both call `train_step`; it runs at tiny sizes on
CPU in tests. A non-finite loss or gradient skips the update (nothing is applied) and says so in
the metrics, so one bad batch never poisons the weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from devrobot_world_model.learning.metrics import (
    gradient_norm, gradient_norms, per_layer_medians, snapshot_parameters,
    update_to_weight_ratios, uwr_percentile)
from devrobot_world_model.model.pixel_losses import to_unit_images


def batch_to_tensors(batch: dict, device: str = 'cpu', shift_px: int = 0,
                     shift_wrap: bool = True) -> tuple:
    """Replay arrays -> (frames `[B, T, 3, H, W]`, actions `[B, T]`, next `[B, 3, H, W]`).

    The random shift (if any) is applied to the uint8 frames, before they become floats: the
    same result on a quarter of the bytes. (A profile had charged a fifth of an update to the
    float shift, but that was page faults, which `cpu_memory.py` removes; A/B runs showed no
    measurable gain from this move alone.)
    """
    frames = torch.from_numpy(np.ascontiguousarray(batch['frames']))  # [B, T, H, W, 3] uint8
    next_frames = torch.from_numpy(np.ascontiguousarray(batch['next_frames']))  # [B, H, W, 3]
    frames, next_frames = random_shift(frames, next_frames, shift_px, shift_wrap)
    b, t = frames.shape[:2]
    frames = to_unit_images(frames.to(device).flatten(0, 1)).unflatten(0, (b, t))
    actions = torch.from_numpy(np.asarray(batch['actions'], dtype=np.int64)).to(device)
    return frames, actions, to_unit_images(next_frames.to(device))


def random_shift(frames: torch.Tensor, next_frames: torch.Tensor, max_shift_px: int,
                 wrap: bool = True) -> tuple:
    """Shift each transition's frames and next frame by the same random (dy, dx) offset.

    The random-shift augmentation of DrQ (Kostrikov et al., 2020), applied to whole transitions
    so the dynamics stay true: a shifted world moves the same way. With `wrap` the image rolls
    around (exact on the toroidal world); without, edges are replicated as in DrQ's pad-and-crop.
    It shows the model every position of content inside a patch early, so it generalises to
    positions it has not seen. Channels-last, any dtype: frames `[B, T, H, W, C]`, next_frames
    `[B, H, W, C]`.
    """
    if max_shift_px <= 0:
        return frames, next_frames
    b, t, h, w = frames.shape[:4]
    stacked = torch.cat([frames, next_frames[:, None]], dim=1)  # [B, T+1, H, W, C]
    offsets = torch.randint(-max_shift_px, max_shift_px + 1, (b, 2))
    if wrap:
        shifted = torch.stack([x.roll((dy, dx), dims=(1, 2))
                               for x, (dy, dx) in zip(stacked, offsets.tolist())])
    else:  # output pixel i takes source pixel i - shift, clamped to the edge
        rows = (torch.arange(h)[None] - offsets[:, :1]).clamp(0, h - 1)  # [B, H]
        cols = (torch.arange(w)[None] - offsets[:, 1:]).clamp(0, w - 1)  # [B, W]
        shifted = torch.stack([x.index_select(1, r).index_select(2, c)
                               for x, r, c in zip(stacked, rows, cols)])
    return shifted[:, :t], shifted[:, t]


def make_optimizer(model, autoencoder_lr: float, predictor_lr: float,
                   weight_decay: float) -> torch.optim.Optimizer:
    """Build AdamW with two groups: the autoencoder, and everything else (predictor and heads)."""
    autoencoder = list(model.autoencoder.parameters())
    ids = {id(p) for p in autoencoder}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.AdamW([
        {'params': autoencoder, 'lr': autoencoder_lr, 'name': 'autoencoder'},
        {'params': rest, 'lr': predictor_lr, 'name': 'predictor'}], weight_decay=weight_decay)


def autocast_context(enabled: bool, device: str = 'cpu'):
    return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=enabled)


def apply_update(model, optimizer, loss: torch.Tensor, grad_clip: float,
                 detailed: bool) -> dict:
    """Backward, clip and step unless anything is non-finite; returns `train/...` figures."""
    optimizer.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        return {'train/non_finite_skipped': 1}
    loss.backward()
    total_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or math.inf))
    if not math.isfinite(total_norm):
        optimizer.zero_grad(set_to_none=True)
        return {'train/non_finite_skipped': 1}
    metrics = {'train/non_finite_skipped': 0, 'train/grad_norm': total_norm}
    if detailed:
        metrics['train/predictor_grad_norm'] = gradient_norm(model.predictor.parameters())
        metrics['train/autoencoder_grad_norm'] = gradient_norm(model.autoencoder.parameters())
        metrics.update(per_layer_medians(gradient_norms(model.predictor),
                                         'grad_norms/transformer'))
        before = snapshot_parameters(model)
    optimizer.step()
    if detailed:
        ratios = update_to_weight_ratios(before, model)
        metrics['train/predictor_uwr_95th'] = uwr_percentile(
            {k: v for k, v in ratios.items() if k.startswith('predictor.')})
        metrics['train/autoencoder_uwr_95th'] = uwr_percentile(
            {k: v for k, v in ratios.items() if k.startswith('autoencoder.')})
        metrics.update(per_layer_medians(
            {k[len('predictor.'):]: v for k, v in ratios.items() if k.startswith('predictor.')},
            'uwr/transformer'))
    for group in optimizer.param_groups:
        metrics[f"train/{group.get('name', 'group')}_lr"] = float(group['lr'])
    return metrics


def train_step(model, optimizer, batch: dict, grad_clip: float = 1.0, bf16: bool = False,
               detailed: bool = False, shift_px: int = 0, shift_wrap: bool = True,
               device: str = 'cpu') -> dict:
    """One minibatch update of the whole world model on replay arrays; flat metrics."""
    model.train()
    frames, actions, next_frames = batch_to_tensors(batch, device, shift_px, shift_wrap)
    with autocast_context(bf16, frames.device.type):
        loss, _, parts = model.forward_loss(frames, actions, next_frames)
    metrics = apply_update(model, optimizer, loss, grad_clip, detailed)
    for key, value in parts.items():  # named where the model computes them
        metrics['train/' + key] = float(value.detach())
    return metrics


def train_level_step(model, optimizer, level: int, batch: dict, grad_clip: float = 1.0,
                     bf16: bool = False, shift_px: int = 0, shift_wrap: bool = True,
                     device: str = 'cpu') -> dict:
    """One update of hierarchy level `level` on chained runs from `sample_sequences`."""
    model.train()
    frames, actions, next_frames = batch_to_tensors(batch, device, shift_px, shift_wrap)
    with autocast_context(bf16, frames.device.type):
        loss, prediction, code_loss = model.level_loss(level, frames[:, 0], actions,
                                                       next_frames)
    metrics = apply_update(model, optimizer, loss, grad_clip, detailed=False)
    sequence = model.levels[level - 1].sequence
    return {f'train/level_{level}_skipped': metrics['train/non_finite_skipped'],
            f'train/level_{level}_patch_loss': float(prediction.detach()),
            f'train/level_{level}_code_loss': float(code_loss.detach()),
            f'train/level_{level}_code_restarts': int(sequence.restarts)}


def train_autoencoder_step(model, optimizer, images_uint8: np.ndarray, grad_clip: float = 1.0,
                           bf16: bool = False, device: str = 'cpu') -> dict:
    """One autoencoder-only update on frames uint8 `[B, H, W, 3]` (quality-gate idling)."""
    model.train()
    images = to_unit_images(torch.from_numpy(np.ascontiguousarray(images_uint8)).to(device))
    with autocast_context(bf16, images.device.type):
        loss, parts = model.reconstruction_loss(images)
    metrics = apply_update(model, optimizer, loss, grad_clip, detailed=False)
    for key, value in parts.items():
        metrics['train/' + key] = float(value.detach())
    return metrics
