"""The session loop with a real simulator and recording fakes for everything else."""

import numpy as np
import pytest

from devrobot_core.action_timing import ActionTimer
from devrobot_core.interactive import StopRequested
from devrobot_core.session_loop import run_session, selection_metrics
from devrobot_sim.sim_robot import SimRobot


class Journal:
    """One ordered list of what the policy, the learner and the recorder were asked."""

    def __init__(self):
        self.events = []


class FakePolicy:
    def __init__(self, journal, choices):
        self.journal, self.choices = journal, list(choices)

    def select(self, pixels):
        self.journal.events.append(('select', pixels.copy()))
        if not self.choices:
            raise StopRequested('no more')
        index = self.choices.pop(0)
        return index, {'selector': 'fake', 'scores': [0.5, 0.25], 'act/uncertainty': 0.5,
                       'perf/select_ms': 1.0, 'note/text': 'not a number'}


class FakeLearner:
    def __init__(self, journal):
        self.journal = journal

    def observe(self, transition):
        self.journal.events.append(('observe', transition))
        return {'train/total_loss': 0.125}

    def idle(self, pixels):
        self.journal.events.append(('idle', pixels.copy()))
        return {'train/reconstruction_loss': 0.5}


class FakeRecorder:
    def __init__(self, journal):
        self.journal = journal

    def write_frame(self, frame):
        self.journal.events.append(('frame', frame))

    def write_step(self, command, outcome, next_frame):
        self.journal.events.append(('step', command, outcome, next_frame))


class FakeLogger:
    def __init__(self):
        self.records = []

    def log(self, metrics, step):
        self.records.append((step, metrics))


class FakeStats:
    def __init__(self):
        self.recorded, self.idle_steps = [], 0

    def record(self, action, interval_s):
        self.recorded.append(action)


def kinds(journal):
    return [event[0] for event in journal.events]


def test_each_transition_is_learned_before_the_next_command_is_chosen():
    journal, robot = Journal(), SimRobot()
    logger, stats = FakeLogger(), FakeStats()
    taken = run_session(robot, FakePolicy(journal, [1, 0, 1]), 3, FakeRecorder(journal),
                        FakeLearner(journal), logger, stats, now_ns=lambda: 42, first_step=10)
    assert taken == 3 and stats.recorded == [1, 0, 1]
    assert kinds(journal) == ['frame'] + ['select', 'step', 'observe'] * 3
    observed = [e[1] for e in journal.events if e[0] == 'observe']
    selected = [e[1] for e in journal.events if e[0] == 'select']
    for transition, pixels in zip(observed, selected):  # the frame selected on is learned
        assert np.array_equal(transition.frame.pixels, pixels)
    for transition, later in zip(observed, selected[1:]):  # and its next frame selected on
        assert np.array_equal(transition.next_frame.pixels, later)
    moved = observed[0]
    assert moved.outcome.command.stamp_ns == 42
    assert np.array_equal(moved.next_frame.pixels, np.roll(moved.frame.pixels, 27, axis=1))


def test_one_flat_record_per_step_with_the_selection_and_learning_figures():
    journal, logger = Journal(), FakeLogger()
    run_session(SimRobot(), FakePolicy(journal, [1, 1]), 2, learner=FakeLearner(journal),
                logger=logger, first_step=10)
    assert [step for step, _ in logger.records] == [11, 12]
    record = logger.records[-1][1]
    assert record['act/uncertainty'] == 0.5 and record['perf/select_ms'] == 1.0
    assert record['train/total_loss'] == 0.125 and record['act/action'] == 1
    assert record['perf/steps_per_s'] > 0 and record['perf/step_ms'] >= 0
    assert 'action_timing/mean_interval_s' in record  # from the second action on
    assert 'scores' not in record and 'note/text' not in record and 'selector' not in record


def test_a_declining_policy_learns_from_the_frame_instead_and_is_bounded():
    journal = Journal()
    robot, stats = SimRobot(), FakeStats()
    policy = FakePolicy(journal, [None, None, 1])
    assert run_session(robot, policy, 1, FakeRecorder(journal), FakeLearner(journal),
                       stats=stats) == 1
    assert kinds(journal) == ['frame', 'select', 'idle', 'frame', 'select', 'idle', 'frame',
                              'select', 'step', 'observe']
    assert stats.idle_steps == 2
    with pytest.raises(RuntimeError, match='declined to act 2 times'):
        run_session(robot, FakePolicy(journal, [None] * 5), 1, max_idle_steps=2)


def test_stop_requested_ends_the_session_and_steps_without_a_learner_just_act():
    journal, calls = Journal(), []
    taken = run_session(SimRobot(), FakePolicy(journal, [0, 1]), 10,
                        on_step=lambda step: calls.append(step))
    assert taken == 2 and calls == [1, 2]


def test_selection_metrics_keep_numeric_namespaced_figures():
    assert selection_metrics({'act/gated': 0, 'scores': [1.0], 'selector': 'x',
                              'act/name': 'text', 'perf/select_ms': 2.5}) == {
        'act/gated': 0, 'perf/select_ms': 2.5}


def test_action_timing_statistics_over_a_window():
    timer = ActionTimer(window=3)
    for stamp_s in (0.0, 0.2, 0.5, 0.6, 1.0):
        timer.record(int(stamp_s * 1e9))
    stats = timer.statistics()  # the window keeps the last 3 intervals: 0.3, 0.1, 0.4
    assert stats['action_timing/mean_interval_s'] == pytest.approx(0.8 / 3)
    assert stats['action_timing/median_interval_s'] == pytest.approx(0.3)
    assert stats['action_timing/min_interval_s'] == pytest.approx(0.1)
    assert stats['action_timing/max_interval_s'] == pytest.approx(0.4)
    assert stats['action_timing/std_interval_s'] == pytest.approx(np.std([0.3, 0.1, 0.4]))
    assert ActionTimer().statistics() == {}
