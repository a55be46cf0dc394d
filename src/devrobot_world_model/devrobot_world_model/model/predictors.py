"""Action-conditioned predictors: from a history of latent grids and actions to the next grid.

Both predict a *delta* added to the last latent (`z_next = z_T + f(...)`, the last layer starts
at zero), so an untrained predictor already says "nothing changes", which is right for 'stay'.
Input: latents `[B, T, N, D]` (T frames of history, oldest first) and actions `[B, T]` (the
action taken after each frame; the last one is the candidate being evaluated). Output `[B, N, D]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block

from devrobot_core.config_fields import setting
from devrobot_world_model.model.relative_positions import attend_explicitly, RelativePositionBias


@dataclass
class TransformerPredictorConfig:
    """The causal transformer (the original's TransformerActionConditionedPredictor)."""

    tf_dim: int = setting(64, 'Token size inside the predictor.')
    tf_depth: int = setting(2, 'Transformer blocks.')
    tf_heads: int = setting(4, 'Attention heads.')
    tf_history: int = setting(1, 'Frames of history per prediction (1 = the current frame).')
    tf_max_tokens: int = setting(
        4096, 'Token cap: older history is clipped so frames x (tokens + 1) stays below it.')
    tf_relative_wrap: bool = setting(
        True, 'Offsets of the relative attention bias wrap around the grid (the toroidal '
        'world); off for camera images.')


@dataclass
class LstmPredictorConfig:
    """The LSTM predictor (the original's default), here conditioned on the candidate action."""

    lstm_hidden: int = setting(128, 'Hidden size of the per-token LSTM.')
    lstm_history: int = setting(1, 'Frames of history per prediction.')
    lstm_mix_kernel: int = setting(
        7, 'Width of the conv that mixes neighbouring tokens, so content can move across them.')


class Film(nn.Module):
    """Feature-wise linear modulation by an action: x * (1 + gamma(a)) + beta(a)."""

    def __init__(self, n_actions: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(n_actions, dim)
        self.to_scale_shift = nn.Linear(dim, 2 * dim)
        nn.init.zeros_(self.to_scale_shift.weight)
        nn.init.zeros_(self.to_scale_shift.bias)

    def forward(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        # x [B, T, N, E], actions [B, T] -> [B, T, N, E]
        gamma, beta = self.to_scale_shift(F.gelu(self.embed(actions))).chunk(2, dim=-1)
        return x * (1 + gamma[:, :, None]) + beta[:, :, None]


def clip_history(latents: torch.Tensor, actions: torch.Tensor, frames: int):
    """Keep the most recent `frames` steps of `[B, T, ...]` history."""
    return latents[:, -frames:], actions[:, -frames:]


class TransformerPredictor(nn.Module):
    """Frame tokens and action tokens interleaved in time, attending block-causally.

    The sequence is `[frame_1 (N tokens), action_1, frame_2, action_2, ..., frame_T, action_T]`;
    every token sees its own step and earlier ones. Frame tokens are FiLM-modulated by the action
    taken after them. Attention between frame tokens carries a learned bias per head indexed by
    their 2-D offset (wrapped on the torus), so "take the content 3 tokens to the left" is one
    bias entry for every position: that is what lets a shift be learned from few examples.
    """

    def __init__(self, config: TransformerPredictorConfig, grid: tuple, latent_dim: int,
                 n_actions: int):
        super().__init__()
        self.config, self.grid = config, grid
        h, w = grid
        self.tokens_per_frame = n = h * w
        self.max_frames = min(config.tf_history, config.tf_max_tokens // (n + 1))
        if self.max_frames < 1:
            raise ValueError(f'tf_max_tokens {config.tf_max_tokens} cannot hold one frame of '
                             f'{n} tokens and its action token')
        e = config.tf_dim
        self.to_tokens = nn.Linear(latent_dim, e)
        self.position = nn.Parameter(torch.zeros(1, 1, n, e))  # absolute, learned, starts at 0
        self.time = nn.Parameter(torch.zeros(1, config.tf_history, 1, e))
        nn.init.normal_(self.time, std=0.02)
        self.action_embed = nn.Embedding(n_actions, e)
        self.film = Film(n_actions, e)
        self.relative = RelativePositionBias(grid, config.tf_heads, config.tf_relative_wrap)
        self.blocks = nn.ModuleList([Block(e, config.tf_heads, qkv_bias=True)
                                     for _ in range(config.tf_depth)])
        attend_explicitly(self.blocks)
        self.norm = nn.LayerNorm(e)
        self.to_delta = nn.Linear(e, latent_dim)
        nn.init.zeros_(self.to_delta.weight)
        nn.init.zeros_(self.to_delta.bias)

    def attention_bias(self, frames: int) -> torch.Tensor:
        """Additive mask `[1, heads, L, L]`, L = frames * (N + 1): relative bias + causality."""
        n = self.tokens_per_frame
        step_len = n + 1
        length = frames * step_len
        spatial = self.relative()[0]  # [heads, N, N]
        step_bias = F.pad(spatial, (0, 1, 0, 1))  # [heads, N+1, N+1]: action token gets 0
        bias = step_bias.repeat(1, frames, frames)  # [heads, L, L]
        step = torch.arange(length, device=bias.device) // step_len
        future = step[None, :] > step[:, None]  # key later than query
        return bias.masked_fill(future, float('-inf'))[None]

    def predict(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """`[B, T, N, D]`, `[B, T]` -> next latent `[B, N, D]`."""
        latents, actions = clip_history(latents, actions, self.max_frames)
        b, t, n, _ = latents.shape
        x = self.to_tokens(latents) + self.position + self.time[:, -t:]  # [B, T, N, E]
        x = self.film(x, actions)
        act = (self.action_embed(actions) + self.time[:, -t:, 0])[:, :, None]  # [B, T, 1, E]
        x = torch.cat([x, act], dim=2).reshape(b, t * (n + 1), -1)  # [B, L, E]
        bias = self.attention_bias(t).to(x.dtype)
        for block in self.blocks:
            x = block(x, attn_mask=bias)
        last = x.reshape(b, t, n + 1, -1)[:, -1, :n]  # [B, N, E]: the last frame's tokens
        return latents[:, -1] + self.to_delta(self.norm(last))


class LstmPredictor(nn.Module):
    """A conv mixes neighbouring tokens (FiLM by action), then one LSTM per token over time."""

    def __init__(self, config: LstmPredictorConfig, grid: tuple, latent_dim: int,
                 n_actions: int):
        super().__init__()
        self.config, self.grid = config, grid
        k = config.lstm_mix_kernel
        self.mix = nn.Conv2d(latent_dim, latent_dim, k, padding=k // 2, padding_mode='circular')
        self.film = Film(n_actions, latent_dim)
        self.lstm = nn.LSTM(latent_dim, config.lstm_hidden, batch_first=True)
        self.to_delta = nn.Linear(config.lstm_hidden, latent_dim)
        nn.init.zeros_(self.to_delta.weight)
        nn.init.zeros_(self.to_delta.bias)

    def predict(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """`[B, T, N, D]`, `[B, T]` -> next latent `[B, N, D]`."""
        latents, actions = clip_history(latents, actions, self.config.lstm_history)
        b, t, n, d = latents.shape
        h, w = self.grid
        grids = latents.reshape(b * t, h, w, d).permute(0, 3, 1, 2)  # [B*T, D, h, w]
        mixed = F.gelu(self.mix(grids)).permute(0, 2, 3, 1).reshape(b, t, n, d)
        x = self.film(mixed, actions)  # [B, T, N, D]
        sequences = x.permute(0, 2, 1, 3).reshape(b * n, t, d)  # one sequence per token
        out, _ = self.lstm(sequences)  # [B*N, T, hidden]
        return latents[:, -1] + self.to_delta(out[:, -1]).reshape(b, n, d)


def build_predictor(kind: str, config, grid: tuple, latent_dim: int, n_actions: int):
    if kind == 'transformer':
        return TransformerPredictor(config, grid, latent_dim, n_actions)
    if kind == 'lstm':
        return LstmPredictor(config, grid, latent_dim, n_actions)
    raise ValueError(f"unknown predictor {kind!r}: expected 'transformer' or 'lstm'")


def history_length(kind: str, config) -> int:
    return config.tf_history if kind == 'transformer' else config.lstm_history
