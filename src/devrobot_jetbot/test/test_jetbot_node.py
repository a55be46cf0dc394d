"""The JetBot node shell through the rclpy test double, on the mock and on a loopback robot."""

import time

from devrobot_core.conversions import (build_motor_command, image_to_array,
                                       motor_outcome_from_msg, ros_message_classes)
from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_core.msg_types import get_devrobot_typestore
from devrobot_jetbot.backend import LinkLostError
import pytest
from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.messages import to_rosbags

WAIT_S = 10.0  # the driver runs on its own thread in real time


@pytest.fixture
def ros(monkeypatch):
    return rclpy_double.install(monkeypatch)


@pytest.fixture
def node_module(ros, monkeypatch):
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_jetbot.jetbot_node')
    import rclpy
    rclpy.init()
    return module


@pytest.fixture
def make_node(node_module):
    made = []

    def make(**parameters):
        from devrobot_core.testing.rclpy_double.runtime import current_graph
        current_graph().overrides['jetbot_node'] = parameters
        node = node_module.JetBotNode()
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


def send(ros, command):
    """Deliver a command stamped now (the driver checks stamps against the wall clock)."""
    msg = build_motor_command(ros_message_classes(), command.stamped(time.time_ns()))
    assert ros.deliver('motor/command', msg) == 1


def states(ros, count):
    deadline = time.monotonic() + WAIT_S
    while len(ros.messages('motor/state')) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return [motor_outcome_from_msg(m) for m in ros.messages('motor/state')]


def test_images_are_published_at_the_configured_rate_as_rgb8(ros, make_node):
    make_node(backend='mock', camera_rate_hz=4.0)
    assert ros.advance(1.0) == 4
    images = ros.messages('camera/image_raw')
    assert len(images) == 4 and images[0].encoding == 'rgb8'
    assert image_to_array(images[0]).shape == (224, 224, 3)
    get_devrobot_typestore().serialize_cdr(to_rosbags(images[0]), 'sensor_msgs/msg/Image')


def test_commands_run_ramped_and_every_outcome_is_published(ros, make_node):
    node = make_node(backend='mock', max_speed=0.5)
    send(ros, MotorCommand(0.0, 0.9, 0.05))
    (done,) = states(ros, 1)
    assert done.status == MotorStatus.COMPLETED and done.right == 0.5  # clamped
    rights = [right for _, _, right, _ in node.backend.motor_calls]
    # wall-clock steps: a late wake-up may skip ramp values, never pass the limit
    assert all(0.0 <= right <= 0.5 for right in rights) and rights[-1] == 0.0
    send(ros, MotorCommand(0.0, 0.2, 0.05))
    stale = MotorCommand(0.0, 0.2, 0.05).stamped(time.time_ns() - 10 ** 10)  # 10 s old
    ros.deliver('motor/command', build_motor_command(ros_message_classes(), stale))
    outcomes = states(ros, 3)
    assert sorted(o.status for o in outcomes[1:]) == [MotorStatus.COMPLETED,
                                                      MotorStatus.REJECTED_STALE]
    assert 'old' in next(o.reason for o in outcomes if o.status == MotorStatus.REJECTED_STALE)
    get_devrobot_typestore().serialize_cdr(to_rosbags(ros.messages('motor/state')[-1]),
                                           'devrobot_interfaces/msg/MotorState')


def test_each_completed_command_is_followed_by_a_frame_taken_after_it(ros, make_node):
    make_node(backend='mock', camera_rate_hz=0.5)  # no periodic frame during the test
    send(ros, MotorCommand(0.0, 0.3, 0.05))
    (done,) = states(ros, 1)
    deadline = time.monotonic() + WAIT_S
    while not ros.messages('camera/image_raw') and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(ros.messages('camera/image_raw')) == 1
    assert done.status == MotorStatus.COMPLETED
    # published in this order (nothing was spun, so the graph still holds them in order)
    assert [topic for topic, _ in ros.pending] == ['motor/state', 'camera/image_raw']


def test_a_bad_camera_frame_is_skipped_with_a_warning(ros, make_node):
    node = make_node(backend='mock', camera_rate_hz=4.0)
    real_read = node.backend.read_frame
    failures = [ValueError('camera frame is not a decodable JPEG'), LinkLostError('wifi')]

    def flaky_read():
        if failures:
            raise failures.pop(0)
        return real_read()

    node.backend.read_frame = flaky_read
    assert ros.advance(1.0) == 4
    assert len(ros.messages('camera/image_raw')) == 2
    warnings = [text for _, level, text in ros.logs if 'camera frame lost' in text]
    assert len(warnings) == 2 and 'JPEG' in warnings[0]


def test_shutdown_stops_a_running_command(ros, make_node):
    node = make_node(backend='mock', max_duration_s=30.0)
    send(ros, MotorCommand(0.3, 0.3, 20.0))
    deadline = time.monotonic() + WAIT_S
    while node.backend.speeds() != (0.3, 0.3) and time.monotonic() < deadline:
        time.sleep(0.005)
    node.close()
    (stopped,) = states(ros, 1)
    assert stopped.status == MotorStatus.STOPPED and 'shutting down' in stopped.reason
    assert node.backend.speeds() == (0.0, 0.0)


def test_the_node_drives_a_real_robot_service_over_loopback(ros, make_node, start_service):
    service = start_service()
    make_node(host='127.0.0.1', port=service.port, camera_rate_hz=2.0)
    ros.advance(0.5)
    image = image_to_array(ros.messages('camera/image_raw')[0])
    assert image[:, -20:, 0].mean() > image[:, :20, 0].mean() + 150  # the mock's red ramp
    send(ros, MotorCommand(0.0, 0.12, 0.1))
    (done,) = states(ros, 1)
    assert done.status == MotorStatus.COMPLETED
    assert max(right for _, _, right in service.hardware.motor_calls) == pytest.approx(0.12)
    assert service.hardware.speeds() == (0.0, 0.0)


def test_a_robot_lost_for_good_shuts_the_node_down(ros, make_node, start_service):
    import rclpy
    service = start_service()
    node = make_node(host='127.0.0.1', port=service.port, reconnect_attempts=2,
                     reconnect_backoff_s=0.01)
    service.close()  # the robot goes away: its port now refuses connections
    send(ros, MotorCommand(0.0, 0.12, 0.2))
    deadline = time.monotonic() + WAIT_S
    while rclpy.ok() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not rclpy.ok()
    assert any('unreachable' in text for _, _, text in ros.logs)
    assert not node.driver.controller.busy


def test_an_unreachable_robot_at_start_is_one_clear_line(ros, monkeypatch, closed_port,
                                                         capsys):
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_jetbot.jetbot_node')
    ros.overrides['jetbot_node'] = {'host': '127.0.0.1', 'port': closed_port,
                                    'reconnect_attempts': 1}
    assert module.main([]) == 1
    assert 'is unreachable' in capsys.readouterr().err
    assert not ros.initialized  # rclpy was shut down on the way out


def test_a_missing_host_is_one_clear_line(ros, monkeypatch, capsys):
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_jetbot.jetbot_node')
    assert module.main([]) == 2
    assert '--host' in capsys.readouterr().err


def test_the_bringup_parameter_file_configures_the_node(ros, node_module):
    from pathlib import Path
    params = Path(__file__).resolve().parents[2] / 'devrobot_bringup' / 'config' / 'jetbot.yaml'
    ros.load_params_file(params)
    declared = set(ros.overrides['jetbot_node'])
    ros.overrides['jetbot_node']['backend'] = 'mock'  # the launch file passes host and backend
    node = node_module.JetBotNode()
    try:
        fields = set(node.config.__dataclass_fields__) | set(node.node_config.__dataclass_fields__)
        assert declared <= fields, f'unknown keys: {declared - fields}'
        assert [c.right for c in node.config.parsed_action_space()] == [0.0, 0.12]
        world_model = ros.overrides['world_model']
        assert world_model['action_space'] == node.config.action_space
        assert world_model['robot_type'] == 'jetbot'
    finally:
        node.close()
