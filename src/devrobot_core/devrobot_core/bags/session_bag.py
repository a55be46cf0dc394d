"""Sessions as rosbag2 bags, written and read without ROS (on rosbags).

A session bag holds `/camera/image_raw` (sensor_msgs/Image, rgb8), `/motor/command`
(MotorCommand), `/motor/state` (MotorState) and `/session/info` (std_msgs/String: JSON with the
robot type, action space and configuration; also stored in the metadata's custom_data). It is
written with mcap storage, zstd chunk compression and metadata version 8, which Humble and Jazzy
both read, and plays back with `ros2 bag play`.

The reader also takes bags recorded by `ros2 bag record` of those topics (any namespace, mcap
or sqlite3, with or without the info topic) and yields one time-ordered stream of Frame,
MotorCommand and MotorOutcome events.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from devrobot_core import conversions
from devrobot_core.motor import (
    action_space_from_dicts, action_space_to_dicts, Frame, MotorCommand, MotorOutcome)
from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_COMMAND_TYPE, MOTOR_STATE_TYPE, STRING_TYPE)

IMAGE_TOPIC = '/camera/image_raw'
COMMAND_TOPIC = '/motor/command'
STATE_TOPIC = '/motor/state'
SESSION_INFO_TOPIC = '/session/info'
SESSION_INFO_KEY = 'devrobot.session_info'  # metadata custom_data key
SESSION_FORMAT_VERSION = 1
BAG_METADATA_VERSION = 8  # Humble cannot parse 9

Event = Frame | MotorCommand | MotorOutcome


class SessionBagError(Exception):
    """A session bag cannot be written or read; the message says why."""


@dataclass(frozen=True)
class SessionInfo:
    """What a session bag says about itself. Fields are empty for bags without session info."""

    path: Path
    robot_type: str = ''
    action_space: tuple = ()
    config: dict = field(default_factory=dict)
    message_counts: dict = field(default_factory=dict)  # topic name -> messages
    has_session_info: bool = False


def _info_json(robot_type: str, action_space: Sequence[MotorCommand], config: dict) -> str:
    return json.dumps({
        'format_version': SESSION_FORMAT_VERSION,
        'robot_type': robot_type,
        'action_space': action_space_to_dicts(action_space),
        'config': config,
    }, sort_keys=True, default=str)


class CtrlCDeferred:
    """Hold back Ctrl-C (SIGINT) inside the block and deliver it at its end.

    Every step write uses one; a caller can wrap more (the write and its bookkeeping) in another:
    nested blocks deliver the interrupt once, at the end of the outermost. Python runs signal
    handlers in the main thread only, so elsewhere this does nothing.
    """

    def __enter__(self) -> 'CtrlCDeferred':
        self.pending = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not None:  # None: a handler not installed from Python; keep it
                self.previous = previous
                signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame) -> None:
        self.pending = True

    def __exit__(self, *exc_info) -> None:
        if self.previous is None:
            return
        signal.signal(signal.SIGINT, self.previous)
        if self.pending:
            if callable(self.previous):
                self.previous(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt
            elif self.previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


class SessionBagWriter:
    """Records one session into a new bag; every step lands whole or not at all.

    Use as a context manager or call close() in a `finally`: closing always leaves a readable
    bag, also after an exception or Ctrl-C in the middle of a step.
    """

    def __init__(self, path, robot_type: str, action_space: Sequence[MotorCommand],
                 config: dict | None = None, storage: str = 'mcap'):
        from rosbags.rosbag2 import Writer
        from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

        self.path = Path(path)
        if self.path.exists():
            raise SessionBagError(f'{self.path} already exists; a session bag is never '
                                  'overwritten: choose a new path')
        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise SessionBagError(f'unknown bag storage {storage!r}; expected mcap or sqlite3')
        self._store = get_devrobot_typestore()
        self._classes = conversions.rosbags_message_classes(self._store)
        self._info = _info_json(robot_type, action_space, dict(config or {}))
        self._writer = Writer(self.path, version=BAG_METADATA_VERSION,
                              storage_plugin=plugins[storage])
        if storage == 'mcap':
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._writer.set_custom_data(SESSION_INFO_KEY, self._info)
        try:
            self._writer.open()
        except OSError as error:
            raise SessionBagError(f'cannot create bag {self.path}: '
                                  f'{error.strerror or error}') from None
        add = self._writer.add_connection
        self._info_connection = add(SESSION_INFO_TOPIC, STRING_TYPE, typestore=self._store)
        self._image_connection = add(IMAGE_TOPIC, IMAGE_TYPE, typestore=self._store)
        self._command_connection = add(COMMAND_TOPIC, MOTOR_COMMAND_TYPE, typestore=self._store)
        self._state_connection = add(STATE_TOPIC, MOTOR_STATE_TYPE, typestore=self._store)
        self._info_written = False
        self._last_timestamp_ns = 0
        self.frames_written = 0
        self.steps_written = 0
        self.closed = False

    # ------------------------------------------------------------ serialising

    def _image(self, frame: Frame) -> tuple:
        message = conversions.build_image(self._classes, frame.pixels, frame.stamp_ns)
        return (frame.stamp_ns, self._image_connection,
                self._store.serialize_cdr(message, IMAGE_TYPE))

    def _command(self, command: MotorCommand, fallback_ns: int) -> tuple:
        message = conversions.build_motor_command(self._classes, command)
        stamp_ns = command.stamp_ns if command.stamp_ns > 0 else fallback_ns
        return (stamp_ns, self._command_connection,
                self._store.serialize_cdr(message, MOTOR_COMMAND_TYPE))

    def _state(self, outcome: MotorOutcome) -> tuple:
        message = conversions.build_motor_state(self._classes, outcome)
        return (outcome.end_ns, self._state_connection,
                self._store.serialize_cdr(message, MOTOR_STATE_TYPE))

    def _write(self, records: list, frames: int = 0, steps: int = 0) -> None:
        """Write already serialised records, oldest first, as one unit.

        Ctrl-C is held back while they are written (in the main thread), so a step
        lands whole or not at all; the KeyboardInterrupt arrives right after.
        """
        if self.closed:
            raise SessionBagError(f'bag {self.path} is already closed')
        records.sort(key=lambda record: record[0])
        if not self._info_written:
            message = self._store.types[STRING_TYPE](data=self._info)
            records.insert(0, (records[0][0], self._info_connection,
                               self._store.serialize_cdr(message, STRING_TYPE)))
        with CtrlCDeferred():
            try:
                for stamp_ns, connection, data in records:
                    self._writer.write(connection, stamp_ns, data)
                    self._last_timestamp_ns = max(self._last_timestamp_ns, stamp_ns)
                self._info_written = True
                self.frames_written += frames
                self.steps_written += steps
            except OSError as error:  # a full disk: say so; close() still saves what was written
                raise SessionBagError(f'cannot write to bag {self.path}: '
                                      f'{error.strerror or error}') from None

    # ------------------------------------------------------------ public

    def write_frame(self, frame: Frame) -> None:
        """Record one image, e.g. the first frame of a session."""
        self._write([self._image(frame)], frames=1)

    def write_command(self, command: MotorCommand) -> None:
        """Record a command on its own (live recording); unstamped ones get the last time."""
        self._write([self._command(command, self._last_timestamp_ns)])

    def write_outcome(self, outcome: MotorOutcome) -> None:
        self._write([self._state(outcome)])

    def write_step(self, command: MotorCommand, outcome: MotorOutcome, next_frame: Frame) -> None:
        """Record a whole step: the command, how it was executed, and the frame after it."""
        self._write([self._command(command, outcome.start_ns), self._state(outcome),
                     self._image(next_frame)], frames=1, steps=1)

    def close(self) -> None:
        """Finish the bag (index, metadata.yaml). Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        try:
            if not self._info_written:  # an empty session still says what it was
                message = self._store.types[STRING_TYPE](data=self._info)
                self._writer.write(self._info_connection, time.time_ns(),
                                   self._store.serialize_cdr(message, STRING_TYPE))
            self._writer.close()
        except OSError as error:
            raise SessionBagError(f'cannot finish bag {self.path}: '
                                  f'{error.strerror or error}') from None

    def __enter__(self) -> 'SessionBagWriter':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# ---------------------------------------------------------------- reading


def _topic_key(topic: str) -> str:
    return topic.lstrip('/')


def _pick_connection(connections: list, msgtype: str, topic: str, path: Path):
    """The connection of `msgtype` on `topic` (any namespace), or the only one of that type."""
    candidates = [c for c in connections if c.msgtype == msgtype]
    named = [c for c in candidates
             if _topic_key(c.topic) == _topic_key(topic)
             or c.topic.endswith(topic if topic.startswith('/') else '/' + topic)]
    chosen = named or candidates
    topics = sorted({c.topic for c in chosen})
    if len(topics) > 1:
        raise SessionBagError(f'bag {path} has several {msgtype} topics ({", ".join(topics)}); '
                              f'expected one named {topic}')
    return chosen


def _open_reader(path: Path):
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise SessionBagError(f'no bag at {path}')
    if path.is_dir() and not (path / 'metadata.yaml').is_file():
        raise SessionBagError(
            f'{path} is not a rosbag2 bag: it has no metadata.yaml (a recording killed before '
            'it closed can be repaired with `ros2 bag reindex`)')
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # rosbags raises many kinds on a damaged file
        raise SessionBagError(f'cannot read bag {path}: {error}') from None
    return reader


def _field_names(fields) -> list:
    return [name.lower() for name, _desc in fields]


def _check_layout(connection, store, path: Path) -> None:
    """Refuse a bag whose devrobot message fields differ from this workspace's .msg files.

    Compared by the definition text the bag carries (mcap schemas, newer sqlite3 bags); a bag
    without one is read with the current layout.
    """
    from rosbags.typesys import get_types_from_msg

    msgdef = getattr(connection.msgdef, 'data', '') or ''
    if not msgdef.strip() or msgdef.startswith('=' * 80 + '\nIDL: '):
        return
    try:
        _consts, theirs = get_types_from_msg(msgdef, connection.msgtype)[connection.msgtype]
    except Exception:  # an unparsable definition: let decoding be the judge
        return
    _consts, ours = store.fielddefs[connection.msgtype]
    if _field_names(theirs) != _field_names(ours):
        raise SessionBagError(
            f'bag {path}: {connection.msgtype} on {connection.topic} was recorded with fields '
            f'{_field_names(theirs)}, but devrobot_interfaces now has {_field_names(ours)}')


def _decoders(reader, store, path: Path) -> dict:
    """Connection id -> (connection, function turning its raw message into an event)."""
    def decoder(msgtype, convert):
        return lambda raw: convert(store.deserialize_cdr(raw, msgtype))

    wanted = ((IMAGE_TYPE, IMAGE_TOPIC, conversions.frame_from_image),
              (MOTOR_COMMAND_TYPE, COMMAND_TOPIC, conversions.motor_command_from_msg),
              (MOTOR_STATE_TYPE, STATE_TOPIC, conversions.motor_outcome_from_msg))
    decoders = {}
    for msgtype, topic, convert in wanted:
        for connection in _pick_connection(reader.connections, msgtype, topic, path):
            if msgtype != IMAGE_TYPE:
                _check_layout(connection, store, path)
            decoders[connection.id] = (connection, decoder(msgtype, convert))
    return decoders


def _read_info(reader, store, path: Path) -> dict | None:
    connections = [c for c in reader.connections if c.msgtype == STRING_TYPE
                   and _topic_key(c.topic).endswith(_topic_key(SESSION_INFO_TOPIC))][:1]
    text = None
    # an empty connection list would mean "every topic" to rosbags
    for _connection, _stamp, raw in reader.messages(connections=connections) if connections \
            else ():
        text = store.deserialize_cdr(raw, STRING_TYPE).data
        break
    if text is None:
        custom = getattr(getattr(reader.storage, 'metadata', None), 'custom', None) or {}
        text = custom.get(SESSION_INFO_KEY)
    if text is None:
        return None
    try:
        info = json.loads(text)
        info['action_space'] = action_space_from_dicts(info.get('action_space', []) or [])
    except (ValueError, KeyError, TypeError) as error:
        raise SessionBagError(f'bag {path}: unreadable session info: {error}') from None
    return info


def _events(path: Path) -> Iterator[Event]:
    store = get_devrobot_typestore()
    reader = _open_reader(path)
    try:
        decoders = _decoders(reader, store, path)
        if not decoders:
            return
        messages = reader.messages(connections=[c for c, _ in decoders.values()])
        while True:
            try:
                connection, stamp_ns, raw = next(messages)
            except StopIteration:
                return
            except Exception as error:  # ReaderError, struct.error, zstd errors...
                raise SessionBagError(f'bag {path} is corrupt: {error}') from None
            try:
                yield decoders[connection.id][1](raw)
            except (ValueError, AssertionError, IndexError, TypeError) as error:
                raise SessionBagError(f'bag {path}: bad {connection.msgtype} message on '
                                      f'{connection.topic} at {stamp_ns} ns: {error}') from None
    finally:
        reader.close()


def read_session(path) -> tuple:
    """Open a bag: return its SessionInfo and an iterator of its events in bag-time order.

    The iterator opens the bag again and closes it when exhausted (or when it is closed).
    Raises SessionBagError for a missing, corrupt or non-session bag.
    """
    path = Path(path)
    store = get_devrobot_typestore()
    reader = _open_reader(path)
    try:
        decoders = _decoders(reader, store, path)
        try:
            info = _read_info(reader, store, path)
        except SessionBagError:
            raise
        except Exception as error:
            raise SessionBagError(f'bag {path} is corrupt: {error}') from None
        counts = {c.topic: c.msgcount for c in reader.connections}
    finally:
        reader.close()
    if not decoders:
        raise SessionBagError(f'bag {path} has no images, motor commands or motor states; '
                              f'its topics: {", ".join(sorted(counts)) or "none"}')
    info = info or {}
    session = SessionInfo(path=path, robot_type=str(info.get('robot_type', '')),
                          action_space=tuple(info.get('action_space', ())),
                          config=dict(info.get('config', {})), message_counts=counts,
                          has_session_info=bool(info))
    return session, _events(path)
