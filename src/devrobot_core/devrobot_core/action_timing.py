"""How regularly a session acts: interval statistics between the starts of its commands."""

from __future__ import annotations

from collections import deque
from typing import Iterable

import numpy as np


def action_timing_statistics(intervals_s: Iterable[float]) -> dict:
    """Mean, median, min, max and standard deviation of the intervals between actions (s)."""
    intervals = np.asarray(list(intervals_s), dtype=np.float64)
    if intervals.size == 0:
        return {}
    return {'action_timing/mean_interval_s': float(intervals.mean()),
            'action_timing/median_interval_s': float(np.median(intervals)),
            'action_timing/min_interval_s': float(intervals.min()),
            'action_timing/max_interval_s': float(intervals.max()),
            'action_timing/std_interval_s': float(intervals.std())}


class ActionTimer:
    """Remembers when actions started; interval statistics over a recent window (bounded)."""

    def __init__(self, window: int = 100):
        self._last_ns = None
        self._intervals_s = deque(maxlen=window)

    def record(self, stamp_ns: int) -> None:
        """Note an action started at `stamp_ns` (integer nanoseconds, any clock)."""
        if self._last_ns is not None:
            self._intervals_s.append((stamp_ns - self._last_ns) * 1e-9)
        self._last_ns = stamp_ns

    def statistics(self) -> dict:
        """`action_timing/*_interval_s` over the window ({} before the second action)."""
        return action_timing_statistics(self._intervals_s)
