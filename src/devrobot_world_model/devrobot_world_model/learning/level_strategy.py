"""When the world model's higher hierarchy levels exist and how they train: a small strategy.

The trainer calls its strategy once per step before the step's updates (`observe`: the fresh
transition may test the levels) and after every minibatch update of level 0 (`after_update`:
the levels above it may train on chained runs from the replay). The strategy decides when to
create the next level and keeps its own state for checkpoints. The one in use is
`level_competence.CompetentLevels`: a level is created once the one below has been competent
on fresh runs for several checks in a row.
"""

from __future__ import annotations

from typing import Protocol


class LevelStrategy(Protocol):
    """Trains the levels above level 0; created by the trainer from the model's config."""

    def observe(self, trainer, view: int) -> dict:
        """Called once per step, before its updates, with the view holding its transition."""

    def after_update(self, trainer, view: int | None, metrics: dict) -> dict:
        """Called after each level-0 update with its metrics; returns metrics to add."""

    def state_dict(self) -> dict:
        """Plain data for the checkpoint."""

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned."""
