"""Pixel losses that stay honest when almost every pixel is background.

On the toroidal dot the dot covers 0.16 % of the image: plain MSE is minimised well enough by the
all-black image and training collapses there. These losses all take decoder logits and targets
in [0, 1] (soft targets allowed, so they work on camera images too) and return one value per
image, `[B]`, so callers can weight, mask or skip samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PIXEL_LOSSES = ('bce', 'focal', 'weighted_mse', 'mse')


def to_unit_images(pixels: torch.Tensor) -> torch.Tensor:
    """Convert uint8 `[B, H, W, 3]` to float `[B, 3, H, W]` in [0, 1]."""
    return pixels.permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """Convert float `[B, 3, H, W]` in [0, 1] to uint8 `[B, H, W, 3]` (rounded, clamped)."""
    return images.clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(0, 2, 3, 1)


def pixel_loss(logits: torch.Tensor, target: torch.Tensor, kind: str = 'bce',
               focal_gamma: float = 2.0, foreground_weight: float = 50.0,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image loss `[B]` of decoder `logits` `[B, C, H, W]` against `target` in [0, 1].

    - `bce`: binary cross-entropy with soft targets; its gradient on a wrong pixel does not
      vanish as the prediction saturates, which is what lets the dot escape the all-black image.
    - `focal`: BCE scaled by `|p - t| ** focal_gamma`, so the many already-right background
      pixels stop drowning the few wrong ones (the soft-target form of the focal loss). The
      price on the dot world: nearly-dark background pixels stop being pushed down, a faint
      uneven haze remains, and it pulls the decoded dot position.
    - `weighted_mse`: MSE on sigmoid outputs where pixels that differ from the image's median
      (the foreground) count `foreground_weight` times more.
    - `mse`: plain MSE on sigmoid outputs, kept for comparison: it collapses on sparse images.
    `mask` `[B, 1, H, W]` (1 = counted) restricts the mean to some pixels, e.g. masked patches.
    """
    if kind in ('bce', 'focal'):
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
        if kind == 'focal':
            per_pixel = per_pixel * (torch.sigmoid(logits) - target).abs().pow(focal_gamma)
    elif kind in ('mse', 'weighted_mse'):
        per_pixel = (torch.sigmoid(logits) - target).pow(2)
        if kind == 'weighted_mse':
            background = target.flatten(2).median(dim=2).values[..., None, None]  # [B, C, 1, 1]
            per_pixel = per_pixel * (1.0 + foreground_weight * (target - background).abs())
    else:
        raise ValueError(f'unknown pixel loss {kind!r}: expected one of {PIXEL_LOSSES}')
    if mask is None:
        return per_pixel.flatten(1).mean(dim=1)
    weights = mask.expand_as(per_pixel)
    return (per_pixel * weights).flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1.0)


def explained_variance(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """R² of `prediction` against `target` over the whole batch (1 = exact, 0 = the mean)."""
    residual = (prediction - target).pow(2).sum()
    total = (target - target.mean()).pow(2).sum().clamp_min(1e-12)
    return 1.0 - residual / total
