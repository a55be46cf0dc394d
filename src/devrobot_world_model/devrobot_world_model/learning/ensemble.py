"""An ensemble of small predictor heads whose disagreement measures epistemic uncertainty.

K heads share the world model's encoder: each maps the current latent grid and an action to the
next latent grid. Every head learns from its own bootstrap resampling of each minibatch (its
`ensemble_draws` samples drawn with replacement; fewer than the minibatch halves the heads'
share of an update's compute) and starts from its own random weights, so where data is
plentiful and the outcome determined they agree, and where the model has seen little they
differ. The disagreement, the variance
of their predictions averaged over tokens and channels, is the ensemble's score for an action
(Plan2Explore; Pathak et al., 2019). Unpredictable outcomes (a noisy TV) keep the heads apart
too, so the `uncertainty` selector weighs it by learning progress (`score_selectors.py`).

The heads read the latents detached: they never shape the encoder, and they run in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from devrobot_core.config_fields import setting


@dataclass
class EnsembleConfig:
    """The disagreement ensemble: how many heads, how large, how much their loss weighs."""

    ensemble_heads: int = setting(
        5, 'Predictor heads of the disagreement ensemble, each on its own bootstrap '
        'resampling of every minibatch; 0: none (the disagreement scores are then missing).')
    ensemble_hidden: int = setting(32, 'Channels inside each head.')
    ensemble_draws: int = setting(
        16, 'Samples each head draws, with replacement, from every minibatch (its bootstrap '
        'resampling), at most the minibatch size; 0: as many as the minibatch holds.')
    ensemble_weight: float = setting(1.0, "Weight of the heads' latent loss.")
    ensemble_wrap: bool = setting(
        True, "The heads' convolutions wrap around the token grid (the toroidal world); off "
        'for camera images.')

    def __post_init__(self):
        if self.ensemble_heads < 0 or self.ensemble_hidden < 1 or self.ensemble_weight < 0 or \
                self.ensemble_draws < 0:
            raise ValueError('ensemble_heads must be >= 0, ensemble_hidden >= 1, ensemble_draws '
                             'and ensemble_weight >= 0')
        if self.ensemble_heads == 1:
            raise ValueError('ensemble_heads must be 0 or at least 2: one head cannot disagree')


class EnsembleHead(nn.Module):
    """Two 3x3 convolutions on the token grid, the action added as a learned bias; a delta."""

    def __init__(self, latent_dim: int, n_actions: int, hidden: int, wrap: bool):
        super().__init__()
        mode = 'circular' if wrap else 'zeros'
        self.embed = nn.Embedding(n_actions, hidden)
        self.conv_in = nn.Conv2d(latent_dim, hidden, 3, padding=1, padding_mode=mode)
        self.conv_mid = nn.Conv2d(hidden, hidden, 3, padding=1, padding_mode=mode)
        self.conv_out = nn.Conv2d(hidden, latent_dim, 1)

    def forward(self, grid: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        # grid [B, D, h, w], actions [B] -> next grid [B, D, h, w]; a grid [1, D, h, w]
        # broadcasts against every action, convolved once
        x = F.gelu(self.conv_in(grid) + self.embed(actions)[:, :, None, None])
        return grid + self.conv_out(F.gelu(self.conv_mid(x)))


class EnsembleHeads(nn.Module):
    """K heads predicting the next latent grid; `disagreement` is their variance."""

    def __init__(self, config: EnsembleConfig, grid: tuple, latent_dim: int, n_actions: int):
        super().__init__()
        self.config, self.grid = config, grid
        self.heads = nn.ModuleList([
            EnsembleHead(latent_dim, n_actions, config.ensemble_hidden, config.ensemble_wrap)
            for _ in range(config.ensemble_heads)])

    def forward(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Latents `[B, N, D]` (or `[1, N, D]`), actions `[B]` -> next latents `[K, B, N, D]`."""
        with torch.autocast(latents.device.type, enabled=False):
            grid = self._grid(latents)
            out = torch.stack([head(grid, actions) for head in self.heads])  # [K, B, D, h, w]
        return out.flatten(3).transpose(2, 3)  # [K, B, N, D]

    def _grid(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents `[B, N, D]` as the heads read them: detached float32 grids `[B, D, h, w]`."""
        b, _, d = latents.shape
        return latents.detach().float().transpose(1, 2).reshape(b, d, *self.grid)

    @torch.no_grad()
    def disagreement(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Variance over heads of the predicted next latents, mean over tokens, channels: `[B]`.

        `latents` `[B, N, D]`, or `[1, N, D]`: one frame, scored for each of `actions` `[B]`.
        """
        return self(latents, actions).var(dim=0, unbiased=False).mean(dim=(1, 2))

    def loss(self, latents: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor,
             draws: torch.Tensor) -> torch.Tensor:
        """Mean squared latent error of each head on the samples it drew, averaged over heads.

        latents and targets `[B, N, D]` (the encoded next frames, no gradient), actions `[B]`,
        draws `[K, M]`: the samples each head drew (`bootstrap_draws`).
        """
        with torch.autocast(latents.device.type, enabled=False):
            grid = self._grid(latents)
            targets = targets.detach().float()
            errors = [(head(grid[rows], actions[rows]).flatten(2).transpose(1, 2)
                       - targets[rows]).pow(2).mean()
                      for head, rows in zip(self.heads, draws)]
        return torch.stack(errors).mean()


def bootstrap_draws(heads: int, batch: int, draws: int = 0, device=None) -> torch.Tensor:
    """Which samples each of `heads` resamplings draws, with replacement: `[K, draws]`.

    `draws` 0 (or more than the batch holds): as many as the batch holds, the classic bootstrap.
    """
    rows = torch.randint(batch, (heads, min(draws, batch) if draws else batch))
    return rows.to(device) if device is not None else rows


def every_sample(heads: int, batch: int, device=None) -> torch.Tensor:
    """Each head on the whole batch once (`[K, B]`): the loss in evaluation."""
    return torch.arange(batch, device=device).expand(heads, batch)
