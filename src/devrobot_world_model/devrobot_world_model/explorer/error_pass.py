"""The prediction error of every step, computed in the background for the error plot.

For each bag the model fits, a float array holds the pixel MSE of the prediction of the action
taken (NaN: not computed yet, or not a transition). The pass works through the bags a few steps
at a time and steps aside while the page is being used: a person stepping through the session
comes first, and the plot fills in between.
"""

from __future__ import annotations

import threading
import time

import numpy as np

BATCH = 8  # steps per batch
QUIET_S = 0.5  # the pass waits until the page has been quiet this long
IDLE_S = 0.2  # how long it sleeps when there is nothing to do


class ErrorPass:
    """Per-step errors of an Explorer's bags under its current model."""

    def __init__(self, explorer):
        self.explorer = explorer
        self.errors: dict = {}  # bag id -> float array over the bag's steps
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every error (a new model)."""
        with self._lock:
            self.errors = {}

    def _table(self, bag) -> np.ndarray:
        """The bag's array, created or grown to its current number of steps."""
        with self._lock:
            errors = self.errors.get(bag.id)
            if errors is None or len(errors) < len(bag.steps):
                grown = np.full(len(bag.steps), np.nan)
                if errors is not None:
                    grown[:len(errors)] = errors
                self.errors[bag.id] = errors = grown
            return errors

    def record(self, bag, index: int, value: float) -> None:
        """An error computed elsewhere (the page's own request for the step)."""
        errors = self._table(bag)
        if index < len(errors):
            errors[index] = value

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set."""
        while not stop.is_set():
            if not self._work_once():
                stop.wait(IDLE_S)

    def _work_once(self) -> bool:
        for bag in list(self.explorer.bags):
            view = self.explorer.model_for(bag)
            if view is None:
                continue
            if time.perf_counter() - view.interactive_since < QUIET_S:
                return False  # someone is looking: their requests first
            errors = self._table(bag)
            todo = [s for s in bag.steps[:len(errors)]
                    if s.transition and np.isnan(errors[s.index])][:BATCH]
            if not todo:
                continue
            frames, actions, next_frames = zip(*(bag.inputs(s, view.history) for s in todo))
            values = view.taken_errors(np.stack(frames), np.asarray(actions),
                                       np.stack(next_frames))
            if self.errors.get(bag.id) is errors:  # not reset by a new model meanwhile
                errors[[s.index for s in todo]] = values
            return True
        return False

    def series(self, bag, model_version: int) -> dict:
        """The errors of a bag's steps for the page (None where unknown)."""
        errors = self.errors.get(bag.id)
        count = len(bag.steps)
        values = [None] * count if errors is None else \
            [None if np.isnan(v) else float(v) for v in errors[:count]]
        values += [None] * (count - len(values))
        return {'errors': values, 'computed': sum(v is not None for v in values),
                'transitions': sum(s.transition for s in bag.steps[:count]),
                'model_version': model_version}
