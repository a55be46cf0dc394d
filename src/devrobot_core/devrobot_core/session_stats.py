"""What a session did: how often each action ran and how long steps took.

Bounded however long the session: mean, standard deviation, min and max are kept as running
figures; the median is that of the last MEDIAN_WINDOW steps.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

MEDIAN_WINDOW = 10_000


@dataclass
class SessionStats:
    """Action counts and step intervals, as the original's RobotRunner reported them."""

    n_actions: int
    counts: list = field(default_factory=list)
    idle_steps: int = 0  # frames on which the policy chose not to act (quality gate)
    recent_intervals_s: deque = field(default_factory=lambda: deque(maxlen=MEDIAN_WINDOW))
    _mean_s: float = 0.0
    _squares_s: float = 0.0  # sum of squared deviations from the mean (Welford)
    _min_s: float = math.inf
    _max_s: float = -math.inf

    def __post_init__(self):
        if not self.counts:
            self.counts = [0] * self.n_actions

    def record(self, action: int, interval_s: float) -> None:
        self.counts[action] += 1
        self.recent_intervals_s.append(interval_s)
        delta = interval_s - self._mean_s
        self._mean_s += delta / self.steps
        self._squares_s += delta * (interval_s - self._mean_s)
        self._min_s, self._max_s = min(self._min_s, interval_s), max(self._max_s, interval_s)

    @property
    def steps(self) -> int:
        return sum(self.counts)

    def summary(self) -> dict:
        total = self.steps
        timing = {}
        if total:
            timing = {
                'mean': self._mean_s,
                'median': statistics.median(self.recent_intervals_s),
                'min': self._min_s,
                'max': self._max_s,
                'std': math.sqrt(self._squares_s / total),
            }
        return {
            'steps': total,
            'idle_steps': self.idle_steps,
            'action_counts': list(self.counts),
            'action_distribution': [c / total if total else 0.0 for c in self.counts],
            'step_time_s': timing,
        }


def format_summary(summary: dict) -> str:
    lines = [f"steps: {summary['steps']} (idle: {summary['idle_steps']})"]
    for index, (count, share) in enumerate(zip(summary['action_counts'],
                                               summary['action_distribution'])):
        lines.append(f'  action {index}: {count} ({share:.1%})')
    timing = summary['step_time_s']
    if timing:
        lines.append('step time (ms): ' + ', '.join(
            f'{name} {value * 1e3:.3f}' for name, value in timing.items()))
    return '\n'.join(lines)
