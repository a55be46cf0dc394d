"""The rclpy test double behaves like rclpy where node shells can tell, and cannot drift."""

import array
import re
from pathlib import Path

import numpy as np
import pytest
from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.messages import message_class, service_class, to_rosbags

from devrobot_core.msg_types import get_devrobot_typestore

MSG_DIR = Path(__file__).resolve().parents[2] / 'devrobot_interfaces' / 'msg'
USED_TYPES = [
    'sensor_msgs/msg/Image', 'std_msgs/msg/Header', 'std_msgs/msg/Float32',
    'std_msgs/msg/Float32MultiArray', 'std_msgs/msg/String', 'std_msgs/msg/Empty',
    'builtin_interfaces/msg/Time', 'builtin_interfaces/msg/Duration',
    'diagnostic_msgs/msg/DiagnosticArray', 'diagnostic_msgs/msg/DiagnosticStatus',
    'diagnostic_msgs/msg/KeyValue', 'rcl_interfaces/msg/ParameterDescriptor',
    'rcl_interfaces/msg/SetParametersResult', 'devrobot_interfaces/msg/MotorCommand',
    'devrobot_interfaces/msg/MotorState',
]


def _fields_in_msg_file(path: Path) -> list:
    """Field names of a .msg file, read independently of rosbags (constants skipped)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and '=' not in line:
            names.append(line.split()[1])
    return names


@pytest.mark.parametrize('full_name', USED_TYPES)
def test_fake_messages_have_the_typestore_fields(full_name):
    _constants, field_defs = get_devrobot_typestore().fielddefs[full_name]
    expected = [name for name, _ in field_defs
                if name != 'structure_needs_at_least_one_member']
    assert list(message_class(full_name).get_fields_and_field_types()) == expected


@pytest.mark.parametrize('name', ['MotorCommand', 'MotorState'])
def test_devrobot_fakes_follow_the_msg_files(name):
    cls = message_class(f'devrobot_interfaces/msg/{name}')
    assert list(cls.get_fields_and_field_types()) == _fields_in_msg_file(MSG_DIR / f'{name}.msg')
    for match in re.finditer(r'^uint8 (STATUS_\w+)=(\d+)', (MSG_DIR / f'{name}.msg').read_text(),
                             re.MULTILINE):
        assert getattr(cls, match.group(1)) == int(match.group(2))


def test_a_filled_message_round_trips_through_the_typestore():
    image_class = message_class('sensor_msgs/msg/Image')
    header = message_class('std_msgs/msg/Header')(frame_id='camera_optical_frame')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    image = image_class(header=header, height=2, width=3, encoding='rgb8', step=9,
                        data=bytes(range(18)))
    store = get_devrobot_typestore()
    raw = store.serialize_cdr(to_rosbags(image), 'sensor_msgs/msg/Image')
    back = store.deserialize_cdr(raw, 'sensor_msgs/msg/Image')
    assert back.header.stamp.nanosec == 345 and back.encoding == 'rgb8'
    assert bytes(back.data) == bytes(range(18))


def test_setters_are_as_strict_as_rosidl():
    command = message_class('devrobot_interfaces/msg/MotorCommand')(left=0.5)
    with pytest.raises(AssertionError):
        command.right = 1  # an int in a float32 field
    with pytest.raises(AssertionError):
        message_class('devrobot_interfaces/msg/MotorCommand')(speed=1.0)
    with pytest.raises(AttributeError):
        command.lefft = 0.1
    with pytest.raises(AssertionError):
        command.duration = message_class('builtin_interfaces/msg/Time')()
    state = message_class('devrobot_interfaces/msg/MotorState')()
    with pytest.raises(AssertionError):
        state.status = 256  # uint8
    image = message_class('sensor_msgs/msg/Image')()
    assert isinstance(image.data, array.array) and image.data.typecode == 'B'
    image.data = np.arange(4, dtype=np.uint8).tobytes()
    assert list(image.data) == [0, 1, 2, 3]
    with pytest.raises(AssertionError):
        image.data = [300]


def test_service_types_have_request_and_response():
    trigger = service_class('std_srvs/srv/Trigger')
    assert list(trigger.Request.get_fields_and_field_types()) == []
    assert list(trigger.Response.get_fields_and_field_types()) == ['success', 'message']


@pytest.fixture
def ros(monkeypatch):
    return rclpy_double.install(monkeypatch)


def test_parameters_are_typed_like_rclpy(ros):
    import rclpy
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.node import Node
    rclpy.init(args=None)
    ros.overrides['typed'] = {'rate_hz': 2, 'name': 'x'}  # `2` in a YAML is an integer
    node = Node('typed')
    assert node.get_parameter('use_sim_time').value is False
    with pytest.raises(rclpy_double.InvalidParameterTypeException):
        node.declare_parameter('rate_hz', 1.0, ParameterDescriptor(description='a double'))
    assert node.declare_parameter('name', 'y').value == 'x'
    assert node.declare_parameter('sizes', [1.0, 2.0]).value == [1.0, 2.0]
    with pytest.raises(rclpy_double.ParameterAlreadyDeclaredException):
        node.declare_parameter('use_sim_time', True)
    with pytest.raises(rclpy_double.ParameterNotDeclaredException):
        node.get_parameter('missing')
    empty = node.declare_parameter('empty', [])
    assert empty.type_ is rclpy_double.Parameter.Type.BYTE_ARRAY  # rclpy's own surprise


def test_on_set_callbacks_run_at_declaration_and_at_runtime(ros):
    import rclpy
    from rcl_interfaces.msg import SetParametersResult
    from rclpy.node import Node
    rclpy.init()
    node = Node('checked')
    seen = []

    def validate(parameters):
        seen.extend(p.name for p in parameters)
        bad = [p.name for p in parameters if p.name == 'gain' and p.value < 0]
        return SetParametersResult(successful=not bad, reason=f'negative: {bad}' if bad else '')

    node.add_on_set_parameters_callback(validate)
    node.declare_parameter('gain', 1.0)
    assert seen == ['gain']
    result, = ros.set_parameters('checked', {'gain': -1.0})
    assert not result.successful and 'negative' in result.reason
    assert node.get_parameter('gain').value == 1.0
    result, = ros.set_parameters('checked', {'gain': 3})
    assert not result.successful and result.reason.startswith('Wrong parameter type')
    assert ros.set_parameters('checked', {'gain': 2.0})[0].successful
    assert node.get_parameter('gain').value == 2.0


def test_graph_delivers_messages_fires_timers_and_calls_services(ros):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data, ReliabilityPolicy
    from std_msgs.msg import String
    from std_srvs.srv import Trigger
    rclpy.init()
    talker, listener = Node('talker'), Node('listener')
    publisher = talker.create_publisher(String, 'chatter', 10)
    heard, ticks = [], []
    listener.create_subscription(String, '/chatter', heard.append, qos_profile_sensor_data)
    talker.create_timer(0.5, lambda: publisher.publish(String(data=f'{len(ticks)}'))
                        or ticks.append(ros.now_ns))
    assert ros.advance(1.2) == 2
    assert [m.data for m in heard] == ['0', '1']
    assert ticks[1] - ticks[0] == 500_000_000
    assert publisher.qos_profile.reliability == ReliabilityPolicy.RELIABLE
    assert ros.subscriptions_on('chatter')[0].qos_profile.reliability == \
        ReliabilityPolicy.BEST_EFFORT
    with pytest.raises(TypeError):
        publisher.publish(Trigger.Request())

    def answer(request, response):
        response.success, response.message = True, 'ok'
        return response

    talker.create_service(Trigger, 'accept', answer)
    assert ros.call_service('/accept', Trigger.Request()).message == 'ok'
    with pytest.raises(KeyboardInterrupt):
        rclpy.spin(talker)
    talker.destroy_node()
    assert ros.advance(5.0) == 0 and 'talker' in ros.destroyed
    rclpy.try_shutdown()
    rclpy.try_shutdown()
    assert not rclpy.ok() and ros.shutdown_calls == 1


def test_install_is_undone_after_the_test():
    import sys
    before = sys.modules.get('rclpy')
    with rclpy_double.installed() as ros:
        import rclpy
        assert rclpy is not before
        rclpy.init()
        assert ros.initialized
    assert sys.modules.get('rclpy') is before


def test_params_file_values_keep_their_yaml_types(ros, tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('sim_node:\n  ros__parameters:\n    rate_hz: 2\n    scale: 2.0\n'
                    '    nested:\n      depth: 3\n')
    ros.load_params_file(path)
    assert ros.parameter_overrides_for('sim_node') == {'rate_hz': 2, 'scale': 2.0,
                                                       'nested.depth': 3}


def test_byte_fields_are_bytes_like_rosidl():
    status_class = message_class('diagnostic_msgs/msg/DiagnosticStatus')
    assert status_class.WARN == b'\x01'
    status = status_class(level=status_class.WARN, name='world_model')
    with pytest.raises(AssertionError):
        status.level = 1  # rosidl refuses an int in a `byte` field
    status.values = [message_class('diagnostic_msgs/msg/KeyValue')(key='k', value='1.5')]
    array_msg = message_class('diagnostic_msgs/msg/DiagnosticArray')(status=[status])
    store = get_devrobot_typestore()
    raw = store.serialize_cdr(to_rosbags(array_msg), 'diagnostic_msgs/msg/DiagnosticArray')
    back = store.deserialize_cdr(raw, 'diagnostic_msgs/msg/DiagnosticArray')
    assert back.status[0].level == 1 and back.status[0].values[0].value == '1.5'


def test_qos_that_dds_would_not_match_delivers_nothing(ros):
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import String
    rclpy.init()
    node = Node('qos')
    best_effort = node.create_publisher(String, 'a', qos_profile_sensor_data)
    reliable = node.create_publisher(String, 'b', 10)
    heard = []
    node.create_subscription(String, 'a', heard.append,
                             QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(String, 'b', heard.append, qos_profile_sensor_data)
    best_effort.publish(String(data='lost'))
    reliable.publish(String(data='heard'))
    ros.spin_until_idle()
    assert [m.data for m in heard] == ['heard']


@pytest.mark.parametrize('name', ['', 'a//b', 'a/', '1a', 'a/2b', 'a__b', 'a-b', 'a b'])
def test_invalid_topic_names_are_refused_like_rcl(ros, name):
    import rclpy
    from rclpy.exceptions import InvalidTopicNameException
    from rclpy.node import Node
    from std_msgs.msg import String
    rclpy.init()
    with pytest.raises(InvalidTopicNameException):
        Node('names').create_publisher(String, name, 10)


@pytest.mark.parametrize('name', ['a', '/a/b_1', '~/a', 'world_model/metrics/train/loss'])
def test_valid_topic_names_pass(ros, name):
    import rclpy
    from rclpy.node import Node
    from std_msgs.msg import String
    rclpy.init()
    Node('names').create_publisher(String, name, 10)
