"""The hierarchy strategy in use: a level is created once the one below has earned it.

Every step, before the step's updates, each existing level L predicts the run of its 2**L
newest transitions from the run's first frame (a prequential test: no update has used that run
at that level yet). Every `level_check_steps` runs the level's scores are checked:
- R² of its predicted frames in each action group (runs with the same number of each action;
  groups holding less than a tenth of the check's runs, or fewer than 2, are not scored), the
  smallest at least `level_r2`;
- the median error of the bright spot's position (the dot) at most `level_position_px`
  (not checked when 0).
When the top level passes `level_checks` checks in a row, the next level is created (up to
`hierarchy_levels`): its step goes into the model's `level_created_at` and the metrics
(`hierarchy/level_created`). Every created level above 0 trains on runs from the replay after
each update of level 0, at a learning rate on the trainer's schedule counted from the level's
own first update: a level created late starts at the predictor's initial rate, not at the
floor that level 0's rate has decayed to by then.
"""

from __future__ import annotations

import numpy as np
import torch

from devrobot_world_model.evaluation.evaluation import decode_dot_positions, FrameScores
from devrobot_world_model.learning import lr_schedule
from devrobot_world_model.learning.hierarchy import action_groups, HierarchyConfig
from devrobot_world_model.learning.training import train_level_step
from devrobot_world_model.model.pixel_losses import to_uint8_images

MIN_GROUP_SHARE = 0.1


class LevelCheck:
    """One level's fresh predictions over a check window, scored per action group."""

    def __init__(self):
        self.groups = {}  # group -> FrameScores
        self.runs = 0

    def add(self, group, predicted: np.ndarray, target: np.ndarray) -> None:
        """One run's predicted and true frame, uint8 `[H, W, 3]` each."""
        positions = decode_dot_positions(np.stack([predicted, target]))
        self.groups.setdefault(group, FrameScores()).update(
            predicted[None], target[None], positions[:1], positions[1:])
        self.runs += 1

    def summary(self) -> dict:
        """`r2_min` over the groups with enough runs (NaN: none), median `position_error_px`."""
        least = max(2, MIN_GROUP_SHARE * self.runs)
        scored = [r2 for r2 in (s.summary()['r2'] for s in self.groups.values()
                                if s.count >= least) if np.isfinite(r2)]
        errors = np.concatenate([s.errors_px for s in self.groups.values()])
        return {'r2_min': float(min(scored)) if scored else float('nan'),
                'position_error_px': float(np.median(errors)), 'runs': self.runs}


class CompetentLevels:
    """Creates level L+1 after level L has passed its competence checks; trains the levels."""

    def __init__(self, model):
        self.max_levels = model.config.hierarchy_levels
        self.config = model.spec.parts.get('hierarchy', HierarchyConfig())
        self.checks, self.streaks = {}, {}  # level -> LevelCheck in progress, checks passed
        self.level_updates = {}  # level -> its updates so far: where its schedule stands
        self.updates_before_own_schedules = 0  # an older checkpoint's levels: the shared count
        self.tested_view = 0

    def competent(self, summary: dict) -> bool:
        limit = self.config.level_position_px
        return summary['r2_min'] >= self.config.level_r2 and (
            limit <= 0 or summary['position_error_px'] <= limit)

    @torch.no_grad()
    def observe(self, trainer, view: int) -> dict:
        """Test every level on its run ending at the view's newest transition (once a view)."""
        if self.max_levels == 1 or view <= self.tested_view:
            return {}
        self.tested_view = view
        model, metrics = trainer.model, {}
        for level in range(model.active_levels):
            run = trainer.replay.run_ending(view, model.level_span(level))
            if run is None:
                continue
            model.eval()
            latents = model.encode(trainer._unit(run['frames'][:, 0]))  # [1, N, D]
            actions = torch.from_numpy(run['actions']).to(trainer.device)
            predicted, _ = model.predict_level(level, latents, actions)
            image = to_uint8_images(torch.sigmoid(model.decode(predicted))).cpu().numpy()[0]
            check = self.checks.setdefault(level, LevelCheck())
            check.add(action_groups(run['actions'], model.n_actions)[0], image,
                      run['next_frames'][0])
            if check.runs >= self.config.level_check_steps:
                metrics.update(self._checked(model, level, self.checks.pop(level),
                                             trainer.step_of(view)))
        metrics['train/hierarchy_levels'] = model.active_levels
        return metrics

    def _checked(self, model, level: int, check: LevelCheck, step: int) -> dict:
        summary = check.summary()
        self.streaks[level] = self.streaks.get(level, 0) + 1 if self.competent(summary) else 0
        metrics = {f'hierarchy/level_{level}_r2_min': summary['r2_min'],
                   f'hierarchy/level_{level}_position_error_px': summary['position_error_px'],
                   f'hierarchy/level_{level}_competent_checks': self.streaks[level]}
        top = model.active_levels - 1
        if level == top and top + 1 < self.max_levels and \
                self.streaks[level] >= self.config.level_checks:
            model.level_created_at[top + 1] = step
            metrics['hierarchy/level_created'] = top + 1
        return metrics

    def after_update(self, trainer, view: int | None, metrics: dict) -> dict:
        """One update of every created level above 0 on chained runs from the replay."""
        added = {}
        for level in range(1, trainer.model.active_levels):
            batch = trainer.replay.sample_sequences(
                self.config.level_batch_size, trainer.model.level_span(level), view)
            if batch is None:  # no chain that long in the buffer yet
                continue
            done = self.level_updates.get(level, self.updates_before_own_schedules)
            factor = lr_schedule.decay_factor(done, trainer.half_life, trainer.config.lr_floor)
            with lr_schedule.group_rate(trainer.optimizer, 'predictor', factor) as rate:
                added.update(train_level_step(
                    trainer.model, trainer.optimizer, level, batch, trainer.config.grad_clip,
                    trainer.bf16, trainer.config.augment_shift_px, trainer.config.augment_wrap,
                    trainer.device))
            self.level_updates[level] = done + 1
            added[f'train/level_{level}_lr'] = rate
        return added

    def state_dict(self) -> dict:
        """Checks passed in a row and updates per level (a check window in progress restarts)."""
        return {'level_streaks': {str(k): v for k, v in self.streaks.items()},
                'level_updates': {str(k): v for k, v in self.level_updates.items()},
                'level_tested_view': self.tested_view}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's counters.

        One saved before the levels had schedules of their own trained them on the shared
        one: its levels continue from the shared update count.
        """
        self.streaks = {int(k): int(v) for k, v in state.get('level_streaks', {}).items()}
        self.level_updates = {int(k): int(v)
                              for k, v in state.get('level_updates', {}).items()}
        self.updates_before_own_schedules = 0 if 'level_updates' in state else int(
            state.get('updates', 0))
        self.tested_view = int(state.get('level_tested_view', 0))
