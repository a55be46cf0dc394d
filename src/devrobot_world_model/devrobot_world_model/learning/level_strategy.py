"""When the world model's higher hierarchy levels exist and how they train: a small strategy.

The trainer calls its strategy after every minibatch update of level 0; the strategy may train
higher levels on chained runs from the replay and decide when to create the next one. It keeps
its own state for checkpoints. `GrowingLevels` is the rule in use: level L is created when the
running mean of level L-1's prediction loss falls below the model's `level_up_error`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from devrobot_world_model.learning.training import train_level_step


class LevelStrategy(Protocol):
    """Trains the levels above level 0; created by the trainer from the model's config."""

    def after_update(self, trainer, view: int | None, metrics: dict) -> dict:
        """Called after each level-0 update with its metrics; returns metrics to add."""

    def state_dict(self) -> dict:
        """Plain data for the checkpoint."""

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""


class GrowingLevels:
    """One update per created level above 0; the next level once the top one predicts well."""

    def __init__(self, max_levels: int, level_up_error: float):
        self.max_levels, self.level_up_error = max_levels, level_up_error
        self.active_levels = 1
        self.level_errors = {}  # level -> running mean of its prediction loss

    def after_update(self, trainer, view: int | None, metrics: dict) -> dict:
        self._track(0, metrics.get('train/prediction_patch_loss'))
        config, added = trainer.config, {}
        for level in range(1, self.active_levels):
            batch = trainer.replay.sample_sequences(
                config.batch_size, trainer.model.level_span(level), view)
            if batch is None:  # no chain that long in the buffer yet
                continue
            added.update(train_level_step(
                trainer.model, trainer.optimizer, level, batch, config.grad_clip, trainer.bf16,
                config.augment_shift_px, config.augment_wrap, trainer.device))
            self._track(level, added[f'train/level_{level}_patch_loss'])
        top = self.active_levels - 1
        if (self.active_levels < self.max_levels
                and self.level_errors.get(top, float('inf')) < self.level_up_error):
            self.active_levels += 1
        added['train/hierarchy_levels'] = self.active_levels
        added.update({f'prediction_errors/level_{k}': v for k, v in self.level_errors.items()})
        return added

    def _track(self, level: int, loss) -> None:
        if loss is None or not np.isfinite(loss):
            return
        previous = self.level_errors.get(level)
        # a running mean with decay 0.95
        self.level_errors[level] = loss if previous is None else 0.95 * previous + 0.05 * loss

    def state_dict(self) -> dict:
        return {'active_levels': self.active_levels,
                'level_errors': {str(k): v for k, v in self.level_errors.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.active_levels = int(state['active_levels'])
        self.level_errors = {int(k): float(v) for k, v in state['level_errors'].items()}
