"""Conversions between devrobot's plain data and ROS message fields, as free functions.

The read side only reads attributes (`msg.height`, `msg.header.stamp.sec`, ...), so it accepts
real rclpy messages, rosbags messages and plain test objects alike. The write side returns plain
field dicts, and the `build_*` functions turn them into messages of whichever classes they are
given (`MessageClasses`): rosbags classes to write bags, rclpy classes in node shells.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Callable

import numpy as np

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus

NS_PER_S = 1_000_000_000
CAMERA_FRAME_ID = 'camera_optical_frame'

# encoding -> (channels, channel order that gives rgb): the encodings a camera is likely to send.
_ENCODINGS = {
    'rgb8': (3, (0, 1, 2)),
    'bgr8': (3, (2, 1, 0)),
    'rgba8': (4, (0, 1, 2)),
    'bgra8': (4, (2, 1, 0)),
    'mono8': (1, (0, 0, 0)),
}


# ---------------------------------------------------------------- time


def time_fields(stamp_ns: int) -> dict:
    """`builtin_interfaces/Time` fields of a time in integer nanoseconds."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return {'sec': sec, 'nanosec': nanosec}


def duration_fields(duration_s: float) -> dict:
    """`builtin_interfaces/Duration` fields of a duration in float seconds.

    Negative durations follow ROS's convention: `sec` negative, `nanosec` in [0, 1e9).
    """
    sec, nanosec = divmod(int(round(float(duration_s) * NS_PER_S)), NS_PER_S)
    return {'sec': sec, 'nanosec': nanosec}


def ns_from_time(stamp) -> int:
    """Integer nanoseconds of anything with `sec` and `nanosec` (Time or Duration)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def seconds_from_duration(duration) -> float:
    return ns_from_time(duration) / NS_PER_S


def header_fields(stamp_ns: int, frame_id: str = '') -> dict:
    return {'stamp': time_fields(stamp_ns), 'frame_id': frame_id}


def _float32(value: float) -> float:
    """The shortest decimal a float32 field reads back as: 0.12 stays 0.12, not 0.1200000047."""
    return float(str(np.float32(value)))


# ---------------------------------------------------------------- images


def image_to_array(msg) -> np.ndarray:
    """The rgb8 pixels `[H, W, 3]` (uint8, a fresh array) of a sensor_msgs/Image.

    Reads only `height`, `width`, `encoding`, `step` and `data`. Accepts rgb8, bgr8, rgba8, bgra8
    and mono8 (converted to rgb), with or without row padding. Raises ValueError naming what is
    wrong with a malformed message.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    encoding = str(msg.encoding).lower()
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
        data = np.asarray(data, dtype=np.uint8)
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ValueError(f'image data holds {buffer.size} bytes; a {width}x{height} {encoding} '
                         f'image with step {step} needs {step * height}')
    rows = buffer.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if encoding == 'rgb8':
        return rows.copy()
    return np.ascontiguousarray(rows[:, :, list(rgb_order)])


def frame_from_image(msg) -> Frame:
    """A Frame stamped with the image header's stamp."""
    return Frame(image_to_array(msg), ns_from_time(msg.header.stamp))


def array_to_image_fields(pixels: np.ndarray, stamp_ns: int,
                          frame_id: str = CAMERA_FRAME_ID) -> dict:
    """sensor_msgs/Image fields (rgb8, no padding) of uint8 pixels `[H, W, 3]`.

    `data` is a flat uint8 numpy array; `build_image` adapts it to the target message class.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
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


def motor_command_fields(command: MotorCommand, frame_id: str = '') -> dict:
    return {
        'header': header_fields(command.stamp_ns, frame_id),
        'left': float(command.left),
        'right': float(command.right),
        'duration': duration_fields(command.duration_s),
    }


def motor_state_fields(outcome: MotorOutcome, frame_id: str = '') -> dict:
    """Fields of a MotorState message; the header stamp is when the command ended."""
    return {
        'header': header_fields(outcome.end_ns, frame_id),
        'command': motor_command_fields(outcome.command, frame_id),
        'left': float(outcome.left),
        'right': float(outcome.right),
        'start': time_fields(outcome.start_ns),
        'end': time_fields(outcome.end_ns),
        'status': int(outcome.status),
        'reason': outcome.reason,
    }


def motor_command_from_msg(msg) -> MotorCommand:
    """A MotorCommand from any object with MotorCommand.msg's fields."""
    return MotorCommand(_float32(msg.left), _float32(msg.right),
                        seconds_from_duration(msg.duration), ns_from_time(msg.header.stamp))


def motor_outcome_from_msg(msg) -> MotorOutcome:
    """A MotorOutcome from any object with MotorState.msg's fields.

    Raises ValueError for a status that is not one of MotorState's constants.
    """
    try:
        status = MotorStatus(int(msg.status))
    except ValueError:
        raise ValueError(f'unknown MotorState status {msg.status!r}') from None
    return MotorOutcome(motor_command_from_msg(msg.command), _float32(msg.left),
                        _float32(msg.right), ns_from_time(msg.start), ns_from_time(msg.end),
                        status, str(msg.reason))


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
