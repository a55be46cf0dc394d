"""Conversions between devrobot's plain data and ROS message fields, as free functions.

The read side only reads attributes (`msg.height`, `msg.header.stamp.sec`, ...), so it accepts
real rclpy messages, rosbags messages and plain test objects alike. The write side returns plain
field dicts, and the `build_*` functions turn them into messages of whichever classes they are
given (`MessageClasses`): rosbags classes to write bags, rclpy classes in node shells.

Both sides check every field they convert and raise ValueError, and only ValueError, naming it:
NaN, infinite or missing speeds, negative durations, times outside ROS time (`sec` an int32,
`nanosec` in [0, 1e9)), unknown status values, wrongly typed or shaped images. A node shell or
a bag reader catches that one type and drops the message with the reason.
"""

from __future__ import annotations

import array
import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus

NS_PER_S = 1_000_000_000
MAX_SEC = 2**31 - 1  # builtin_interfaces Time and Duration hold seconds in an int32
CAMERA_FRAME_ID = 'camera_optical_frame'


def _value_errors(function):
    """Turn the TypeError, AttributeError or OverflowError of a malformed field into ValueError.

    `int(None)`, `msg.height` on the wrong message and `float('inf')` as an int raise those;
    callers catch one type.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (TypeError, AttributeError, OverflowError) as error:
            raise ValueError(f'{function.__name__}: malformed field ({error})') from None
    return wrapper


def _integer(value, name: str) -> int:
    """An int (numpy ints too; not a bool, not a float): a time field or a count."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    return int(value)


def _finite(value, name: str) -> float:
    """A finite float from a number (not None, not a string, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f'{name} must be a number, got {value!r}')
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value}')
    return float(value)


# encoding -> (channels, channel order that gives rgb): the encodings a camera is likely to send.
_ENCODINGS = {
    'rgb8': (3, (0, 1, 2)),
    'bgr8': (3, (2, 1, 0)),
    'rgba8': (4, (0, 1, 2)),
    'bgra8': (4, (2, 1, 0)),
    'mono8': (1, (0, 0, 0)),
}


# ---------------------------------------------------------------- time


@_value_errors
def time_fields(stamp_ns: int) -> dict:
    """`builtin_interfaces/Time` fields of a time in integer nanoseconds (0 to 2**31 s)."""
    if isinstance(stamp_ns, (float, np.floating)):
        stamp_ns = int(_finite(stamp_ns, 'stamp_ns'))
    sec, nanosec = divmod(_integer(stamp_ns, 'stamp_ns'), NS_PER_S)
    if not 0 <= sec <= MAX_SEC:
        raise ValueError(f'stamp {stamp_ns} ns is outside ROS time [0, 2**31 s)')
    return {'sec': sec, 'nanosec': nanosec}


@_value_errors
def duration_fields(duration_s: float) -> dict:
    """`builtin_interfaces/Duration` fields of a duration in float seconds (0 to 2**31 s)."""
    duration_s = _finite(duration_s, 'duration_s')
    if not 0 <= duration_s <= MAX_SEC:
        raise ValueError(f'duration {duration_s} s is outside [0, 2**31 s)')
    sec, nanosec = divmod(int(round(duration_s * NS_PER_S)), NS_PER_S)
    return {'sec': sec, 'nanosec': nanosec}


@_value_errors
def ns_from_time(stamp) -> int:
    """Integer nanoseconds of anything with `sec` and `nanosec` (Time or Duration).

    ValueError for a negative `sec` (a time before 1970, a negative duration) and for `nanosec`
    outside [0, 1e9).
    """
    sec, nanosec = _integer(stamp.sec, 'sec'), _integer(stamp.nanosec, 'nanosec')
    if not 0 <= sec <= MAX_SEC:
        raise ValueError(f'sec {sec} is outside [0, 2**31)')
    if not 0 <= nanosec < NS_PER_S:
        raise ValueError(f'nanosec {nanosec} is outside [0, 1e9)')
    return sec * NS_PER_S + nanosec


def seconds_from_duration(duration) -> float:
    return ns_from_time(duration) / NS_PER_S


def header_fields(stamp_ns: int, frame_id: str = '') -> dict:
    if not isinstance(frame_id, str):
        raise ValueError(f'frame_id must be a string, got {frame_id!r}')
    return {'stamp': time_fields(stamp_ns), 'frame_id': frame_id}


def _float32(value: float) -> float:
    """The shortest decimal a float32 field reads back as: 0.12 stays 0.12, not 0.1200000047."""
    return float(str(np.float32(value)))


# ---------------------------------------------------------------- images


@_value_errors
def image_to_array(msg) -> np.ndarray:
    """The rgb8 pixels `[H, W, 3]` (uint8, a fresh array) of a sensor_msgs/Image.

    Reads only `height`, `width`, `encoding`, `step` and `data`. Accepts rgb8, bgr8, rgba8, bgra8
    and mono8 (converted to rgb), with or without row padding. Raises ValueError naming what is
    wrong with a malformed message.
    """
    height, width = _integer(msg.height, 'height'), _integer(msg.width, 'width')
    step = _integer(msg.step, 'step')
    if not isinstance(msg.encoding, str):
        raise ValueError(f'image encoding must be a string, got {msg.encoding!r}')
    encoding = msg.encoding.lower()
    if encoding not in _ENCODINGS:
        raise ValueError(f'unsupported image encoding {msg.encoding!r}; '
                         f'expected one of {", ".join(_ENCODINGS)}')
    channels, rgb_order = _ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ValueError(f'image has no pixels: {width}x{height}')
    row_bytes = width * channels
    if step < row_bytes:
        raise ValueError(f'image step {step} is shorter than a row of {width} {encoding} '
                         f'pixels ({row_bytes} bytes)')
    data = msg.data
    if isinstance(data, (list, tuple)):
        # checked here: numpy 1.x (ROS's, on Humble and Jazzy) wraps 300 to 44 silently
        values = np.asarray(data)
        if values.size and (values.dtype.kind not in 'iu' or values.min() < 0
                            or values.max() > 255):
            raise ValueError('image data must be bytes: integers from 0 to 255')
        data = values.astype(np.uint8)
    elif isinstance(data, np.ndarray) and data.dtype != np.uint8:
        raise ValueError(f'image data must be uint8, got {data.dtype}')
    elif isinstance(data, str):
        raise ValueError('image data must be bytes, got a string')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ValueError(f'image data holds {buffer.size} bytes; a {width}x{height} {encoding} '
                         f'image with step {step} needs {step * height}')
    rows = buffer.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if encoding == 'rgb8':
        return rows.copy()
    return np.ascontiguousarray(rows[:, :, list(rgb_order)])


@_value_errors
def frame_from_image(msg) -> Frame:
    """A Frame stamped with the image header's stamp."""
    return Frame(image_to_array(msg), ns_from_time(msg.header.stamp))


@_value_errors
def array_to_image_fields(pixels: np.ndarray, stamp_ns: int,
                          frame_id: str = CAMERA_FRAME_ID) -> dict:
    """sensor_msgs/Image fields (rgb8, no padding) of uint8 pixels `[H, W, 3]`.

    `data` is a flat uint8 numpy array; `build_image` adapts it to the target message class.
    """
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f'expected a numpy array of uint8 pixels [H, W, 3], got '
                         f'{type(pixels).__name__}')
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or \
            min(pixels.shape) == 0:
        raise ValueError(f'expected uint8 pixels [H, W, 3], got {pixels.dtype} {pixels.shape}')
    height, width = pixels.shape[:2]
    return {
        'header': header_fields(stamp_ns, frame_id),
        'height': height,
        'width': width,
        'encoding': 'rgb8',
        'is_bigendian': 0,
        'step': width * 3,
        'data': np.ascontiguousarray(pixels).reshape(-1),
    }


# ---------------------------------------------------------------- motor messages


@_value_errors
def motor_command_fields(command: MotorCommand, frame_id: str = '') -> dict:
    """MotorCommand.msg fields; ValueError for a NaN, infinite or missing speed or duration."""
    return {
        'header': header_fields(command.stamp_ns, frame_id),
        'left': _finite(command.left, 'left'),
        'right': _finite(command.right, 'right'),
        'duration': duration_fields(command.duration_s),
    }


def _status(value) -> MotorStatus:
    try:
        return MotorStatus(_integer(value, 'status'))
    except ValueError:
        raise ValueError(f'unknown MotorState status {value!r}') from None


@_value_errors
def motor_state_fields(outcome: MotorOutcome, frame_id: str = '') -> dict:
    """Fields of a MotorState message; the header stamp is when the command ended."""
    if not isinstance(outcome.reason, str):
        raise ValueError(f'reason must be a string, got {outcome.reason!r}')
    return {
        'header': header_fields(outcome.end_ns, frame_id),
        'command': motor_command_fields(outcome.command, frame_id),
        'left': _finite(outcome.left, 'left'),
        'right': _finite(outcome.right, 'right'),
        'start': time_fields(outcome.start_ns),
        'end': time_fields(outcome.end_ns),
        'status': int(_status(outcome.status)),
        'reason': outcome.reason,
    }


@_value_errors
def motor_command_from_msg(msg) -> MotorCommand:
    """A MotorCommand from any object with MotorCommand.msg's fields.

    ValueError for a NaN, infinite or missing speed, a negative duration or a malformed stamp:
    a node drops such a command with the reason instead of passing it on.
    """
    return MotorCommand(_float32(_finite(msg.left, 'left')),
                        _float32(_finite(msg.right, 'right')),
                        seconds_from_duration(msg.duration), ns_from_time(msg.header.stamp))


@_value_errors
def motor_outcome_from_msg(msg) -> MotorOutcome:
    """A MotorOutcome from any object with MotorState.msg's fields.

    Raises ValueError for a status that is not one of MotorState's constants, and for every
    field `motor_command_from_msg` refuses.
    """
    status = _status(msg.status)
    if not isinstance(msg.reason, str):
        raise ValueError(f'reason must be a string, got {msg.reason!r}')
    return MotorOutcome(motor_command_from_msg(msg.command), _float32(_finite(msg.left, 'left')),
                        _float32(_finite(msg.right, 'right')), ns_from_time(msg.start),
                        ns_from_time(msg.end), status, msg.reason)


# ---------------------------------------------------------------- building messages


@dataclass(frozen=True)
class MessageClasses:
    """The message classes `build_*` instantiate, and how their uint8[] fields want bytes."""

    image: type
    header: type
    time: type
    duration: type
    motor_command: type
    motor_state: type
    byte_array: Callable[[np.ndarray], object]  # flat uint8 numpy array -> field value


def rosbags_message_classes(typestore) -> MessageClasses:
    """Classes of a rosbags typestore that holds the devrobot types (see msg_types)."""
    types = typestore.types
    return MessageClasses(
        image=types['sensor_msgs/msg/Image'],
        header=types['std_msgs/msg/Header'],
        time=types['builtin_interfaces/msg/Time'],
        duration=types['builtin_interfaces/msg/Duration'],
        motor_command=types['devrobot_interfaces/msg/MotorCommand'],
        motor_state=types['devrobot_interfaces/msg/MotorState'],
        byte_array=lambda flat: flat,  # rosbags serialises numpy arrays directly
    )


def ros_message_classes() -> MessageClasses:
    """The real ROS message classes; only where ROS and devrobot_interfaces are installed."""
    from builtin_interfaces.msg import Duration, Time
    from devrobot_interfaces.msg import MotorCommand as MotorCommandMsg
    from devrobot_interfaces.msg import MotorState
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    # rclpy keeps uint8[] as array.array('B'): handing one over skips a per-byte check.
    return MessageClasses(Image, Header, Time, Duration, MotorCommandMsg, MotorState,
                          byte_array=lambda flat: array.array('B', flat.tobytes()))


def _build_header(classes: MessageClasses, fields: dict):
    return classes.header(stamp=classes.time(**fields['stamp']), frame_id=fields['frame_id'])


def build_image(classes: MessageClasses, pixels: np.ndarray, stamp_ns: int,
                frame_id: str = CAMERA_FRAME_ID):
    fields = array_to_image_fields(pixels, stamp_ns, frame_id)
    fields['header'] = _build_header(classes, fields['header'])
    fields['data'] = classes.byte_array(fields['data'])
    return classes.image(**fields)


def _build_motor_command(classes: MessageClasses, fields: dict):
    return classes.motor_command(header=_build_header(classes, fields['header']),
                                 left=fields['left'], right=fields['right'],
                                 duration=classes.duration(**fields['duration']))


def build_motor_command(classes: MessageClasses, command: MotorCommand, frame_id: str = ''):
    return _build_motor_command(classes, motor_command_fields(command, frame_id))


def build_motor_state(classes: MessageClasses, outcome: MotorOutcome, frame_id: str = ''):
    fields = motor_state_fields(outcome, frame_id)
    fields['header'] = _build_header(classes, fields['header'])
    fields['command'] = _build_motor_command(classes, fields['command'])
    fields['start'] = classes.time(**fields['start'])
    fields['end'] = classes.time(**fields['end'])
    return classes.motor_state(**fields)
