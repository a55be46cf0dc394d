"""`devrobot import-session SRC --out BAG`: a session folder of the original system -> a bag.

The original records `session_meta.json`, `events_shard_NNN.jsonl` (observations and actions
numbered by `step`) and `frames/*.jpg`. Each observation becomes an image, each action a
MotorCommand plus a COMPLETED MotorState that starts at the action's timestamp and lasts its
duration, so the transition assembler pairs every action with the observations around it, as
the original's reader did. Where the original would pair an action with a frame that also shows
another action (a missing observation between two actions), the assembler drops it instead.

Everything read is checked where it enters, with one line naming the file and the line: shards
must be UTF-8 JSON lines, timestamps finite and within ROS time, speeds within [-1, 1],
durations within (0, 1 h], frames regular files inside the session folder (an absolute or `../`
path, or a symlink out of it, is refused; a FIFO is never opened) and all of one size.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from devrobot_core.bags.session_bag import SessionBagError, SessionBagWriter
from devrobot_core.errors import UsageError
from devrobot_core.input_checks import new_path
from devrobot_core.motor import (
    Frame, MAX_IMAGE_SIDE_PX, MotorCommand, MotorOutcome, MotorStatus)
from devrobot_core.transitions import TransitionAssembler

NS_PER_S = 1_000_000_000
ROBOT_TYPES = {'ToroidalDotRobot': 'toroidal_dot', 'JetBotInterface': 'jetbot'}
MAX_DURATION_S = 3600.0  # one command longer than an hour is a damaged value, not a session's
# ROS time holds seconds in an int32; the last action must still end inside it.
MAX_TIMESTAMP_S = 2**31 - 1 - MAX_DURATION_S


@dataclass(frozen=True)
class OriginalEvent:
    step: int
    kind: str  # 'observation' or 'action'
    data: dict
    timestamp_s: float | None


def add_arguments(parser) -> None:
    parser.add_argument('src', metavar='SRC',
                        help='session folder of the original (holds session_meta.json)')
    parser.add_argument('--out', required=True, metavar='BAG',
                        help='bag folder to create (must not exist)')


def open_regular_file(path: Path, what: str):
    """A binary stream of `path` if it is a regular file; UsageError naming what it is else.

    Opened without blocking and checked on the open descriptor, so a FIFO is never read and
    nothing can be swapped in between the check and the read.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = 'a folder' if stat.S_ISDIR(mode) else 'not a regular file (a FIFO or a device)'
        raise UsageError(f'{what} {path} is {kind}, not a file')
    return os.fdopen(descriptor, 'rb')


def read_text(path: Path) -> str:
    """The UTF-8 text of a regular file, checked by type before it is read (a FIFO never is)."""
    try:
        stream = open_regular_file(path, 'events file')
    except OSError as error:
        raise UsageError(f'cannot read {path}: {error.strerror or error}') from None
    with stream:
        data = stream.read()
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as error:
        raise UsageError(f'{path} is not UTF-8 text (byte {error.start}: '
                         f'{error.reason})') from None


def read_meta(src: Path) -> dict:
    meta_path = src / 'session_meta.json'
    if not meta_path.is_file():
        nested = sorted(p.name for p in src.glob('*/session_meta.json')) if src.is_dir() else []
        hint = f' (it holds sessions: pass one of them, e.g. {src / Path(nested[0]).parent})' \
            if nested else ''
        raise UsageError(f'{src} is not a session folder: no session_meta.json{hint}')
    try:
        meta = json.loads(read_text(meta_path))
    except ValueError as error:
        raise UsageError(f'cannot read {meta_path}: {error}') from None
    if not isinstance(meta, dict):
        raise UsageError(f'{meta_path} does not hold a JSON object')
    if not isinstance(meta.get('action_space', []), (list, type(None))) or \
            not isinstance(meta.get('robot_type', ''), str):
        raise UsageError(f'{meta_path}: action_space must be a list and robot_type a string')
    return meta


def read_events(src: Path) -> tuple:
    """All events of the shards in step order, and how many truncated lines were skipped.

    A writer interrupted mid-line leaves a truncated last line in its last shard: skipped.
    Any other line that is not JSON, or an event with a missing or out-of-range field, is an
    error naming the shard and the line.
    """
    shards = sorted(src.glob('events_shard_*.jsonl'))
    if not shards:
        raise UsageError(f'{src} holds no events_shard_*.jsonl files')
    events, truncated = [], 0
    for shard_index, shard in enumerate(shards):
        lines = read_text(shard).splitlines()
        for line_index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as error:
                if shard_index == len(shards) - 1 and line_index == len(lines) - 1:
                    truncated += 1
                    continue
                raise UsageError(f'{shard}:{line_index + 1}: unreadable event: {error}') from None
            try:
                events.append(parse_event(item))
            except (ValueError, KeyError, TypeError) as error:
                raise UsageError(f'{shard}:{line_index + 1}: unusable event: {error}') from None
    events.sort(key=lambda event: event.step)
    return events, truncated


def parse_event(item) -> OriginalEvent:
    """One event line's JSON object; ValueError naming the field that is missing or wrong."""
    if not isinstance(item, dict):
        raise ValueError(f'expected a JSON object, got {type(item).__name__}')
    step, data = item['step'], item.get('data') or {}
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f'step {step!r} is not a count')
    if not isinstance(data, dict):
        raise ValueError(f'data {data!r} is not an object')
    return OriginalEvent(step, str(item['type']), dict(data),
                         _optional_timestamp(item.get('timestamp')))


def _optional_timestamp(value):
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or \
            not 0 <= value <= MAX_TIMESTAMP_S:  # NaN fails every comparison
        raise ValueError(f'timestamp {value!r} is not a time in seconds within [0, '
                         f'{MAX_TIMESTAMP_S:.0f}]')
    return float(value)


def action_mapping(meta: dict, events: list) -> tuple:
    """(robot_type, action_space, function turning an action's data into a MotorCommand)."""
    original_type = str(meta.get('robot_type', ''))
    actions = [e.data for e in events if e.kind == 'action'] + list(meta.get('action_space') or [])
    toroidal = original_type == 'ToroidalDotRobot' or any('action' in a for a in actions)
    if toroidal:
        # devrobot_sim depends on devrobot_core, not the other way: imported only when needed
        from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld
        space = ToroidalDotWorld(ToroidalDotConfig()).action_space

        def to_command(data: dict) -> MotorCommand:
            index = data.get('action')
            if not isinstance(index, int) or isinstance(index, bool) or \
                    not 0 <= index < len(space):
                raise UsageError(f'toroidal-dot action {data} is not 0 (stay) or 1 (move)')
            return space[index]
        return 'toroidal_dot', space, to_command

    def to_command(data) -> MotorCommand:
        try:
            values = [data[key] for key in ('motor_left', 'motor_right', 'duration')]
        except (KeyError, TypeError):
            raise UsageError(f'action {data} lacks motor_left, motor_right or duration') from None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise UsageError(f'action {data}: motor_left, motor_right and duration must be '
                             'numbers')
        command = MotorCommand(*map(float, values))
        if not (command.is_finite() and max(abs(command.left), abs(command.right)) <= 1.0
                and 0 < command.duration_s <= MAX_DURATION_S):
            raise UsageError(f'action {data}: speeds must be within [-1, 1] and the duration '
                             f'within (0, {MAX_DURATION_S:.0f}] s')
        return command
    space = tuple(to_command(a) for a in meta.get('action_space') or [])
    if not space:  # an old session without the list: the distinct commands it used
        used = [to_command(a) for a in actions]
        space = tuple(c for i, c in enumerate(used)
                      if not any(c.same_action(u) for u in used[:i]))
    return ROBOT_TYPES.get(original_type, original_type or 'jetbot'), space, to_command


def frame_file(src: Path, frame_path) -> Path | None:
    """The frame's path inside the session folder, or None when the event names none.

    UsageError for an absolute path, a `..` part, or a symlink that leads out of the folder:
    a session may only import its own frames, never any image elsewhere on the machine.
    """
    if not isinstance(frame_path, str) or not frame_path:
        return None
    relative = Path(frame_path)
    if relative.is_absolute() or '..' in relative.parts:
        raise UsageError(f'frame path {frame_path!r} leaves the session folder {src}')
    path = (src / relative).resolve()
    if not path.is_relative_to(src.resolve()):
        raise UsageError(f'frame path {frame_path!r} leads out of the session folder {src} '
                         f'(to {path})')
    return path


def load_jpeg(path: Path):
    """rgb8 pixels of a JPEG, or None when it is missing or unreadable (a failed camera read).

    The file type is checked on the open descriptor before a byte is read: UsageError for a
    FIFO, a device or a folder (reading one would block or never end), and for an image larger
    than MAX_IMAGE_SIDE_PX on a side (checked from its header, before decoding).
    """
    import numpy as np
    try:
        from PIL import Image
    except ImportError:
        raise UsageError('importing sessions needs Pillow to read JPEG frames: '
                         'pip install pillow') from None
    try:
        stream = open_regular_file(path, 'frame')
    except OSError:
        return None  # missing or unreadable: the camera read failed
    with stream:
        try:
            with Image.open(stream) as image:
                if max(image.size) > MAX_IMAGE_SIDE_PX:
                    raise UsageError(f'frame {path} is {image.size[0]}x{image.size[1]} px; '
                                     f'frames up to {MAX_IMAGE_SIDE_PX} px are imported')
                return np.asarray(image.convert('RGB'), dtype=np.uint8)
        except (OSError, ValueError, Image.DecompressionBombError):  # not an image, damaged
            return None


@dataclass
class ImportReport:
    frames: int = 0
    actions: int = 0
    missing_frames: int = 0
    truncated_lines: int = 0
    shifted_stamps: int = 0
    transitions: int = 0


def import_session(src, out) -> ImportReport:
    """Convert one original session folder into a new session bag at `out`."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise UsageError(f'no session folder at {src}')
    new_path(out, '--out')
    meta = read_meta(src)
    events, truncated = read_events(src)
    robot_type, action_space, to_command = action_mapping(meta, events)
    commands = {e.step: to_command(e.data) for e in events if e.kind == 'action'}
    config = {'imported_from': str(src.resolve()),
              'original_robot_type': meta.get('robot_type', ''), 'original_meta': meta}
    try:
        writer = SessionBagWriter(out, robot_type, action_space, config)
    except SessionBagError as error:
        raise UsageError(str(error)) from None
    report = ImportReport(truncated_lines=truncated)
    assembler = TransitionAssembler()
    finished = False
    try:
        _write_events(src, events, commands, writer, assembler, report)
        report.transitions += len(assembler.flush())
        finished = True
    finally:
        writer.close()
        if not finished:  # a half-written import is worse than none: the source is untouched
            shutil.rmtree(out, ignore_errors=True)
    return report


def _write_events(src, events, commands, writer, assembler, report) -> None:
    """Write in step order; stamps never go back, so the original's event order is kept.

    An action starts at its timestamp and ends `duration` later; an observation logged before
    that end (the original stamped events as it logged them) is moved to the end.
    """
    cursor_ns, shape = 0, None
    for event in events:
        stamp_ns = cursor_ns if event.timestamp_s is None else round(event.timestamp_s * NS_PER_S)
        if stamp_ns < cursor_ns:
            report.shifted_stamps += 1
            stamp_ns = cursor_ns
        if event.kind == 'action':
            command = commands[event.step].stamped(stamp_ns)
            end_ns = stamp_ns + round(command.duration_s * NS_PER_S)
            outcome = MotorOutcome(command, command.left, command.right, stamp_ns, end_ns,
                                   MotorStatus.COMPLETED)
            writer.write_command(command)
            writer.write_outcome(outcome)
            report.transitions += len(assembler.add_command(command))
            report.transitions += len(assembler.add_outcome(outcome))
            report.actions += 1
            cursor_ns = end_ns
        elif event.kind == 'observation':
            path = frame_file(src, event.data.get('frame_path'))
            pixels = None if path is None else load_jpeg(path)
            if pixels is None:
                report.missing_frames += 1
                continue
            if shape is not None and pixels.shape != shape:
                raise UsageError(f'frame {path} is {pixels.shape[1]}x{pixels.shape[0]} px, '
                                 f'the frames before it {shape[1]}x{shape[0]}: a session has '
                                 'frames of one size')
            shape = pixels.shape
            frame = Frame(pixels, stamp_ns)
            writer.write_frame(frame)
            report.transitions += len(assembler.add_frame(frame))
            report.frames += 1
            cursor_ns = stamp_ns


def main(args) -> int:
    report = import_session(args.src, args.out)
    print(f'imported {report.frames} frames and {report.actions} actions into {args.out}: '
          f'{report.transitions} transitions')
    notes = []
    if report.missing_frames:
        notes.append(f'{report.missing_frames} observations without a readable frame skipped')
    if report.truncated_lines:
        notes.append('a truncated last event line (interrupted recording) skipped')
    if report.shifted_stamps:
        notes.append(f'{report.shifted_stamps} stamps moved forward to keep the event order')
    for note in notes:
        print(f'  note: {note}')
    return 0
