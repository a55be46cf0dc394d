"""A real robot service on loopback (in-memory hardware) driven by the real client.

Timing assertions only bound what must happen (a stop) with generous slack; the watchdog's
worst-case motor-on time after a lost link is printed for the record (`pytest -s`).
"""

import threading
import time

from devrobot_core.clock import VirtualClock
from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_jetbot.backend import LinkLostError, RobotUnreachableError, WatchdogStoppedError
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.jetbot_robot import JetBotRobot
from devrobot_jetbot.rpyc_backend import RpycBackend
import numpy as np
import pytest
import rpyc

SLACK_S = 3.0  # a loaded 2-core machine may stall threads for a long time


def wait_until(predicate, timeout_s=SLACK_S + 2.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def config_for(port, **overrides):
    values = dict(host='127.0.0.1', port=port, connect_timeout_s=2.0, call_timeout_s=2.0,
                  reconnect_attempts=2, reconnect_backoff_s=0.05)
    values.update(overrides)
    return JetBotConfig(**values)


def motor_off_time(hardware, after):
    """Monotonic time of the first zero-speed call at or after `after`."""
    for stamp, left, right in list(hardware.motor_calls):
        if stamp >= after and left == 0.0 and right == 0.0:
            return stamp
    return None


def test_client_reads_rgb_frames_and_learns_the_service_is_hardened(start_service):
    service = start_service()
    backend = RpycBackend(config_for(service.port))
    backend.connect()
    frame = backend.read_frame()
    backend.close()
    assert backend.hardened
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    # the mock camera paints a left-to-right ramp in BGR's red channel: RGB channel 0
    red = frame[:, :, 0].astype(float).mean(axis=0)
    assert red[-20:].mean() > red[:20].mean() + 150
    assert frame[:, :, 1].mean() < 20 and frame[:, :, 2].mean() < 20


def test_robot_executes_a_ramped_command_over_the_link(start_service):
    service = start_service()
    robot = JetBotRobot(config_for(service.port))
    robot.connect()
    outcome = robot.send(MotorCommand(0.0, 0.12, 0.2))
    robot.close()
    assert outcome.status == MotorStatus.COMPLETED
    rights = [round(right, 6) for _, _, right in service.hardware.motor_calls]
    # wall-clock timing: a late wake-up may skip a ramp step, never reorder or exceed them
    peak = rights.index(max(rights))
    assert set(rights) <= {0.0, 0.03, 0.06, 0.09, 0.12}
    assert rights[:peak + 1] == sorted(rights[:peak + 1])
    assert rights[peak:] == sorted(rights[peak:], reverse=True) and rights[-1] == 0.0
    assert service.hardware.speeds() == (0.0, 0.0)


def test_the_original_client_protocol_still_works_and_is_stopped_by_the_watchdog(
        start_service):
    service = start_service(max_hold_s=0.2)
    conn = rpyc.connect('127.0.0.1', service.port)
    try:
        assert len(conn.root.get_camera_frame()) > 100  # base64 JPEG text
        sent = time.monotonic()
        conn.root.set_motors(0.2, 0.2)  # the original's two-argument call, no hold time
        assert wait_until(lambda: motor_off_time(service.hardware, sent) is not None)
        assert motor_off_time(service.hardware, sent) - sent >= 0.2
        assert 'no command arrived' in service.watchdog.stops[-1][1]
    finally:
        conn.close()


def test_motors_stop_when_the_client_disconnects_mid_command(start_service):
    service = start_service(max_hold_s=30.0)
    backend = RpycBackend(config_for(service.port))
    backend.connect()
    backend.apply_motors(0.5, 0.5, hold_s=30.0)
    assert service.hardware.speeds() == (0.5, 0.5)
    gone = time.monotonic()
    backend._conn._channel.stream.sock.close()  # the client process dies: no goodbye
    assert wait_until(lambda: motor_off_time(service.hardware, gone) is not None)
    latency_s = motor_off_time(service.hardware, gone) - gone
    backend.close()  # tidy the dead connection here, not in a garbage collector's thread
    assert service.watchdog.stops[-1][1] == 'the client went away'
    print(f'\nwatchdog: motors off {latency_s * 1000:.1f} ms after the client disconnected')


def test_worst_case_motor_on_time_after_a_silently_lost_link(start_service, cuttable_link):
    """Cut the link mid-hold: the robot stops by itself; the client ends the session."""
    service = start_service(max_hold_s=1.0)
    link = cuttable_link(service.port)
    config = config_for(link.port, call_timeout_s=0.5, reconnect_attempts=2,
                        max_duration_s=2.0)
    robot = JetBotRobot(config)
    robot.connect()
    hold_s = 1.5  # the cut comes early in the hold, whatever the machine's load
    result = {}

    def drive():
        try:
            result['outcome'] = robot.send(MotorCommand(0.3, 0.3, hold_s))
        except BaseException as error:  # noqa: B902 - handed to the test thread
            result['error'] = error

    driver = threading.Thread(target=drive)
    driver.start()
    assert wait_until(lambda: service.hardware.speeds() == (0.3, 0.3))
    last_command = service.hardware.motor_calls[-1][0]  # the hold's call: nothing comes after
    link.go_silent()
    cut = time.monotonic()
    assert wait_until(lambda: motor_off_time(service.hardware, cut) is not None)
    off = motor_off_time(service.hardware, cut)
    driver.join(timeout=SLACK_S + 10)
    robot.close()
    assert service.watchdog.stops[-1][1] == "the command's time is up"
    # the last call that got through carried its time to the next send (the next ramp change
    # or the next re-send, whichever comes first) plus the grace: the robot stops after that
    lease_s = (min(config.ramp_step_s + hold_s, config.resend_interval_s)
               + config.lease_grace_s)
    on_after_last_s = off - last_command
    assert on_after_last_s <= lease_s + SLACK_S
    assert isinstance(result.get('error'), RobotUnreachableError)
    print(f'\nwatchdog: link went silent mid-hold; motors ran {(off - cut) * 1000:.0f} ms after '
          f'the cut, {on_after_last_s * 1000:.0f} ms after the last command that got through '
          f'(its lease: {lease_s * 1000:.0f} ms = re-send interval '
          f'{config.resend_interval_s * 1000:.0f} ms + grace '
          f'{config.lease_grace_s * 1000:.0f} ms, for a {hold_s * 1000:.0f} ms hold; overshoot '
          f'{(on_after_last_s - lease_s) * 1000:.0f} ms)')


def test_a_call_arriving_after_the_watchdog_stopped_the_motors_says_so(start_service):
    service = start_service()
    backend = RpycBackend(config_for(service.port))
    backend.connect()
    backend.apply_motors(0.3, 0.3, hold_s=0.05)  # and then the next call is late
    assert wait_until(lambda: service.hardware.speeds() == (0.0, 0.0))
    with pytest.raises(WatchdogStoppedError, match='lease_grace_s'):
        backend.apply_motors(0.3, 0.3, hold_s=0.05)
    backend.apply_motors(0.0, 0.0, hold_s=0.05)  # reported once; the link stays up
    assert backend.connections_opened == 1
    backend.close()


def test_a_dropped_link_is_reconnected_on_the_next_call(start_service, cuttable_link):
    service = start_service()
    link = cuttable_link(service.port)
    backend = RpycBackend(config_for(link.port))
    backend.connect()
    backend.read_frame()
    link.drop_connections()
    with pytest.raises(LinkLostError, match='lost during get_camera_frame'):
        backend.read_frame()
    assert backend.read_frame().shape == (224, 224, 3)
    assert backend.connections_opened == 2
    backend.close()


def test_robot_read_retries_once_after_a_dropped_link(start_service, cuttable_link):
    service = start_service()
    link = cuttable_link(service.port)
    robot = JetBotRobot(config_for(link.port))
    robot.connect()
    link.drop_connections()
    assert robot.read().pixels.shape == (224, 224, 3)
    robot.close()


def test_an_unreachable_robot_ends_with_a_clear_message_after_backoff(closed_port):
    sleeps = []
    backend = RpycBackend(config_for(closed_port, reconnect_attempts=4,
                                     reconnect_backoff_s=0.5), sleep=sleeps.append)
    with pytest.raises(RobotUnreachableError) as caught:
        backend.connect()
    message = str(caught.value)
    assert f'127.0.0.1:{closed_port} is unreachable' in message
    assert '4 connection attempts' in message and 'robot_service.py' in message
    assert sleeps == [0.5, 1.0, 2.0]


def test_robot_send_on_an_unreachable_robot_raises_and_leaves_no_command_running(closed_port):
    clock = VirtualClock(0)
    robot = JetBotRobot(config_for(closed_port), clock=clock)
    with pytest.raises(RobotUnreachableError):
        robot.send(MotorCommand(0.0, 0.12, 0.2))
    assert not robot.driver.controller.busy


def test_a_shared_secret_admits_the_right_client_only(start_service, tmp_path):
    service = start_service(secret='correct horse')
    good, bad = tmp_path / 'good', tmp_path / 'bad'
    good.write_text('correct horse\n')
    bad.write_text('battery staple\n')
    backend = RpycBackend(config_for(service.port, secret_file=str(good)))
    assert backend.read_frame().shape == (224, 224, 3)
    backend.close()
    calls_before = len(service.hardware.motor_calls)
    intruder = RpycBackend(config_for(service.port, secret_file=str(bad)))
    with pytest.raises(RobotUnreachableError, match='secret'):
        intruder.apply_motors(1.0, 1.0, 1.0)
    assert len(service.hardware.motor_calls) == calls_before


def test_a_secret_the_robot_does_not_ask_for_is_reported(start_service, tmp_path):
    service = start_service()
    secret = tmp_path / 'secret'
    secret.write_text('s3cret')
    backend = RpycBackend(config_for(service.port, secret_file=str(secret),
                                     connect_timeout_s=0.3))
    with pytest.raises(RobotUnreachableError, match='without a secret'):
        backend.connect()


def test_a_hold_longer_than_the_robots_max_hold_is_not_cut_short(start_service):
    service = start_service(max_hold_s=0.6)
    # each send holds 0.2 + 0.35 s: a late re-send has 0.35 s of slack on a loaded machine
    robot = JetBotRobot(config_for(service.port, max_duration_s=2.0, resend_interval_s=0.2,
                                   lease_grace_s=0.35))
    robot.connect()
    outcome = robot.send(MotorCommand(0.2, 0.2, 1.2))  # twice max_hold: the re-sends keep it
    robot.close()
    assert outcome.status == MotorStatus.COMPLETED
    assert not any('time is up' in reason or 'no command' in reason
                   for _, reason in service.watchdog.stops)
