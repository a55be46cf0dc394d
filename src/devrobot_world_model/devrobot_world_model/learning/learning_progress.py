"""Learning progress per action: how fast the error on held-back transitions is falling.

A few transitions of every action are kept out of training (`HeldBackSet`: every
`progress_stride`-th transition of an action until it holds `progress_held_back`). Every
`progress_every` steps the trainer measures the model's mean log prediction error on each
action's held-back transitions (the pixel MSE between the predicted frame and the true one;
`Trainer.measure_progress`) and records it. An action's learning progress is the fall of
that error from the older to the recent window of `progress_window` measurements, less one
standard error of the difference, and never below zero (`learning_progress`).

On an unlearnable outcome (a noisy TV) the error stops falling at the noise's own variance
as soon as the model predicts its mean, so the progress goes to zero however large the error
stays; on an action the model is still learning it stays positive (learning-progress
motivation, Oudeyer & Kaplan 2007).
Because the held-back transitions are the same at every measurement, the series carries no
sampling noise, and every action's is measured whichever actions the policy chooses.

The tracker's record lives in model buffers, so the actor's copy of the weights carries the
progress measured with them, and a checkpoint keeps it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from devrobot_core.config_fields import setting


@dataclass
class ProgressConfig:
    """The held-back probe behind the learning-progress scores."""

    progress_held_back: int = setting(
        8, 'Transitions per action held back from training to measure learning progress; '
        '0: no progress scores.')
    progress_stride: int = setting(
        2, 'Hold back every N-th transition of an action until its held-back set is full.')
    progress_every: int = setting(
        5, 'Steps between measurements of the error on the held-back transitions.')
    progress_window: int = setting(
        8, 'Measurements per window: progress is the fall of the mean log error from the '
        'older window to the recent one.')
    progress_min_fall: float = setting(
        0.0, 'A fall of the mean log error (beyond its standard error) that still counts as '
        'no progress: what is left of a larger fall is the progress.')

    def __post_init__(self):
        if self.progress_held_back < 0 or self.progress_min_fall < 0 or min(
                self.progress_stride, self.progress_every, self.progress_window) < 1:
            raise ValueError('progress_held_back and progress_min_fall must be >= 0; '
                             'progress_stride, progress_every and progress_window >= 1')


def learning_progress(series: np.ndarray, window: int, min_fall: float = 0.0) -> float:
    """Progress of one error series (oldest first, log errors): NaN while it is too short.

    The mean of the older `window` values minus the mean of the recent `window`, less one
    standard error of that difference and less `min_fall`, clipped at zero. The standard error
    only discounts a series that jitters: a smooth one that drifts down by a hair (a noisy
    outcome's error while the model shades its mean) keeps its drift, which `min_fall` removes.
    """
    series = np.asarray(series, dtype=np.float64)
    if len(series) < 2 * window:
        return math.nan
    older, recent = series[-2 * window:-window], series[-window:]
    fall = older.mean() - recent.mean()
    if window > 1:
        fall -= math.sqrt((older.var(ddof=1) + recent.var(ddof=1)) / window)
    return max(0.0, float(fall) - min_fall)


class ProgressTracker(nn.Module):
    """The last `2 * window` held-back errors per action, in buffers (no parameters)."""

    def __init__(self, n_actions: int, window: int, min_fall: float = 0.0):
        super().__init__()
        self.window, self.min_fall = window, min_fall
        self.register_buffer('log_errors', torch.zeros(n_actions, 2 * window))
        self.register_buffer('measured', torch.zeros(n_actions, dtype=torch.int64))

    @torch.no_grad()
    def record(self, action: int, log_error: float) -> None:
        """Add one measurement of `action`'s mean log error on its held-back transitions."""
        slot = int(self.measured[action]) % self.log_errors.shape[1]
        self.log_errors[action, slot] = log_error
        self.measured[action] += 1

    def series(self, action: int) -> np.ndarray:
        """The measurements kept for `action`, oldest first."""
        count, size = int(self.measured[action]), self.log_errors.shape[1]
        values = self.log_errors[action].detach().cpu().numpy()
        if count <= size:
            return values[:count].copy()
        start = count % size
        return np.concatenate([values[start:], values[:start]])

    def progress(self) -> np.ndarray:
        """Learning progress per action `[A]`, NaN where not yet measured twice over."""
        return np.array([learning_progress(self.series(a), self.window, self.min_fall)
                         for a in range(len(self.measured))])


class HeldBackSet:
    """Transitions kept out of training, per action; the actor adds, the trainer measures.

    The actor's `offer` decides from its own counts alone, and each kept transition remembers
    the replay view at which it was taken, so a trainer job for view v measures exactly the
    transitions taken up to v whatever the actor did meanwhile.
    """

    def __init__(self, n_actions: int, size: int, stride: int):
        self.size, self.stride = size, stride
        self.seen = np.zeros(n_actions, dtype=np.int64)
        self.entries = [[] for _ in range(n_actions)]  # (frame, next frame, view)
        self._lock = threading.Lock()

    def offer(self, action: int, pixels: np.ndarray, next_pixels: np.ndarray,
              view: int) -> bool:
        """Keep this transition out of training? True when it was taken into the set."""
        with self._lock:
            seen = int(self.seen[action])
            self.seen[action] += 1
            kept = self.entries[action]
            if len(kept) >= self.size or seen % self.stride:
                return False
            kept.append((np.array(pixels, copy=True), np.array(next_pixels, copy=True), view))
            return True

    def held_before(self, view: int) -> int:
        """How many transitions were held back before the replay's `view`-th one was added."""
        with self._lock:
            return sum(v < view for kept in self.entries for _, _, v in kept)

    def full(self, view: int) -> dict:
        """Map action -> (frames `[M, H, W, 3]`, next frames) of each set full as of `view`."""
        with self._lock:
            batches = {}
            for action, kept in enumerate(self.entries):
                if self.size and len(kept) == self.size and kept[-1][2] <= view:
                    batches[action] = (np.stack([k[0] for k in kept]),
                                       np.stack([k[1] for k in kept]))
            return batches

    def state_dict(self) -> dict:
        with self._lock:
            return {'seen': self.seen.tolist(),
                    'entries': [[{'frame': f, 'next_frame': n, 'view': v} for f, n, v in kept]
                                for kept in self.entries]}

    def load_state_dict(self, state: dict) -> None:
        with self._lock:
            self.seen = np.asarray(state['seen'], dtype=np.int64)
            self.entries = [[(np.asarray(e['frame'], dtype=np.uint8),
                              np.asarray(e['next_frame'], dtype=np.uint8), int(e['view']))
                             for e in kept] for kept in state['entries']]
