"""The motor control core, stepped by hand with explicit times: ramp, hold, stop, reject."""

import math

from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_jetbot.motor_control import MotorControlConfig, MotorController
from hypothesis import given, settings, strategies as st
import pytest

MS = 1_000_000
T0 = 1_000_000_000_000  # an arbitrary "now" far from zero, like a wall clock


def run_to_end(controller, start_ns, limit_steps=10_000):
    """Step at every requested time; return [(time_ns, left, right)] and the outcomes."""
    trace, outcomes = [], []
    now = start_ns
    for _ in range(limit_steps):
        step = controller.step(now)
        trace.append((now, step.left, step.right))
        outcomes.extend(step.finished)
        if step.next_step_ns is None:
            return trace, outcomes
        assert step.next_step_ns > now
        now = step.next_step_ns
    raise AssertionError('controller never finished')


def test_ramp_hold_ramp_down_timings_match_the_original_profile():
    controller = MotorController(MotorControlConfig(ramp_steps=4, ramp_step_s=0.015))
    assert controller.submit(MotorCommand(0.0, 0.12, 0.2, stamp_ns=T0), T0) == ()
    trace, outcomes = run_to_end(controller, T0)
    times_ms = [round((t - T0) / MS) for t, _, _ in trace]
    rights = [round(r, 6) for _, _, r in trace]
    # up: 0.03, 0.06, 0.09, 0.12 every 15 ms; hold 200 ms; down: 0.09, 0.06, 0.03; then 0
    assert times_ms == [0, 15, 30, 45, 260, 275, 290, 305]
    assert rights == [0.03, 0.06, 0.09, 0.12, 0.09, 0.06, 0.03, 0.0]
    assert all(left == 0.0 for _, left, _ in trace)
    (outcome,) = outcomes
    assert outcome.status == MotorStatus.COMPLETED
    assert outcome.right == pytest.approx(0.12)
    assert (outcome.start_ns, outcome.end_ns) == (T0, T0 + 305 * MS)
    assert controller.planned_end_ns() is None and not controller.busy


def test_steps_between_change_points_keep_the_same_speed():
    controller = MotorController(MotorControlConfig())
    controller.submit(MotorCommand(0.5, 0.5, 0.2), T0)
    controller.step(T0)
    mid_hold = controller.step(T0 + 100 * MS)
    assert (mid_hold.left, mid_hold.right) == (0.5, 0.5)
    assert mid_hold.next_step_ns == T0 + 260 * MS


def test_without_ramp_the_command_is_a_plain_pulse():
    controller = MotorController(MotorControlConfig(ramp_steps=0))
    controller.submit(MotorCommand(-0.3, 0.3, 0.1), T0)
    trace, (outcome,) = run_to_end(controller, T0)
    assert [(round((t - T0) / MS), lft, rgt) for t, lft, rgt in trace] == [
        (0, -0.3, 0.3), (100, 0.0, 0.0)]
    assert outcome.status == MotorStatus.COMPLETED


def test_speeds_and_duration_are_clamped_to_the_limits():
    config = MotorControlConfig(max_speed=0.5, max_duration_s=0.1, ramp_steps=0)
    controller = MotorController(config)
    controller.submit(MotorCommand(3.0, -7.0, 60.0), T0)
    trace, (outcome,) = run_to_end(controller, T0)
    assert trace[0][1:] == (0.5, -0.5)
    assert trace[-1][0] - T0 == 100 * MS
    assert (outcome.left, outcome.right) == (0.5, -0.5)


@pytest.mark.parametrize('command, word', [
    (MotorCommand(math.nan, 0.1, 0.2), 'finite'),
    (MotorCommand(0.1, math.inf, 0.2), 'finite'),
    (MotorCommand(0.1, 0.1, -math.inf), 'finite'),
    (MotorCommand(0.1, 0.1, -0.2), 'positive'),
    (MotorCommand(0.1, 0.1, 0.0), 'positive'),
])
def test_malformed_commands_are_rejected_with_a_reason(command, word):
    controller = MotorController()
    (outcome,) = controller.submit(command, T0)
    assert outcome.status == MotorStatus.REJECTED_INVALID
    assert word in outcome.reason
    assert (outcome.left, outcome.right) == (0.0, 0.0)
    assert not controller.busy


def test_stale_and_future_commands_are_rejected_fresh_and_unstamped_ones_run():
    controller = MotorController(MotorControlConfig(max_command_age_s=0.5))
    (stale,) = controller.submit(MotorCommand(0.1, 0.1, 0.2, stamp_ns=T0 - 600 * MS), T0)
    assert stale.status == MotorStatus.REJECTED_STALE and 'old' in stale.reason
    (future,) = controller.submit(MotorCommand(0.1, 0.1, 0.2, stamp_ns=T0 + 600 * MS), T0)
    assert future.status == MotorStatus.REJECTED_STALE and 'future' in future.reason
    assert controller.submit(MotorCommand(0.1, 0.1, 0.2, stamp_ns=T0 - 400 * MS), T0) == ()
    assert controller.busy
    assert MotorController().submit(MotorCommand(0.1, 0.1, 0.2, stamp_ns=0), T0) == ()


def test_a_rejected_command_leaves_the_running_one_alone():
    controller = MotorController(MotorControlConfig(ramp_steps=0))
    controller.submit(MotorCommand(0.2, 0.2, 0.2), T0)
    controller.step(T0)
    (rejected,) = controller.submit(MotorCommand(math.nan, 0, 1), T0 + 50 * MS)
    assert rejected.status == MotorStatus.REJECTED_INVALID
    assert controller.step(T0 + 60 * MS).right == 0.2


def test_a_newer_command_preempts_and_ramps_from_the_current_speed():
    controller = MotorController(MotorControlConfig(ramp_steps=4, ramp_step_s=0.015))
    first = MotorCommand(0.0, 0.4, 0.2)
    controller.submit(first, T0)
    run_steps = [controller.step(T0 + k * 15 * MS) for k in range(5)]
    assert run_steps[-1].right == pytest.approx(0.4)
    second = MotorCommand(0.0, 0.0, 0.2)
    (preempted,) = controller.submit(second, T0 + 100 * MS)
    assert preempted.command is first and preempted.status == MotorStatus.PREEMPTED
    assert preempted.end_ns == T0 + 100 * MS and 'preempted' in preempted.reason
    trace, (done,) = run_to_end(controller, T0 + 100 * MS)
    # from 0.4 down to the new target 0.0 in four steps: no jump to zero
    assert [round(r, 6) for _, _, r in trace[:4]] == [0.3, 0.2, 0.1, 0.0]
    assert done.command is second and done.status == MotorStatus.COMPLETED


def test_stop_ends_the_command_at_once():
    controller = MotorController()
    command = MotorCommand(0.3, 0.3, 1.0)
    controller.submit(command, T0)
    controller.step(T0)
    step = controller.stop(T0 + 5 * MS, 'shutdown')
    assert (step.left, step.right, step.next_step_ns) == (0.0, 0.0, None)
    (outcome,) = step.finished
    assert outcome.status == MotorStatus.STOPPED and outcome.reason == 'shutdown'
    assert controller.speeds == (0.0, 0.0)
    assert controller.stop(T0 + 6 * MS, 'again').finished == ()


@pytest.mark.parametrize('field, value', [
    ('max_speed', 0.0), ('max_speed', 1.5), ('max_duration_s', math.inf),
    ('max_command_age_s', -1.0), ('ramp_steps', -1), ('ramp_step_s', math.nan)])
def test_bad_limits_are_refused_with_the_field_named(field, value):
    with pytest.raises(ValueError, match=field):
        MotorControlConfig(**{field: value})


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=-2.0, max_value=2.0), st.integers(-10, 10))


@settings(max_examples=300, deadline=None)
@given(max_speed=st.floats(min_value=0.01, max_value=1.0),
       max_duration_s=st.floats(min_value=0.01, max_value=1.0),
       ramp_steps=st.integers(0, 6),
       commands=st.lists(st.tuples(numbers, numbers, numbers,
                                   st.integers(-2_000 * MS, 2_000 * MS),
                                   st.integers(0, 400 * MS)), min_size=1, max_size=6))
def test_no_command_sequence_ever_drives_a_motor_past_the_limits(
        max_speed, max_duration_s, ramp_steps, commands):
    config = MotorControlConfig(max_speed=max_speed, max_duration_s=max_duration_s,
                                ramp_steps=ramp_steps)
    controller = MotorController(config)
    now = T0
    longest_ns = (max_duration_s + 2 * ramp_steps * config.ramp_step_s) * 1e9 + 1
    for left, right, duration, stamp_offset, gap in commands:
        outcomes = controller.submit(MotorCommand(left, right, duration, T0 + stamp_offset), now)
        for outcome in outcomes:
            assert abs(outcome.left) <= max_speed and abs(outcome.right) <= max_speed
        end = now + gap
        while True:  # step through the gap to the next command
            step = controller.step(now)
            assert abs(step.left) <= max_speed and abs(step.right) <= max_speed
            assert math.isfinite(step.left) and math.isfinite(step.right)
            if step.next_step_ns is None or step.next_step_ns > end:
                break
            now = step.next_step_ns
        now = end
    trace, _ = run_to_end(controller, now)
    assert all(abs(lft) <= max_speed and abs(rgt) <= max_speed for _, lft, rgt in trace)
    assert trace[-1][1:] == (0.0, 0.0)
    assert trace[-1][0] - now <= longest_ns  # every command ends by itself, in bounded time
