"""Round trips between plain data and message fields, on plain objects and rosbags messages."""

from types import SimpleNamespace

import numpy as np
import pytest

from devrobot_core import conversions
from devrobot_core.conversions import NS_PER_S
from devrobot_core.motor import MotorCommand, MotorOutcome, MotorStatus
from devrobot_core.msg_types import get_devrobot_typestore, IMAGE_TYPE, MOTOR_STATE_TYPE


def namespace(value):
    """Plain nested objects from field dicts: what the read side must accept."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: namespace(v) for k, v in value.items()})
    return value


@pytest.fixture
def pixels():
    return np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize('stamp_ns', [0, 1, 999_999_999, 1_000_000_000, 1_758_490_893_520_000_123])
def test_time_round_trip(stamp_ns):
    fields = conversions.time_fields(stamp_ns)
    assert 0 <= fields['nanosec'] < 1_000_000_000
    assert conversions.ns_from_time(namespace(fields)) == stamp_ns


@pytest.mark.parametrize('duration_s', [0.0, 0.2, 1.5, 12.000000001])
def test_duration_round_trip(duration_s):
    fields = conversions.duration_fields(duration_s)
    assert 0 <= fields['nanosec'] < 1_000_000_000
    seconds = conversions.seconds_from_duration(namespace(fields))
    assert seconds == pytest.approx(duration_s, abs=1e-9)


def test_image_round_trip_on_plain_objects(pixels):
    fields = conversions.array_to_image_fields(pixels, 1_500_000_000, 'cam')
    assert fields['encoding'] == 'rgb8' and fields['step'] == 15
    assert fields['header'] == {'stamp': {'sec': 1, 'nanosec': 500_000_000}, 'frame_id': 'cam'}
    frame = conversions.frame_from_image(namespace(fields))
    np.testing.assert_array_equal(frame.pixels, pixels)
    assert frame.stamp_ns == 1_500_000_000


def test_image_read_side_accepts_bytes_lists_and_padding(pixels):
    height, width = pixels.shape[:2]
    bgr = pixels[:, :, ::-1]
    padded = np.zeros((height, width * 3 + 4), dtype=np.uint8)
    padded[:, :width * 3] = bgr.reshape(height, -1)
    msg = SimpleNamespace(height=height, width=width, encoding='bgr8', step=width * 3 + 4,
                          data=padded.tobytes())
    np.testing.assert_array_equal(conversions.image_to_array(msg), pixels)
    msg.data = list(padded.reshape(-1))
    np.testing.assert_array_equal(conversions.image_to_array(msg), pixels)
    mono = SimpleNamespace(height=1, width=2, encoding='mono8', step=2, data=b'\x07\x09')
    assert conversions.image_to_array(mono).tolist() == [[[7, 7, 7], [9, 9, 9]]]


@pytest.mark.parametrize('change, message', [
    ({'encoding': '16UC1'}, 'unsupported image encoding'),
    ({'step': 2}, 'shorter than a row'),
    ({'data': b'\x00' * 7}, 'needs 90'),
    ({'height': 0}, 'no pixels'),
])
def test_malformed_images_are_named(pixels, change, message):
    fields = conversions.array_to_image_fields(pixels, 0)
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        conversions.image_to_array(namespace(fields))


def test_array_to_image_fields_refuses_non_rgb8():
    with pytest.raises(ValueError, match='uint8'):
        conversions.array_to_image_fields(np.zeros((4, 4), dtype=np.uint8), 0)
    with pytest.raises(ValueError, match='uint8'):
        conversions.array_to_image_fields(np.zeros((4, 4, 3), dtype=np.float32), 0)


def test_motor_messages_round_trip_through_rosbags_cdr():
    store = get_devrobot_typestore()
    classes = conversions.rosbags_message_classes(store)
    command = MotorCommand(0.0, 0.12, 0.2, 1_000_000_007)
    outcome = MotorOutcome(command, 0.0, 0.1, 1_100_000_000, 1_300_000_001,
                           MotorStatus.PREEMPTED, 'a newer command arrived')
    raw = store.serialize_cdr(conversions.build_motor_state(classes, outcome), MOTOR_STATE_TYPE)
    decoded = store.deserialize_cdr(raw, MOTOR_STATE_TYPE)
    assert conversions.motor_outcome_from_msg(decoded) == outcome  # float32 values read back
    assert decoded.header.stamp.sec == 1 and decoded.header.stamp.nanosec == 300_000_001
    assert conversions.motor_command_from_msg(namespace(
        conversions.motor_command_fields(command))) == command


def test_unknown_status_is_an_error():
    fields = conversions.motor_state_fields(MotorOutcome(
        MotorCommand(0, 0, 0.2), 0, 0, 0, 1, MotorStatus.COMPLETED))
    fields['status'] = 9
    with pytest.raises(ValueError, match='unknown MotorState status 9'):
        conversions.motor_outcome_from_msg(namespace(fields))


def test_image_round_trips_through_rosbags_cdr(pixels):
    store = get_devrobot_typestore()
    classes = conversions.rosbags_message_classes(store)
    msg = conversions.build_image(classes, pixels, 42, 'camera_optical_frame')
    decoded = store.deserialize_cdr(store.serialize_cdr(msg, IMAGE_TYPE), IMAGE_TYPE)
    frame = conversions.frame_from_image(decoded)
    np.testing.assert_array_equal(frame.pixels, pixels)
    assert frame.stamp_ns == 42 and decoded.header.frame_id == 'camera_optical_frame'


def test_builders_accept_real_ros_classes_shape():
    """build_* only call the given classes with keywords: a stand-in proves the contract."""
    def record(kind):
        return lambda **fields: SimpleNamespace(kind=kind, **fields)

    classes = conversions.MessageClasses(
        image=record('Image'), header=record('Header'), time=record('Time'),
        duration=record('Duration'), motor_command=record('MotorCommand'),
        motor_state=record('MotorState'), byte_array=bytes)
    outcome = MotorOutcome(MotorCommand(0.5, -0.5, 1.0, 3), 0.5, -0.5, 4, 5,
                           MotorStatus.COMPLETED)
    state = conversions.build_motor_state(classes, outcome)
    assert state.kind == 'MotorState' and state.command.duration.kind == 'Duration'
    assert conversions.motor_outcome_from_msg(state) == outcome
    image = conversions.build_image(classes, np.zeros((2, 2, 3), np.uint8), 7)
    assert isinstance(image.data, bytes) and image.header.stamp.kind == 'Time'


def test_real_ros_classes_when_ros_is_installed(pixels):
    pytest.importorskip('sensor_msgs.msg')
    pytest.importorskip('devrobot_interfaces.msg')
    classes = conversions.ros_message_classes()
    image = conversions.build_image(classes, pixels, 5)
    np.testing.assert_array_equal(conversions.image_to_array(image), pixels)


def _command_msg(left=0.0, right=0.12, sec=0, nanosec=200_000_000, stamp=(1, 0)):
    return SimpleNamespace(left=left, right=right,
                           duration=SimpleNamespace(sec=sec, nanosec=nanosec),
                           header=SimpleNamespace(stamp=SimpleNamespace(sec=stamp[0],
                                                                        nanosec=stamp[1])))


def _state_msg(status=0, **command):
    fields = conversions.motor_state_fields(MotorOutcome(
        MotorCommand(0, 0.12, 0.2), 0, 0.12, 0, 1, MotorStatus.COMPLETED))
    msg = namespace(fields)
    msg.command, msg.status = _command_msg(**command), status
    return msg


NAN, INF = float('nan'), float('inf')
GOOD_IMAGE = {'height': 2, 'width': 2, 'encoding': 'rgb8', 'step': 6, 'data': bytes(12)}
MALFORMED_FIELDS = [
    # write side: plain data -> fields
    ('time NaN', conversions.time_fields, (NAN,)),
    ('time inf', conversions.time_fields, (INF,)),
    ('time None', conversions.time_fields, (None,)),
    ('time a string', conversions.time_fields, ('12',)),
    ('time negative', conversions.time_fields, (-1,)),
    ('time past 2038', conversions.time_fields, (2 ** 31 * 10 ** 9,)),
    ('duration NaN', conversions.duration_fields, (NAN,)),
    ('duration inf', conversions.duration_fields, (INF,)),
    ('duration None', conversions.duration_fields, (None,)),
    ('duration negative', conversions.duration_fields, (-0.25,)),
    ('header frame_id not a string', conversions.header_fields, (0, 7)),
    ('command NaN speed', conversions.motor_command_fields, (MotorCommand(NAN, 0, 0.2),)),
    ('command inf speed', conversions.motor_command_fields, (MotorCommand(0, INF, 0.2),)),
    ('command None speed', conversions.motor_command_fields, (MotorCommand(None, 0, 0.2),)),
    ('command negative duration', conversions.motor_command_fields,
     (MotorCommand(0, 0, -0.2),)),
    ('state status 9', conversions.motor_state_fields,
     (MotorOutcome(MotorCommand(0, 0, 0.2), 0, 0, 0, 1, 9),)),
    ('state status None', conversions.motor_state_fields,
     (MotorOutcome(MotorCommand(0, 0, 0.2), 0, 0, 0, 1, None),)),
    ('state NaN applied speed', conversions.motor_state_fields,
     (MotorOutcome(MotorCommand(0, 0, 0.2), NAN, 0, 0, 1, MotorStatus.COMPLETED),)),
    ('state reason not a string', conversions.motor_state_fields,
     (MotorOutcome(MotorCommand(0, 0, 0.2), 0, 0, 0, 1, MotorStatus.COMPLETED, None),)),
    ('image a list', conversions.array_to_image_fields, ([[[0, 0, 0]]], 0)),
    ('image None', conversions.array_to_image_fields, (None, 0)),
    ('image float', conversions.array_to_image_fields, (np.zeros((2, 2, 3)), 0)),
    ('image rgba', conversions.array_to_image_fields, (np.zeros((2, 2, 4), np.uint8), 0)),
    ('image empty', conversions.array_to_image_fields, (np.zeros((0, 2, 3), np.uint8), 0)),
    ('image NaN stamp', conversions.array_to_image_fields, (np.zeros((2, 2, 3), np.uint8), NAN)),
    # read side: message fields -> plain data
    ('read nanosec 1e9', conversions.ns_from_time, (SimpleNamespace(sec=0, nanosec=10 ** 9),)),
    ('read nanosec negative', conversions.ns_from_time, (SimpleNamespace(sec=0, nanosec=-1),)),
    ('read sec negative', conversions.ns_from_time, (SimpleNamespace(sec=-1, nanosec=0),)),
    ('read sec a float', conversions.ns_from_time, (SimpleNamespace(sec=1.5, nanosec=0),)),
    ('read sec None', conversions.ns_from_time, (SimpleNamespace(sec=None, nanosec=0),)),
    ('read time lacks nanosec', conversions.ns_from_time, (SimpleNamespace(sec=1),)),
    ('read command NaN', conversions.motor_command_from_msg, (_command_msg(left=NAN),)),
    ('read command inf', conversions.motor_command_from_msg, (_command_msg(right=-INF),)),
    ('read command None', conversions.motor_command_from_msg, (_command_msg(left=None),)),
    ('read command a string', conversions.motor_command_from_msg, (_command_msg(left='0'),)),
    ('read command negative duration', conversions.motor_command_from_msg,
     (_command_msg(sec=-1, nanosec=800_000_000),)),
    ('read command nanosec 1e9', conversions.motor_command_from_msg,
     (_command_msg(nanosec=10 ** 9),)),
    ('read state status 9', conversions.motor_outcome_from_msg, (_state_msg(status=9),)),
    ('read state status -1', conversions.motor_outcome_from_msg, (_state_msg(status=-1),)),
    ('read state status None', conversions.motor_outcome_from_msg, (_state_msg(status=None),)),
    ('read state status a string', conversions.motor_outcome_from_msg, (_state_msg(status='0'),)),
    ('read state NaN command', conversions.motor_outcome_from_msg, (_state_msg(left=NAN),)),
    ('read image data a string', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data='x' * 12)),)),
    ('read image data float array', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data=np.zeros(12))),)),
    ('read image data 300', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data=[300] * 12)),)),
    ('read image data -1', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data=[-1] * 12)),)),
    ('read image data floats in a list', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data=[1.5] * 12)),)),
    ('read image data None', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, data=None)),)),
    ('read image height None', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, height=None)),)),
    ('read image width a float', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, width=2.0)),)),
    ('read image encoding None', conversions.image_to_array,
     (namespace(dict(GOOD_IMAGE, encoding=None)),)),
    ('read image lacks data', conversions.image_to_array,
     (SimpleNamespace(height=2, width=2, encoding='rgb8', step=6),)),
    ('read image not an image', conversions.frame_from_image, (_command_msg(),)),
]


@pytest.mark.parametrize('name, function, args', MALFORMED_FIELDS,
                         ids=[name for name, _, _ in MALFORMED_FIELDS])
def test_every_malformed_field_raises_value_error_and_only_that(name, function, args):
    with pytest.raises(Exception) as caught:
        function(*args)
    assert type(caught.value) is ValueError, f'{name}: {type(caught.value).__name__}'
    assert str(caught.value) and '\n' not in str(caught.value)


def test_the_good_fields_of_the_malformed_table_do_convert():
    assert conversions.motor_command_from_msg(_command_msg()) == \
        MotorCommand(0.0, 0.12, 0.2, NS_PER_S)
    assert conversions.motor_outcome_from_msg(_state_msg()).status is MotorStatus.COMPLETED
    assert conversions.image_to_array(namespace(GOOD_IMAGE)).shape == (2, 2, 3)
    assert conversions.time_fields(2 ** 31 * NS_PER_S - 1)['sec'] == 2 ** 31 - 1
