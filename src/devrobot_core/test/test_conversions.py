"""Round trips between plain data and message fields, on plain objects and rosbags messages."""

from types import SimpleNamespace

import numpy as np
import pytest

from devrobot_core import conversions
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


@pytest.mark.parametrize('duration_s', [0.0, 0.2, 1.5, 12.000000001, -0.25])
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
