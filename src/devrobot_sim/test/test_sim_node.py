"""The simulator node, run through the rclpy test double: every callback path."""

import numpy as np
import pytest
from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.messages import to_rosbags

from devrobot_core.conversions import (build_motor_command, image_to_array,
                                       motor_outcome_from_msg, ros_message_classes)
from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_core.msg_types import get_devrobot_typestore


@pytest.fixture
def ros(monkeypatch):
    return rclpy_double.install(monkeypatch)


@pytest.fixture
def sim_node(ros, monkeypatch):
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_sim.sim_node')
    import rclpy
    rclpy.init()
    ros.overrides['sim_node'] = {'seed': 5, 'idle_rate_hz': 4.0}
    return module


def _send(ros, command: MotorCommand):
    msg = build_motor_command(ros_message_classes(), command.stamped(ros.now_ns))
    assert ros.deliver('motor/command', msg) == 1


def _states(ros):
    return [motor_outcome_from_msg(m) for m in ros.messages('motor/state')]


def test_idle_images_are_rgb8_reliable_and_exactly_typed(ros, sim_node):
    from rclpy.qos import ReliabilityPolicy
    node = sim_node.SimNode()
    assert ros.advance(1.0) == 4
    images = ros.messages('camera/image_raw')
    assert len(images) == 4
    first = images[0]
    assert first.encoding == 'rgb8' and first.header.frame_id == 'camera_optical_frame'
    assert image_to_array(first).shape == (224, 224, 3)
    store = get_devrobot_typestore()
    store.serialize_cdr(to_rosbags(first), 'sensor_msgs/msg/Image')  # exactly the real fields
    for publisher in node.publishers:
        assert publisher.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert {s.topic_name for s in node.subscriptions} == {'motor/command'}


def test_a_command_completes_then_its_state_and_the_new_image_are_published(ros, sim_node):
    node = sim_node.SimNode()
    stay, move = node.sim.world.action_space
    ros.advance(0.1)  # before the first idle tick
    before = node.sim.world.render()
    _send(ros, move)
    assert ros.advance(0.1) == 0  # the command runs; no idle image meanwhile
    assert ros.advance(0.15) >= 1
    state, = _states(ros)
    assert state.status is MotorStatus.COMPLETED and state.command.same_action(move)
    assert state.end_ns - state.start_ns == 200_000_000
    image = ros.messages('camera/image_raw')[0]
    assert image.header.stamp.sec * 10 ** 9 + image.header.stamp.nanosec == state.end_ns
    assert np.array_equal(image_to_array(image), np.roll(before, 27, axis=1))
    store = get_devrobot_typestore()
    store.serialize_cdr(to_rosbags(ros.messages('motor/state')[0]),
                        'devrobot_interfaces/msg/MotorState')


def test_preemption_and_rejection_each_publish_a_state(ros, sim_node):
    node = sim_node.SimNode()
    stay, move = node.sim.world.action_space
    _send(ros, move)
    ros.advance(0.05)
    _send(ros, MotorCommand(0.3, 0.3, 0.2))
    _send(ros, stay)
    ros.advance(0.3)
    statuses = [s.status for s in _states(ros)]
    assert statuses == [MotorStatus.REJECTED_INVALID, MotorStatus.PREEMPTED,
                        MotorStatus.COMPLETED]
    assert 'action space' in _states(ros)[0].reason
    assert len(node.timers) == 2  # the idle timer and the last command's


def test_shutdown_reports_the_running_command_as_stopped(ros, sim_node):
    node = sim_node.SimNode()
    node.close()  # nothing running: nothing published
    assert ros.messages('motor/state') == []
    _send(ros, node.sim.world.action_space[1])
    node.close()
    assert _states(ros)[-1].status is MotorStatus.STOPPED


def test_no_idle_images_when_the_rate_is_zero(ros, sim_node):
    ros.overrides['sim_node']['idle_rate_hz'] = 0.0
    node = sim_node.SimNode()
    ros.advance(3.0)
    assert ros.messages('camera/image_raw') == [] and len(node.timers) == 0


def test_world_parameters_come_from_overrides(ros, sim_node):
    ros.overrides['sim_node'].update({'image_size': 64, 'dot_radius': 2, 'move_pixels': 7})
    node = sim_node.SimNode()
    assert node.sim.world.config.move_pixels == 7
    assert node.get_parameter('image_size').value == 64
    assert node.describe_parameter('dot_radius').read_only


def test_main_spins_until_ctrl_c_then_cleans_up(ros, sim_node):
    import rclpy
    rclpy.shutdown()  # main() initialises by itself
    assert sim_node.main([]) == 0
    assert ros.destroyed == ['sim_node'] and not rclpy.ok()


@pytest.mark.parametrize('override', [{'duration_s': 1}, {'dot_radius': 500}])
def test_main_refuses_bad_parameters_with_one_line(ros, sim_node, override, capsys):
    import rclpy
    rclpy.shutdown()
    ros.overrides['sim_node'].update(override)
    assert sim_node.main([]) == 2
    assert capsys.readouterr().err.startswith('error: ')
    assert not rclpy.ok()
