"""The robot-side watchdog under a fake clock, and the service's Python 3.6 compatibility."""

import ast
import math
from pathlib import Path

from devrobot_jetbot.onboard_hardware import MockHardware, clamp_unit
from devrobot_jetbot.robot_service import MotorWatchdog
from hypothesis import given, settings, strategies as st
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'devrobot_jetbot'


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def watched():
    clock, hardware = FakeTime(), MockHardware()
    return clock, hardware, MotorWatchdog(hardware, max_hold_s=1.0, clock=clock)


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


@pytest.mark.parametrize('hold_s', [None, 0.0, -1.0, math.nan, 'soon', 60.0])
def test_without_a_usable_hold_time_motors_stop_after_max_hold(watched, hold_s):
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


def test_max_hold_must_be_positive():
    with pytest.raises(ValueError, match='max_hold_s'):
        MotorWatchdog(MockHardware(), max_hold_s=0)


@pytest.mark.parametrize('name', ['robot_service.py', 'onboard_hardware.py'])
def test_robot_side_files_parse_as_python_3_6(name):
    source = (PACKAGE / name).read_text()
    ast.parse(source, feature_version=(3, 6))  # walrus, positional-only, etc. fail here
    assert 'from __future__ import annotations' not in source
    assert 'dataclass' not in source
    assert '=}' not in source  # f-string self-documenting expressions are 3.8+
    imports = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = {(node.module or '') if isinstance(node, ast.ImportFrom) else node.names[0].name
               for node in imports}
    assert not any(m.startswith(('devrobot_core', 'devrobot_sim')) for m in modules)


@pytest.mark.parametrize('stop_signal', ['SIGINT', 'SIGTERM'])
def test_the_two_copied_files_run_as_the_robot_service(tmp_path, closed_port, stop_signal):
    """Run the two copied files as on the robot: no devrobot, stopped by Ctrl-C or systemctl."""
    import shutil
    import signal
    import subprocess
    import sys
    import time

    import rpyc

    for name in ('robot_service.py', 'onboard_hardware.py'):
        shutil.copy(PACKAGE / name, tmp_path / name)
    # devrobot_jetbot is installed here; hide it so the service takes the robot's import path
    launcher = ("import runpy, sys; sys.modules['devrobot_jetbot'] = None; "
                "sys.argv = ['robot_service.py'] + sys.argv[1:]; "
                "runpy.run_path('robot_service.py', run_name='__main__')")
    process = subprocess.Popen(
        [sys.executable, '-c', launcher, '--hardware', 'mock', '--bind', '127.0.0.1',
         '--port', str(closed_port), '--max-hold-s', '0.2'],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        conn = None
        deadline = time.monotonic() + 30.0
        while conn is None and time.monotonic() < deadline:
            try:
                conn = rpyc.connect('127.0.0.1', closed_port)
            except OSError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.05)
        assert conn is not None, 'the service never listened'
        assert conn.root.get_service_name() == 'DEVROBOT_JETBOT'
        conn.root.set_motors(0.2, 0.2)
        assert len(conn.root.get_camera_frame()) > 100
        conn.close()
    finally:
        process.send_signal(getattr(signal, stop_signal))
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert 'serving the JetBot' in output and 'motors stopped: service shut down' in output


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
