"""Train until the loss stops improving (the original's `continuous_replay.py`).

`devrobot train` repeats the bags epoch after epoch; a PlateauDetector, fed each epoch's mean
total training loss, says when further epochs no longer pay: the loss has not improved on its best
by more than `min_delta` for `patience` epochs (after at least `min_epochs`), or `max_epochs`
is reached. The original's defaults: patience 5, min delta 1e-4, max epochs 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from devrobot_core.config_fields import setting

EPOCH_LOSS_KEY = 'train/total_loss'


@dataclass
class PlateauConfig:
    """When repeated training over the same bags stops."""

    patience: int = setting(5, 'Epochs without improvement before stopping.')
    min_delta: float = setting(1e-4, 'Smallest loss decrease that counts as an improvement.')
    min_epochs: int = setting(3, 'Epochs always run before a plateau may stop training.')
    max_epochs: int = setting(100, 'Epochs at most, plateau or not.')


@dataclass
class PlateauDetector:
    """Fed one loss per epoch; `update` answers whether to stop now."""

    config: PlateauConfig = field(default_factory=PlateauConfig)
    losses: list = field(default_factory=list)
    best: float = math.inf
    best_epoch: int = 0  # 1-based; 0: no finite loss yet
    reason: str = ''

    def __post_init__(self):
        c = self.config
        if c.patience < 1 or c.min_epochs < 1 or c.max_epochs < 1:
            raise ValueError('patience, min_epochs and max_epochs must be at least 1')
        if not math.isfinite(c.min_delta) or c.min_delta < 0:
            raise ValueError(f'min_delta must be a finite number >= 0, got {c.min_delta}')

    @property
    def epochs(self) -> int:
        return len(self.losses)

    @property
    def epochs_since_best(self) -> int:
        return self.epochs - self.best_epoch

    def update(self, loss: float) -> bool:
        """Record an epoch's loss; True when training should stop (see `reason`).

        A non-finite loss (NaN, inf) never counts as an improvement.
        """
        loss = float(loss)
        self.losses.append(loss)
        if math.isfinite(loss) and loss < self.best - self.config.min_delta:
            self.best, self.best_epoch = loss, self.epochs
        if self.epochs >= self.config.max_epochs:
            self.reason = f'reached max_epochs ({self.config.max_epochs})'
        elif (self.epochs >= self.config.min_epochs
              and self.epochs_since_best >= self.config.patience):
            self.reason = (f'plateau: no improvement over {self.best:.6g} by more than '
                           f'{self.config.min_delta:g} for {self.epochs_since_best} epochs')
        return bool(self.reason)

    def summary(self) -> dict:
        return {'epochs': self.epochs, 'best_loss': self.best if self.best_epoch else None,
                'best_epoch': self.best_epoch or None, 'stopped_because': self.reason,
                'losses': list(self.losses)}


def epoch_loss(metrics: Iterable[Mapping], key: str = EPOCH_LOSS_KEY) -> float:
    """Mean of `key` over an epoch's metric dicts (NaN when no update reported it)."""
    values = [float(m[key]) for m in metrics if m and m.get(key) is not None]
    return sum(values) / len(values) if values else math.nan
