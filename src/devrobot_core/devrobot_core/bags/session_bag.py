"""Sessions as rosbag2 bags, written without ROS; read with ROS's rosbag2_py where it imports.

A session bag holds `/camera/image_raw` (sensor_msgs/Image, rgb8), `/motor/command`
(MotorCommand), `/motor/state` (MotorState) and `/session/info` (std_msgs/String: JSON with the
robot type, action space and configuration; also stored in the metadata's custom_data). It is
written with mcap storage, zstd chunk compression and metadata version 8, which Humble and Jazzy
both read, and plays back with `ros2 bag play`.

The writer puts whole steps on disk in small chunks with CRCs, at least every
`bag_flush_interval_s` (SessionBagConfig), so a kill, a power loss or a full disk costs at most
the last window; its close() lets no signal cut it short. The reader also takes bags recorded by
`ros2 bag record` of those topics (any namespace, mcap or sqlite3, with or without the info
topic) and yields one time-ordered stream of Frame, MotorCommand and MotorOutcome events; an
mcap bag is checked whole first (session_reading, bag_health), and a damaged one is refused
with DamagedBagError unless its readable part is asked for. A whole bag is read with rosbag2_py
where it imports (bag_readers: every storage plugin installed with ROS), else an mcap one with
devrobot's checked scan and another through rosbags; SessionInfo.reader says which.
"""

from __future__ import annotations

import errno
import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from devrobot_core import conversions
from devrobot_core.bags.bag_chunks import ChunkedMcapWriter
from devrobot_core.config_fields import setting
from devrobot_core.durable_files import sync_file, sync_folder
from devrobot_core.motor import action_space_to_dicts, Frame, MotorCommand, MotorOutcome
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


class DamagedBagError(SessionBagError):
    """A bag that does not read back whole: damaged, cut short, or never closed.

    `readable_steps` of `expected_steps` (None: unknown) motor commands read back.
    """

    def __init__(self, path, reason: str, readable_steps: int | None = None,
                 expected_steps: int | None = None):
        self.path, self.reason = Path(path), reason
        self.readable_steps, self.expected_steps = readable_steps, expected_steps
        super().__init__(self.line('pass --allow-partial to use the readable part'))

    def summary(self) -> str:
        """The damage and what is readable, without the advice."""
        text = f'bag {self.path} is damaged ({self.reason})'
        if self.readable_steps is None:
            return text
        if self.expected_steps is None:
            return f'{text}: {self.readable_steps} steps readable up to its last flush'
        return f'{text}: {self.readable_steps} of {self.expected_steps} steps readable'

    def line(self, partial_hint: str) -> str:
        """The one-line message, ending with how to use the readable part anyway."""
        return f'{self.summary()}; run `devrobot repair {self.path}`, or {partial_hint}'


@dataclass
class SessionBagConfig:
    """How a recording reaches the disk: what a kill or a power loss can cost at most."""

    bag_flush_interval_s: float = setting(
        1.0, 'Write recorded steps to the bag (synced) at least this often, in seconds: a '
        'kill or a power loss loses at most the steps of this window.')
    bag_flush_bytes: int = setting(
        1048576, 'Write them also once this many bytes (uncompressed) wait: the most a '
        'recording holds in memory.')

    def check(self) -> None:
        """Raise ValueError naming a setting out of range."""
        if not (math.isfinite(self.bag_flush_interval_s)
                and 0 < self.bag_flush_interval_s <= 3600):
            raise ValueError('bag_flush_interval_s must be a number of seconds in (0, 3600], '
                             f'got {self.bag_flush_interval_s}')
        if not 0 < self.bag_flush_bytes <= 1 << 30:
            raise ValueError('bag_flush_bytes must be between 1 and 1073741824, got '
                             f'{self.bag_flush_bytes}')


@dataclass(frozen=True)
class SessionInfo:
    """What a session bag says about itself. Fields are empty for bags without session info."""

    path: Path
    robot_type: str = ''
    action_space: tuple = ()
    config: dict = field(default_factory=dict)
    message_counts: dict = field(default_factory=dict)  # topic name -> messages readable
    has_session_info: bool = False
    damage: str = ''  # read in part (allow_partial): what is wrong and what is readable
    reader: str = ''  # what read it: 'rosbag2_py', 'rosbags' or 'bag_scan' (devrobot's own)


def _info_json(robot_type: str, action_space: Sequence[MotorCommand], config: dict) -> str:
    return json.dumps({
        'format_version': SESSION_FORMAT_VERSION,
        'robot_type': robot_type,
        'action_space': action_space_to_dicts(action_space),
        'config': config,
    }, sort_keys=True, default=str)


class SignalsDeferred:
    """Hold back the given signals inside the block and deliver them at its end.

    Nested blocks deliver a signal once, at the end of the outermost. Python runs signal
    handlers in the main thread only, so elsewhere this does nothing. A signal whose action is
    the default (SIGTERM: end the process) takes it at the end of the block.
    """

    def __init__(self, *signals):
        self.signals = signals

    def __enter__(self) -> 'SignalsDeferred':
        self.pending = []
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for number in self.signals:
                previous = signal.getsignal(number)
                if previous is not None:  # None: a handler not installed from Python; keep it
                    self.previous[number] = previous
                    signal.signal(number, self._note)
        return self

    def _note(self, signum, frame) -> None:
        if signum not in self.pending:
            self.pending.append(signum)

    def __exit__(self, *exc_info) -> None:
        for number, previous in self.previous.items():
            signal.signal(number, previous)
        for number in self.pending:
            previous = self.previous[number]
            if callable(previous):
                previous(number, None)  # Python's SIGINT handler raises KeyboardInterrupt
            elif previous == signal.SIG_DFL:
                signal.raise_signal(number)


class CtrlCDeferred(SignalsDeferred):
    """Hold back Ctrl-C (SIGINT) inside the block and deliver it at its end.

    Every step write uses one; a caller can wrap more (the write and its bookkeeping) in another.
    """

    def __init__(self):
        super().__init__(signal.SIGINT)


# Held back while a bag is being finished: a second Ctrl-C, a kill -TERM or a closed terminal.
CLOSING_SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
                        if hasattr(signal, name))


class SessionBagWriter:
    """Records one session into a new bag; every step lands whole or not at all.

    Use as a context manager or call close() in a `finally`: closing always leaves a readable
    bag, also after an exception or Ctrl-C in the middle of a step, and signals wait until it
    is done. With mcap storage the steps reach the disk (synced) in small chunks, on the time
    and size budget of `bag_config`, between whole steps: a kill or a power loss costs at most
    the last budget's steps, and `devrobot repair` makes such a bag readable again. A full
    disk stops the recording (SessionBagError); what was written stays readable.
    `flush_in_background` lets a thread keep to the time budget while no step is written.
    """

    def __init__(self, path, robot_type: str, action_space: Sequence[MotorCommand],
                 config: dict | None = None, storage: str = 'mcap',
                 bag_config: SessionBagConfig | None = None,
                 flush_in_background: bool = True, clock=time.monotonic):
        from rosbags.rosbag2 import Writer
        from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin

        self.path = Path(path)
        if self.path.exists():
            raise SessionBagError(f'{self.path} already exists; a session bag is never '
                                  'overwritten: choose a new path')
        plugins = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise SessionBagError(f'unknown bag storage {storage!r}; expected mcap or sqlite3')
        self.bag_config = bag_config or SessionBagConfig()
        try:
            self.bag_config.check()
        except ValueError as error:
            raise SessionBagError(str(error)) from None
        self._store = get_devrobot_typestore()
        self._classes = conversions.rosbags_message_classes(self._store)
        self._info = _info_json(robot_type, action_space, dict(config or {}))
        self._writer = Writer(self.path, version=BAG_METADATA_VERSION,
                              storage_plugin=plugins[storage])
        self._chunked = storage == 'mcap'
        if self._chunked:
            self._writer.STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS,
                                            StoragePlugin.MCAP: ChunkedMcapWriter}
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
        self.steps_on_disk = 0  # as of the last flush
        self._frames_on_disk = 0
        self.failure = ''  # why recording stopped; empty while it works
        self.closed = False
        self._clock = clock
        self._pending_since = None  # clock time of the oldest record not yet on disk
        self._flushed_once = False
        self._period_s = min(max(self.bag_config.bag_flush_interval_s / 10, 0.001), 0.1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = None
        if self._chunked and flush_in_background:
            self._writer.storage.sync = False  # the thread syncs, off the recording's path
            self._flusher = threading.Thread(target=self._flush_when_due, daemon=True,
                                             name=f'bag flush {self.path.name}')
            self._flusher.start()

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

    def _info_record(self, stamp_ns: int) -> tuple:
        message = self._store.types[STRING_TYPE](data=self._info)
        return (stamp_ns, self._info_connection, self._store.serialize_cdr(message, STRING_TYPE))

    def _write(self, records: list, frames: int = 0, steps: int = 0) -> None:
        """Write already serialised records, oldest first, as one unit.

        Ctrl-C is held back while they are written (in the main thread), so a step
        lands whole or not at all; the KeyboardInterrupt arrives right after.
        """
        if self.closed:
            raise SessionBagError(f'bag {self.path} is already closed')
        if self.failure:
            raise SessionBagError(self.failure)
        records.sort(key=lambda record: record[0])
        if not self._info_written:
            records.insert(0, self._info_record(records[0][0]))
        with CtrlCDeferred(), self._lock:
            try:
                for stamp_ns, connection, data in records:
                    self._writer.write(connection, stamp_ns, data)
                    self._last_timestamp_ns = max(self._last_timestamp_ns, stamp_ns)
                self._info_written = True
                self.frames_written += frames
                self.steps_written += steps
                if self._chunked:
                    if self._pending_since is None:
                        self._pending_since = self._clock()
                    if not self._flushed_once or self._flush_due(with_size=True):
                        self._flush()  # the first records at once: the bag exists on disk
            except OSError as error:
                if not self._chunked:
                    raise SessionBagError(f'cannot write to bag {self.path}: '
                                          f'{error.strerror or error}') from None
                self._fail(error)
                raise SessionBagError(self.failure) from None

    # ------------------------------------------------------------ reaching the disk

    def _flush_due(self, with_size: bool) -> bool:
        """Whether the waiting steps go to disk now: by size, or by age.

        By age one thread period early, so that no step waits a full interval.
        """
        storage = self._writer.storage
        if with_size and storage.pending_bytes >= self.bag_config.bag_flush_bytes:
            return True
        return self._pending_since is not None and self._clock() - self._pending_since >= \
            self.bag_config.bag_flush_interval_s - self._period_s

    def _flush(self) -> None:
        self._writer.storage.flush()
        self._flushed_once = True
        self._pending_since = None
        self._frames_on_disk, self.steps_on_disk = self.frames_written, self.steps_written

    def _flush_when_due(self) -> None:
        """Keep to the time budget while no step is written; sync what flushes wrote.

        A kill keeps the chunks written; a power loss keeps the ones synced.
        """
        while not self._stop.wait(self._period_s):
            with self._lock:
                if self.closed or self.failure:
                    return
                if self._flush_due(with_size=False):
                    try:
                        self._flush()
                    except OSError as error:
                        self._fail(error)
                        return
            try:
                self._writer.storage.sync_to_disk()
            except OSError as error:  # an I/O error: what was written may not be durable
                with self._lock:
                    self._fail(error, roll_back=False)
                return

    def _fail(self, error: OSError, roll_back: bool = True) -> None:
        """After a failed flush: count only what is on disk, and stop recording."""
        if not roll_back:
            self.failure = f'cannot write to bag {self.path} ({_reason(error)}): recording stopped'
            return
        storage, writer = self._writer.storage, self._writer
        writer.counts = {c.id: storage.channel_stats.get(c.id, 0) for c in writer.connections}
        writer.min_timestamp = storage.message_start_time
        writer.max_timestamp = storage.message_end_time
        self.frames_written, self.steps_written = self._frames_on_disk, self.steps_on_disk
        self._info_written = storage.channel_stats.get(self._info_connection.id, 0) > 0
        self._pending_since = None
        self.failure = (f'cannot write to bag {self.path} ({_reason(error)}): recording '
                        f'stopped; the bag keeps its first {self.steps_on_disk} steps')

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
        """Finish the bag (last chunk, index, metadata.yaml, all synced). Safe to call twice.

        A second Ctrl-C, SIGTERM or SIGHUP meanwhile waits until the bag is whole. Raises
        SessionBagError when the bag cannot be finished (a full disk): it then keeps what
        earlier flushes wrote, and the message says how to repair it.
        """
        if self.closed:
            return
        with SignalsDeferred(*CLOSING_SIGNALS):
            with self._lock:
                self.closed = True
            self._stop.set()
            if self._flusher is not None:
                self._flusher.join()
            try:
                if not self._info_written:  # an empty session still says what it was
                    stamp_ns, connection, data = self._info_record(time.time_ns())
                    self._writer.write(connection, stamp_ns, data)
                self._writer.close()
                if self._chunked:
                    sync_file(self.path / 'metadata.yaml')
                    sync_folder(self.path)
            except OSError as error:
                self._writer.abort()
                raise SessionBagError(
                    f'cannot finish bag {self.path} ({_reason(error)}): it keeps its first '
                    f'{self.steps_on_disk} steps; free some space, then run '
                    f'`devrobot repair {self.path}`') from None

    def __enter__(self) -> 'SessionBagWriter':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _reason(error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return 'the disk is full'
    return error.strerror or str(error)


# ---------------------------------------------------------------- reading


def read_session(path, allow_partial: bool = False) -> tuple:
    """Open a bag: return its SessionInfo and an iterator of its events in bag-time order.

    An mcap bag is checked whole first (chunk checksums, message counts against
    metadata.yaml, its index): a damaged, cut-short or unclosed one raises DamagedBagError
    with what is readable, unless `allow_partial`, which reads every message that checks out
    (SessionInfo.damage then says what is missing), always with the checked scan. A whole bag
    is read with rosbag2_py where
    it imports (which also reindexes a bag folder whose recorder died before writing
    metadata.yaml), else with the checked scan (mcap) or rosbags (sqlite3); a whole mcap bag
    rosbag2_py cannot open is read with the checked scan. The iterator reads
    the bag again. Raises SessionBagError for a missing or non-session bag.
    """
    from devrobot_core.bags import bag_readers
    from devrobot_core.bags.bag_health import check_bag
    from devrobot_core.bags.session_reading import damage_error, read_mcap, read_through

    path = Path(path)
    if not path.exists():
        raise SessionBagError(f'no bag at {path}')
    try:
        reader = bag_readers.choose_reader()
        if reader == 'rosbag2_py' and bag_readers.needs_reindex(path):
            bag_readers.reindex(path)  # what `ros2 bag reindex` does for a killed recorder
        health = check_bag(path)
    except bag_readers.BagReadError as error:
        raise SessionBagError(str(error)) from None
    except OSError as error:
        raise SessionBagError(f'cannot read bag {path}: {error.strerror or error}') from None
    if health.storage == 'mcap' and (reader != 'rosbag2_py' or not health.ok or allow_partial):
        session, events, decoders = read_mcap(health, allow_partial)
    elif health.storage == 'mcap':
        try:
            session, events, decoders = read_through(path, reader)
        except SessionBagError:
            # rosbag2's mcap plugin refused a bag whose every chunk and message checks out
            # (a flipped byte in a part the messages do not need): the checked scan reads it
            session, events, decoders = read_mcap(health, allow_partial)
    elif health.storage:
        session, events, decoders = read_through(path, reader)
    else:
        raise SessionBagError(f'{path} is not a rosbag2 bag: it has no metadata.yaml and no '
                              '.mcap or .db3 file')
    if not decoders and health.storage == 'mcap' and not health.ok:
        raise damage_error(health)  # nothing of a session is readable, not even in part
    if not decoders:
        raise SessionBagError(f'bag {path} has no images, motor commands or motor states; '
                              f'its topics: {", ".join(sorted(session.message_counts)) or "none"}')
    return session, events
