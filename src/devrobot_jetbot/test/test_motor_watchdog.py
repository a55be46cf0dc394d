"""The robot-side motor watchdog under a fake clock: deadlines, retried stops, one owner."""

import logging
import math
import time

from devrobot_jetbot.motor_watchdog import BoardFailed, MotorWatchdog, Refused
from devrobot_jetbot.onboard_hardware import MockHardware, clamp_unit
from hypothesis import given, settings, strategies as st
import pytest


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FlakyBoard(MockHardware):
    """A motor board whose next `failures` writes of zero (or of anything) raise OSError."""

    def __init__(self):
        super().__init__()
        self.zero_failures = 0
        self.any_failures = 0
        self.failed_writes = 0

    def set_speeds(self, left, right):
        stopping = left == 0.0 and right == 0.0
        if self.any_failures or (stopping and self.zero_failures):
            if self.any_failures:
                self.any_failures -= 1
            else:
                self.zero_failures -= 1
            self.failed_writes += 1
            raise OSError(121, 'Remote I/O error')
        super().set_speeds(left, right)


@pytest.fixture
def watched():
    clock, hardware = FakeTime(), MockHardware()
    return clock, hardware, MotorWatchdog(hardware, max_hold_s=1.0, clock=clock)


@pytest.fixture
def flaky():
    clock, board = FakeTime(), FlakyBoard()
    return clock, board, MotorWatchdog(board, max_hold_s=1.0, period_s=0.01, clock=clock)


def test_motors_stop_when_the_commands_time_is_up(watched):
    clock, hardware, watchdog = watched
    watchdog.set('client', 0.3, 0.4, hold_s=0.25)
    clock.now += 0.249
    watchdog.check()
    assert hardware.speeds() == (0.3, 0.4)
    clock.now += 0.002
    watchdog.check()
    assert hardware.speeds() == (0.0, 0.0)
    assert watchdog.stops[-1][1] == "the command's time is up"


@pytest.mark.parametrize('hold_s', [None, 60.0, math.inf])
def test_without_a_hold_time_or_a_longer_one_motors_stop_after_max_hold(watched, hold_s):
    clock, hardware, watchdog = watched
    watchdog.set('client', 0.5, 0.5, hold_s)  # what the original client sends: no hold time
    clock.now += 0.999
    watchdog.check()
    assert hardware.speeds() == (0.5, 0.5)
    clock.now += 0.002
    watchdog.check()
    assert hardware.speeds() == (0.0, 0.0)


def test_when_no_command_arrives_in_time_the_reason_says_so(watched):
    clock, hardware, watchdog = watched
    watchdog.set('client', 0.5, 0.5)
    clock.now += 1.5
    watchdog.check()
    assert 'no command arrived' in watchdog.stops[-1][1]


def test_the_next_call_learns_that_the_watchdog_cut_its_speeds(watched):
    clock, hardware, watchdog = watched
    assert watchdog.set('client', 0.5, 0.5, 0.1) is False
    clock.now += 0.05
    assert watchdog.set('client', 0.5, 0.5, 0.1) is False  # in time
    clock.now += 0.2
    watchdog.check()  # too late: stopped
    assert watchdog.set('client', 0.5, 0.5, 0.1) is True
    assert hardware.speeds() == (0.0, 0.0)  # not restarted: the client ends the command
    assert watchdog.set('client', 0.0, 0.0, 0.1) is False  # told once
    clock.now += 5
    watchdog.check()
    assert watchdog.set('client', 0.5, 0.5, 0.1) is False  # stopped motors cannot be cut


def test_a_new_command_renews_the_deadline(watched):
    clock, hardware, watchdog = watched
    watchdog.set('client', 0.5, 0.5, 0.1)
    clock.now += 0.09
    watchdog.set('client', 0.6, 0.6, 0.1)
    clock.now += 0.09
    watchdog.check()
    assert hardware.speeds() == (0.6, 0.6)


def test_the_driving_client_leaving_stops_the_motors_another_one_does_not(watched):
    clock, hardware, watchdog = watched
    watchdog.set('driver', 0.5, 0.5, 0.8)
    watchdog.release('viewer')
    assert hardware.speeds() == (0.5, 0.5)
    watchdog.release('driver')
    assert hardware.speeds() == (0.0, 0.0)
    assert watchdog.stops[-1][1] == 'the client went away'


def test_bad_speeds_become_a_stop_and_big_ones_are_clamped(watched):
    _, hardware, watchdog = watched
    watchdog.set('client', math.nan, 7.0, 0.1)
    assert hardware.speeds() == (0.0, 1.0)
    assert [clamp_unit(v) for v in (math.inf, -3, None, '0.5')] == [0.0, -1.0, 0.0, 0.5]


def test_close_stops_the_motors(watched):
    _, hardware, watchdog = watched
    watchdog.set('client', 0.5, 0.5, 0.8)
    watchdog.close()
    assert hardware.speeds() == (0.0, 0.0)


@pytest.mark.parametrize('max_hold_s', [0, -1.0, math.inf, math.nan, 1e300, 5.01, 'long'])
def test_max_hold_must_be_finite_positive_and_at_most_a_few_seconds(max_hold_s):
    with pytest.raises(ValueError, match='max-hold-s'):
        MotorWatchdog(MockHardware(), max_hold_s=max_hold_s)


@pytest.mark.parametrize('hold_s', [0.0, -1.0, math.nan, 'soon'])
def test_a_hold_time_of_zero_or_less_or_not_a_number_stops_the_motors_now(watched, hold_s):
    clock, hardware, watchdog = watched
    watchdog.set('client', 0.5, 0.5, 0.5)
    watchdog.set('client', 0.5, 0.5, hold_s)
    assert hardware.speeds() == (0.0, 0.0)
    clock.now += 5.0
    watchdog.check()
    assert hardware.speeds() == (0.0, 0.0) and watchdog.stops == []


@pytest.mark.parametrize('failures', [1, 3])
def test_a_failed_stop_is_retried_every_period_until_a_zero_write_succeeds(
        flaky, caplog, failures):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.2)
    board.zero_failures = failures
    clock.now += 0.2
    with caplog.at_level(logging.INFO, logger='devrobot_jetbot.motor_watchdog'):
        for check in range(1, failures + 1):  # each check is one watchdog period
            watchdog.check()
            assert board.speeds() == (0.5, 0.5) and watchdog.stop_pending, check
            clock.now += watchdog.period_s
        watchdog.check()  # the retry after the last failure: the motors are off
    assert board.speeds() == (0.0, 0.0) and not watchdog.stop_pending
    assert board.failed_writes == failures
    stopped_at, reason = watchdog.stops[-1]
    assert reason == "the command's time is up"
    assert stopped_at - 100.2 == pytest.approx(failures * watchdog.period_s)
    messages = [record.getMessage() for record in caplog.records]
    assert sum('could not stop the motors' in m for m in messages) == 1  # said once
    assert 'Remote I/O error' in messages[0] and 'retrying every 10 ms' in messages[0]
    assert f'after {failures} failed attempts' in messages[-1]  # and the recovery


def test_a_stop_that_keeps_failing_is_retried_and_logged_sparingly(flaky, caplog):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.1)
    board.zero_failures = 250
    clock.now += 0.1
    with caplog.at_level(logging.INFO, logger='devrobot_jetbot.motor_watchdog'):
        for _ in range(251):
            watchdog.check()
    assert board.speeds() == (0.0, 0.0)
    assert [r.getMessage().count('could not stop') for r in caplog.records].count(1) == 3


def test_a_failed_stop_from_the_client_or_a_leaving_client_is_retried(flaky):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.5)
    board.zero_failures = 2  # the client's own stop, then the watchdog's first try
    with pytest.raises(BoardFailed, match='Remote I/O error'):
        watchdog.set('client', 0.0, 0.0, hold_s=0.5)
    assert watchdog.stop_pending and board.speeds() == (0.5, 0.5)
    watchdog.check()
    assert board.speeds() == (0.0, 0.0) and watchdog.stops[-1][1] == 'the client stopped them'
    watchdog.set('client', 0.3, 0.3, hold_s=0.5)
    board.zero_failures = 1
    watchdog.release('client')
    assert board.speeds() == (0.3, 0.3) and watchdog.stop_pending
    watchdog.check()
    assert board.speeds() == (0.0, 0.0) and watchdog.stops[-1][1] == 'the client went away'


def test_a_failed_speed_write_stops_the_motors_and_tells_the_client(flaky):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.5)
    board.any_failures = 1  # the new speeds fail (maybe half written); the stop works
    with pytest.raises(BoardFailed, match='Remote I/O error'):
        watchdog.set('client', -0.5, 0.5, hold_s=0.5)
    assert board.speeds() == (0.0, 0.0) and watchdog.stops[-1][1] == 'a motor write failed'


def test_new_speeds_that_reach_the_board_replace_a_pending_stop(flaky):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.1)
    board.zero_failures = 1
    clock.now += 0.1
    watchdog.check()
    assert watchdog.stop_pending
    assert watchdog.set('client', 0.2, 0.2, hold_s=None) is True  # told: cut by the watchdog
    assert board.speeds() == (0.2, 0.2) and not watchdog.stop_pending  # the original client
    clock.now += 1.0
    watchdog.check()
    assert board.speeds() == (0.0, 0.0)


def test_close_keeps_trying_to_stop_the_motors(flaky):
    clock, board, watchdog = flaky
    watchdog.set('client', 0.5, 0.5, hold_s=0.5)
    board.zero_failures = 3
    watchdog.close()
    assert board.speeds() == (0.0, 0.0) and watchdog.stops[-1][1] == 'service shut down'


def test_a_second_client_is_refused_and_the_motors_stay_with_the_first(watched):
    clock, hardware, watchdog = watched
    watchdog.claim('first', 'id-1', label='10.0.0.1:5000')
    watchdog.set('first', 0.5, 0.5, 0.5)
    for attempt in (lambda: watchdog.set('second', -1.0, -1.0, 0.5, label='10.0.0.2:6000'),
                    lambda: watchdog.set('second', 0.0, 0.0, 0.5),
                    lambda: watchdog.claim('second', 'id-2', label='10.0.0.2:6000')):
        with pytest.raises(Refused, match='motors busy: 10.0.0.1:5000 drives the motors'):
            attempt()
    assert hardware.speeds() == (0.5, 0.5)
    watchdog.release('second')
    assert hardware.speeds() == (0.5, 0.5)
    watchdog.release('first')  # gone: the motors stop and are free again
    assert hardware.speeds() == (0.0, 0.0)
    watchdog.set('second', 0.2, 0.2, 0.5)
    assert hardware.speeds() == (0.2, 0.2)


def test_an_explicit_take_over_stops_the_motors_and_the_first_client_is_told(watched):
    clock, hardware, watchdog = watched
    watchdog.set('first', 0.5, 0.5, 0.5, label='10.0.0.1:5000')
    watchdog.claim('second', 'id-2', take_over=True, label='10.0.0.2:6000')
    assert hardware.speeds() == (0.0, 0.0)
    assert watchdog.stops[-1][1] == 'taken over by 10.0.0.2:6000'
    for attempt in (lambda: watchdog.set('first', 0.5, 0.5, 0.5),
                    lambda: watchdog.set('first', 0.5, 0.5, 0.5)):  # refused every time
        with pytest.raises(Refused, match='motors taken over: 10.0.0.2:6000 took the motors'):
            attempt()
    watchdog.set('second', 0.3, 0.3, 0.5)
    assert hardware.speeds() == (0.3, 0.3)
    watchdog.release('first')  # the former owner leaving changes nothing
    assert hardware.speeds() == (0.3, 0.3)


def test_the_same_client_reconnecting_gets_its_motors_back(watched):
    clock, hardware, watchdog = watched
    watchdog.claim('old link', 'id-1')
    watchdog.set('old link', 0.5, 0.5, 0.5)
    watchdog.claim('new link', 'id-1')  # the same client id: no take-over needed
    watchdog.set('new link', 0.4, 0.4, 0.5)
    assert hardware.speeds() == (0.4, 0.4)
    with pytest.raises(Refused, match='motors taken over'):
        watchdog.set('old link', 0.5, 0.5, 0.5)
    watchdog.release('old link')  # its socket finally closes: the new link keeps driving
    assert hardware.speeds() == (0.4, 0.4)


def test_the_watchdog_thread_stops_the_motors_despite_a_failed_write():
    board = FlakyBoard()
    watchdog = MotorWatchdog(board, max_hold_s=1.0, period_s=0.01)
    watchdog.start()
    try:
        watchdog.set('client', 0.5, 0.5, hold_s=0.05)
        board.zero_failures = 1
        deadline = time.monotonic() + 10.0
        while board.speeds() != (0.0, 0.0) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert board.speeds() == (0.0, 0.0) and board.failed_writes == 1
    finally:
        watchdog.close()


@settings(max_examples=200, deadline=None)
@given(calls=st.lists(st.tuples(st.one_of(st.floats(), st.integers(), st.none(), st.text()),
                                st.one_of(st.floats(), st.integers(), st.none()),
                                st.one_of(st.floats(), st.none(), st.text()),
                                st.floats(min_value=0, max_value=3)), min_size=1, max_size=8))
def test_no_input_drives_the_motors_past_full_power_or_past_max_hold(calls):
    clock, hardware = FakeTime(), MockHardware()
    watchdog = MotorWatchdog(hardware, max_hold_s=1.0, clock=clock)
    for left, right, hold_s, gap_s in calls:
        watchdog.set('client', left, right, hold_s)
        clock.now += gap_s
        watchdog.check()
    clock.now += 1.0  # silence: whatever came before, the motors are off by now
    watchdog.check()
    assert all(abs(lft) <= 1.0 and abs(rgt) <= 1.0 for _, lft, rgt in hardware.motor_calls)
    assert hardware.speeds() == (0.0, 0.0)
