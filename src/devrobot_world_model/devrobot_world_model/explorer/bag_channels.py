"""What the channels of a session bag are, and the little of a message read without decoding.

- `find_mcap_files`: a bag folder's .mcap files (or the file itself);
- `channel_role`: which channel carries the camera images, MotorCommands, MotorStates and the
  session info, whatever namespace they were recorded under (as `session_bag.py` picks them);
- `image_header`: an Image message's stamp and size from its first bytes, so indexing a bag
  never copies its pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_COMMAND_TYPE, MOTOR_STATE_TYPE, STRING_TYPE)
from devrobot_world_model.explorer.mcap_tail import McapTailError

IMAGE_TOPIC, INFO_TOPIC = 'camera/image_raw', 'session/info'
NS_PER_S = 1_000_000_000


class BagError(Exception):
    """A bag that cannot be explored: not a bag, not MCAP, truncated, damaged."""


def find_mcap_files(path: Path) -> list:
    """The .mcap files of a bag folder (split bags in name order), or the file itself."""
    if path.is_file():
        if path.suffix != '.mcap':
            raise BagError(f'{path} is not a bag: expected a bag folder or an .mcap file')
        return [path]
    files = sorted(path.glob('*.mcap'))
    if not files:
        kinds = sorted({p.suffix for p in path.iterdir() if p.is_file()}) if path.is_dir() \
            else []
        hint = ' (a sqlite3 bag: convert it with `ros2 bag convert` to mcap)' \
            if '.db3' in kinds else ''
        raise BagError(f'{path} is not an MCAP session bag: it holds no .mcap file{hint}')
    return files


def image_header(raw: bytes) -> tuple:
    """(stamp_ns, height, width) from the start of a CDR sensor_msgs/Image, little endian."""
    if len(raw) < 16 or raw[1] not in (1, 3):
        raise ValueError('not a little-endian CDR message')
    sec, nanosec, id_length = struct.unpack_from('<iII', raw, 4)
    position = 16 + id_length
    position += (4 - (position - 4) % 4) % 4  # CDR aligns relative to the payload start
    height, width = struct.unpack_from('<II', raw, position)
    return sec * NS_PER_S + nanosec, height, width


def channel_role(channel, channels, path: Path) -> str:
    """'image', 'command', 'state', 'info' or '' (ignored) for one channel of the bag."""
    if channel is None or channel.encoding != 'cdr':
        return ''
    if channel.msgtype == IMAGE_TYPE:
        images = [c for c in channels if c.msgtype == IMAGE_TYPE]
        named = [c for c in images if c.topic.strip('/').endswith(IMAGE_TOPIC)]
        if named:
            return 'image' if channel in named[:1] else ''
        return 'image' if channel is images[0] else ''
    if channel.msgtype == MOTOR_STATE_TYPE:
        check_fields(channel, path)
        return 'state'
    if channel.msgtype == MOTOR_COMMAND_TYPE:
        return 'command'
    if channel.msgtype == STRING_TYPE and channel.topic.strip('/').endswith(INFO_TOPIC):
        return 'info'
    return ''


def check_fields(channel, path: Path) -> None:
    """Refuse MotorStates recorded with other fields than the current .msg file has."""
    from rosbags.typesys import get_types_from_msg

    text = channel.schema_data.decode('utf-8', 'replace')
    if not text.strip() or text.startswith('=' * 80 + '\nIDL: '):
        return
    try:
        theirs = get_types_from_msg(text, channel.msgtype)[channel.msgtype][1]
    except Exception:  # an unparsable definition: decoding will tell
        return
    ours = get_devrobot_typestore().fielddefs[channel.msgtype][1]
    if [n.lower() for n, _ in theirs] != [n.lower() for n, _ in ours]:
        raise McapTailError(f'{path}: {channel.msgtype} was recorded with the fields '
                            f'{[n for n, _ in theirs]}, but devrobot_interfaces now has '
                            f'{[n for n, _ in ours]}')
