"""Learned attention biases indexed by the 2-D offset between two tokens of a grid.

With only relative positions, attention over a token grid treats every place alike: content
shifted by whole tokens is encoded shifted, so a "move" is the same small change wherever the
dot is. Absolute position embeddings instead make the latent of a patch depend on where it sits,
and a predictor must then re-encode moved content, which on the dot world the ViT learned far
more slowly (docs/world_model.md). Both the ViT autoencoder and the transformer predictor use
this module.

`wrap=True` indexes offsets modulo the grid (the toroidal world: one step left of the first
column is the last one); `wrap=False` keeps `(2h - 1) x (2w - 1)` distinct offsets, for camera
images, whose edges do not meet.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def offset_index(grid: tuple, wrap: bool) -> tuple:
    """(index `[N, N]` into a table of offsets, the table's size) for an `h x w` grid."""
    h, w = grid
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    ys, xs = ys.flatten(), xs.flatten()
    dy, dx = ys[None] - ys[:, None], xs[None] - xs[:, None]  # key minus query, [N, N]
    if wrap:
        return (dy % h) * w + dx % w, h * w
    return (dy + h - 1) * (2 * w - 1) + dx + w - 1, (2 * h - 1) * (2 * w - 1)


class RelativePositionBias(nn.Module):
    """One learned bias per head and offset; zero at the start (plain attention)."""

    def __init__(self, grid: tuple, heads: int, wrap: bool = True):
        super().__init__()
        index, size = offset_index(grid, wrap)
        self.table = nn.Parameter(torch.zeros(heads, size))
        self.register_buffer('index', index, persistent=False)

    def forward(self, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Additive attention bias `[1, heads, N, N]`, or `[B, heads, K, K]` for kept tokens.

        `keep` `[B, K]`: the grid positions of the tokens present (MAE masking drops some).
        """
        if keep is None:
            return self.table[:, self.index][None]
        pairs = self.index[keep[:, :, None], keep[:, None, :]]  # [B, K, K]
        return self.table[:, pairs].permute(1, 0, 2, 3)


def attend_explicitly(blocks) -> None:
    """Make timm `Block`s that take a learned bias compute attention step by step.

    PyTorch's fused attention cannot give its mask a gradient, so with a learned bias it falls
    back to a generic path that expands the bias over the batch to sum its gradient back. timm's
    explicit path (`q @ k.T + bias`, softmax, `@ v`) broadcasts it instead, which is faster
    (`devrobot bench` measures the training samples/s).
    """
    for block in blocks:
        block.attn.fused_attn = False
