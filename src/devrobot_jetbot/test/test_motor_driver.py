"""The motor driver: the core's speeds reach the backend, and failures always stop the motors."""

import threading

from devrobot_core.clock import VirtualClock, WallClock
from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_jetbot.backend import LinkLostError, RobotUnreachableError, WatchdogStoppedError
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.jetbot_robot import JetBotRobot
from devrobot_jetbot.mock_backend import MockBackend
from devrobot_jetbot.motor_control import MotorControlConfig, MotorController
from devrobot_jetbot.motor_driver import MotorDriver
import numpy as np
import pytest

MS = 1_000_000
WAIT_S = 10.0  # generous: threads on a loaded 2-core machine


class FailingBackend(MockBackend):
    """Raise `error` on the `fail_at`-th motor call (1-based), and on later ones if sticky."""

    def __init__(self, clock, fail_at, error, sticky=False):
        super().__init__(clock)
        self.fail_at, self.error, self.sticky, self.calls = fail_at, error, sticky, 0

    def apply_motors(self, left, right, hold_s):
        self.calls += 1
        if self.calls == self.fail_at or (self.sticky and self.calls > self.fail_at):
            raise self.error
        super().apply_motors(left, right, hold_s)


def make_driver(backend, clock, **limits):
    return MotorDriver(MotorController(MotorControlConfig(**limits)), backend, clock,
                       lease_grace_s=0.1)


def test_execute_applies_the_profile_with_hold_times_that_cover_each_step():
    clock = VirtualClock(0)
    backend = MockBackend(clock)
    outcome = make_driver(backend, clock).execute(MotorCommand(0.0, 0.12, 0.2))
    assert outcome.status == MotorStatus.COMPLETED
    assert (outcome.start_ns, outcome.end_ns) == (0, 305 * MS)
    times = [t // MS for t, _, _, _ in backend.motor_calls]
    rights = [round(r, 6) for _, _, r, _ in backend.motor_calls]
    holds = [round(h, 6) for _, _, _, h in backend.motor_calls]
    assert times == [0, 15, 30, 45, 260, 275, 290, 305]
    assert rights == [0.03, 0.06, 0.09, 0.12, 0.09, 0.06, 0.03, 0.0]
    # each speed may stay on until the next planned call plus the grace, no longer
    assert holds == [0.115, 0.115, 0.115, 0.315, 0.115, 0.115, 0.115, 0.1]


def test_long_holds_are_re_sent_so_the_robot_watchdog_never_cuts_them_short():
    clock = VirtualClock(0)
    backend = MockBackend(clock)
    driver = MotorDriver(MotorController(MotorControlConfig()), backend, clock,
                         lease_grace_s=0.1, resend_interval_s=0.25)
    assert driver.execute(MotorCommand(0.3, 0.3, 1.0)).status == MotorStatus.COMPLETED
    full = [(t // MS, h) for t, left, _, h in backend.motor_calls if left == 0.3]
    assert [t for t, _ in full] == [45, 295, 545, 795, 1045]  # then the ramp down at 1060
    assert all(h <= 0.25 + 0.1 + 1e-9 for _, h in full)
    # each hold time reaches past the next send: a live link never lets the motors stop
    assert all(t0 / 1000 + h > t1 / 1000 for (t0, h), (t1, _) in zip(full, full[1:]))


def test_a_rejected_command_returns_at_once_without_moving_the_motors():
    clock = VirtualClock(0)
    backend = MockBackend(clock)
    outcome = make_driver(backend, clock).execute(MotorCommand(float('nan'), 0.1, 0.2))
    assert outcome.status == MotorStatus.REJECTED_INVALID
    assert all(left == 0 and right == 0 for _, left, right, _ in backend.motor_calls)


@pytest.mark.parametrize('error', [LinkLostError('wifi gone'),
                                   WatchdogStoppedError("robot's watchdog stopped")])
def test_a_lost_link_or_a_cut_mid_command_stops_it_and_sends_a_stop(error):
    clock = VirtualClock(0)
    backend = FailingBackend(clock, fail_at=3, error=error)
    outcome = make_driver(backend, clock).execute(MotorCommand(0.5, 0.5, 0.2))
    assert outcome.status == MotorStatus.STOPPED and str(error) in outcome.reason
    assert backend.speeds() == (0.0, 0.0)


def test_an_unreachable_robot_raises_after_stopping_the_command():
    clock = VirtualClock(0)
    backend = FailingBackend(clock, fail_at=2, error=RobotUnreachableError('gone'), sticky=True)
    driver = make_driver(backend, clock)
    with pytest.raises(RobotUnreachableError):
        driver.execute(MotorCommand(0.5, 0.5, 0.2))
    assert not driver.controller.busy


def test_a_bug_in_the_backend_stops_the_motors_and_is_raised():
    clock = VirtualClock(0)
    backend = FailingBackend(clock, fail_at=4, error=ZeroDivisionError('bug'))
    outcomes = []
    driver = make_driver(backend, clock)
    driver.on_outcome = outcomes.append
    with pytest.raises(ZeroDivisionError):
        driver.execute(MotorCommand(0.5, 0.5, 0.2))
    assert backend.speeds() == (0.0, 0.0) and not driver.controller.busy


def test_ctrl_c_while_holding_stops_the_motors():
    class InterruptingClock(VirtualClock):
        def sleep(self, duration_s):
            if duration_s > 0.1:  # the hold
                raise KeyboardInterrupt
            super().sleep(duration_s)

    clock = InterruptingClock(0)
    backend = MockBackend(clock)
    stopped = []
    driver = make_driver(backend, clock)
    driver.on_outcome = stopped.append
    with pytest.raises(KeyboardInterrupt):
        driver.execute(MotorCommand(0.5, 0.5, 0.2))
    assert backend.speeds() == (0.0, 0.0)
    assert stopped[-1].status == MotorStatus.STOPPED and 'KeyboardInterrupt' in stopped[-1].reason


class OutcomeLog:
    def __init__(self):
        self.outcomes, self.changed = [], threading.Condition()

    def __call__(self, outcome):
        with self.changed:
            self.outcomes.append(outcome)
            self.changed.notify_all()

    def wait_for(self, count):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.outcomes) >= count, WAIT_S)
        return self.outcomes


def test_threaded_mode_preempts_completes_and_stops_on_shutdown():
    clock = WallClock()
    backend = MockBackend(clock)
    log = OutcomeLog()
    driver = MotorDriver(MotorController(MotorControlConfig(ramp_steps=0, max_duration_s=30)),
                         backend, clock, on_outcome=log)
    driver.start()
    try:
        long_one, short_one = MotorCommand(0.2, 0.2, 20.0), MotorCommand(0.1, 0.1, 0.05)
        driver.submit(long_one)
        driver.submit(short_one)
        first, second = log.wait_for(2)[:2]
        assert (first.command, first.status) == (long_one, MotorStatus.PREEMPTED)
        assert (second.command, second.status) == (short_one, MotorStatus.COMPLETED)
        assert backend.speeds() == (0.0, 0.0)
        driver.submit(MotorCommand(0.3, 0.3, 20.0))
        deadline = clock.now_ns() + int(WAIT_S * 1e9)
        while backend.speeds() != (0.3, 0.3) and clock.now_ns() < deadline:
            clock.sleep(0.001)
    finally:
        driver.shutdown('node shutting down')
    third = log.wait_for(3)[2]
    assert third.status == MotorStatus.STOPPED and third.reason == 'node shutting down'
    assert backend.speeds() == (0.0, 0.0)


def test_threaded_mode_hands_an_unreachable_robot_to_its_owner():
    clock = WallClock()
    backend = FailingBackend(clock, fail_at=1, error=RobotUnreachableError('gone'), sticky=True)
    fatal = threading.Event()
    errors = []
    driver = MotorDriver(MotorController(), backend, clock,
                         on_fatal=lambda error: (errors.append(error), fatal.set()))
    driver.start()
    driver.submit(MotorCommand(0.3, 0.3, 0.2))
    assert fatal.wait(WAIT_S)
    assert isinstance(errors[0], RobotUnreachableError)
    driver.shutdown()


def test_jetbot_robot_with_the_mock_backend_moves_the_picture():
    clock = VirtualClock(0)
    robot = JetBotRobot(JetBotConfig(backend='mock'), clock=clock)
    assert robot.robot_type == 'jetbot'
    assert [c.right for c in robot.action_space] == [0.0, 0.12]
    robot.connect()
    before = robot.read()
    outcome = robot.send(robot.action_space[1])
    after = robot.read()
    robot.close()
    robot.close()
    assert outcome.status == MotorStatus.COMPLETED
    assert before.pixels.shape == (224, 224, 3) and after.stamp_ns > before.stamp_ns
    assert not np.array_equal(before.pixels, after.pixels)
    assert robot.backend.closed


def test_a_bad_config_names_the_problem():
    with pytest.raises(ValueError, match='backend'):
        JetBotConfig(backend='bluetooth')
    with pytest.raises(ValueError, match='action_space'):
        JetBotConfig(action_space=[0.0, 0.1])
