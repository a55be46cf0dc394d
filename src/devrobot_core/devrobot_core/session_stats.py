"""What a session did: how often each action ran and how long steps took."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class SessionStats:
    """Action counts and step intervals, as the original's RobotRunner reported them."""

    n_actions: int
    counts: list = field(default_factory=list)
    step_intervals_s: list = field(default_factory=list)
    idle_steps: int = 0  # frames on which the policy chose not to act (quality gate)

    def __post_init__(self):
        if not self.counts:
            self.counts = [0] * self.n_actions

    def record(self, action: int, interval_s: float) -> None:
        self.counts[action] += 1
        self.step_intervals_s.append(interval_s)

    @property
    def steps(self) -> int:
        return sum(self.counts)

    def summary(self) -> dict:
        total = self.steps
        intervals = self.step_intervals_s
        timing = {}
        if intervals:
            timing = {
                'mean': statistics.fmean(intervals),
                'median': statistics.median(intervals),
                'min': min(intervals),
                'max': max(intervals),
                'std': statistics.pstdev(intervals),
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
