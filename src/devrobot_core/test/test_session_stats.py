"""Session statistics: the original's figures, in bounded memory."""

import statistics

import numpy as np
import pytest

from devrobot_core import session_stats
from devrobot_core.session_stats import format_summary, SessionStats


def test_running_figures_match_the_exact_ones():
    intervals = np.random.default_rng(0).exponential(0.2, size=500)
    stats = SessionStats(2)
    for step, interval in enumerate(intervals):
        stats.record(step % 2, float(interval))
    summary = stats.summary()
    assert summary['steps'] == 500 and summary['action_counts'] == [250, 250]
    timing = summary['step_time_s']
    assert timing['mean'] == pytest.approx(statistics.fmean(intervals))
    assert timing['std'] == pytest.approx(statistics.pstdev(intervals))
    assert timing['median'] == pytest.approx(statistics.median(intervals))
    assert (timing['min'], timing['max']) == (min(intervals), max(intervals))
    assert format_summary(summary).startswith('steps: 500 (idle: 0)')


def test_memory_stays_bounded_and_the_median_is_recent(monkeypatch):
    monkeypatch.setattr(session_stats, 'MEDIAN_WINDOW', 10)
    stats = SessionStats(1)
    for interval in [100.0] * 50 + [1.0] * 10:
        stats.record(0, interval)
    assert len(stats.recent_intervals_s) == 10
    assert stats.summary()['step_time_s']['median'] == 1.0
    assert stats.summary()['step_time_s']['max'] == 100.0
    assert SessionStats(2).summary()['step_time_s'] == {}
