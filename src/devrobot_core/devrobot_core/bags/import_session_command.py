"""`devrobot import-session SRC --out BAG`: a session folder of the original system -> a bag.

The original records `session_meta.json`, `events_shard_NNN.jsonl` (observations and actions
numbered by `step`) and `frames/*.jpg`. Each observation becomes an image, each action a
MotorCommand plus a COMPLETED MotorState that starts at the action's timestamp and lasts its
duration, so the transition assembler pairs every action with the observations around it, as
the original's reader did. Where the original would pair an action with a frame that also shows
another action (a missing observation between two actions), the assembler drops it instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from devrobot_core.bags.session_bag import SessionBagError, SessionBagWriter
from devrobot_core.errors import UsageError
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus
from devrobot_core.transitions import TransitionAssembler

NS_PER_S = 1_000_000_000
ROBOT_TYPES = {'ToroidalDotRobot': 'toroidal_dot', 'JetBotInterface': 'jetbot'}


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


def read_meta(src: Path) -> dict:
    meta_path = src / 'session_meta.json'
    if not meta_path.is_file():
        nested = sorted(p.name for p in src.glob('*/session_meta.json')) if src.is_dir() else []
        hint = f' (it holds sessions: pass one of them, e.g. {src / Path(nested[0]).parent})' \
            if nested else ''
        raise UsageError(f'{src} is not a session folder: no session_meta.json{hint}')
    try:
        meta = json.loads(meta_path.read_text('utf-8'))
    except (OSError, ValueError) as error:
        raise UsageError(f'cannot read {meta_path}: {error}') from None
    if not isinstance(meta, dict):
        raise UsageError(f'{meta_path} does not hold a JSON object')
    return meta


def read_events(src: Path) -> tuple:
    """All events of the shards in step order, and how many truncated lines were skipped.

    A writer interrupted mid-line leaves a truncated last line in its last shard: skipped.
    Any other unreadable line is an error.
    """
    shards = sorted(src.glob('events_shard_*.jsonl'))
    if not shards:
        raise UsageError(f'{src} holds no events_shard_*.jsonl files')
    events, truncated = [], 0
    for shard_index, shard in enumerate(shards):
        lines = shard.read_text('utf-8').splitlines()
        for line_index, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                events.append(OriginalEvent(int(item['step']), str(item['type']),
                                            dict(item.get('data') or {}),
                                            _optional_float(item.get('timestamp'))))
            except (ValueError, KeyError, TypeError) as error:
                if shard_index == len(shards) - 1 and line_index == len(lines) - 1:
                    truncated += 1
                    continue
                raise UsageError(f'{shard}:{line_index + 1}: unreadable event: {error}') from None
    events.sort(key=lambda event: event.step)
    return events, truncated


def _optional_float(value):
    return None if value is None else float(value)


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
            if not isinstance(index, int) or not 0 <= index < len(space):
                raise UsageError(f'toroidal-dot action {data} is not 0 (stay) or 1 (move)')
            return space[index]
        return 'toroidal_dot', space, to_command

    def to_command(data: dict) -> MotorCommand:
        try:
            command = MotorCommand(float(data['motor_left']), float(data['motor_right']),
                                   float(data['duration']))
        except (KeyError, TypeError, ValueError):
            raise UsageError(f'action {data} lacks motor_left, motor_right or duration') from None
        if not command.is_finite() or command.duration_s <= 0:
            raise UsageError(f'action {data} has no valid speeds and positive duration')
        return command
    space = tuple(to_command(a) for a in meta.get('action_space') or [])
    if not space:  # an old session without the list: the distinct commands it used
        used = [to_command(a) for a in actions]
        space = tuple(c for i, c in enumerate(used)
                      if not any(c.same_action(u) for u in used[:i]))
    return ROBOT_TYPES.get(original_type, original_type or 'jetbot'), space, to_command


def load_jpeg(path: Path):
    """rgb8 pixels of a JPEG, or None when it is missing or unreadable (a failed camera read)."""
    import numpy as np
    try:
        from PIL import Image
    except ImportError:
        raise UsageError('importing sessions needs Pillow to read JPEG frames: '
                         'pip install pillow') from None

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('RGB'), dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError):  # includes unidentified images
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
    cursor_ns = 0
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
            pixels = load_jpeg(src / str(event.data.get('frame_path', '')))
            if pixels is None:
                report.missing_frames += 1
                continue
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
