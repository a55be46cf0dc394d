"""The steps of one session bag, indexed as it is read, also while it is still being written.

A step is one MotorState: the command as executed, its status and reason, the image before it
and the image after it. Images stay references into the bag until one is shown (`pixels`).
Frames are paired with commands by the transition rule of `devrobot_core.transitions` (the
last image in [end of the previous motion, start] and the first in [end, start of the next
motion]); a step is a *transition*, something the learner learns from, when its command
completed, is in the action space, and both images exist. `note` says why a step is not one.

`refresh()` reads what the file gained since the last call (`McapTail`), so the same index
serves a finished bag (read in slices while the page is already up) and a live recording.
Robot type and action space come from the bag's `/session/info`; a bag recorded without it
(plain `ros2 bag record`) gets the distinct commands it holds, marked as inferred.
"""

from __future__ import annotations

import bisect
import collections
import json
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devrobot_core import conversions
from devrobot_core.motor import (
    action_index, action_space_from_dicts, action_space_to_dicts, MotorOutcome, MotorStatus)
from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_STATE_TYPE, STRING_TYPE)
from devrobot_world_model.explorer.bag_channels import (  # noqa: F401 (BagError: re-exported)
    BagError, channel_role, find_mcap_files, image_header)
from devrobot_world_model.explorer.mcap_tail import (
    check_complete, check_start, McapTail, McapTailError)

NO_MOTION = (MotorStatus.REJECTED_STALE, MotorStatus.REJECTED_INVALID)
HEADER_BYTES = 256  # enough of an Image message for its stamp and size
DECODED_FRAMES = 64  # decoded images kept (stepping back and forth reuses them)
SLICE_BYTES = 64 << 20  # decompressed bytes read per refresh slice (~430 224-px frames)


@dataclass(frozen=True)
class Step:
    """One command as executed, with the images before and after it (indices into frames)."""

    index: int
    outcome: MotorOutcome
    action: int | None
    frame: int | None
    next_frame: int | None
    transition: bool
    note: str


class BagIndex:
    """The steps of one bag; `refresh()` reads further, `pixels(i)` decodes frame i."""

    def __init__(self, path, bag_id: int = 0):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f'no bag at {self.path}')
        self.id = bag_id
        self.files = find_mcap_files(self.path)
        # rosbag2 writes metadata.yaml when a recording closes: without it, it is still running
        # (or its recorder died)
        self.recording = not self._folder_has_metadata()
        for file in self.files:
            try:
                check_start(file) if self.recording else check_complete(file)
            except (McapTailError, OSError) as error:
                raise BagError(str(error)) from None
        self._tails = [McapTail(file) for file in self.files]
        self._roles: dict = {}  # (file, channel id) -> role
        self.robot_type = ''
        self.action_space: tuple = ()
        self.action_space_source = 'none'
        self.config: dict = {}
        self.frames: list = []  # (stamp_ns, tail index, MessageRef), by stamp
        self._stamps: list = []  # the frames' stamps, for bisecting
        self.frame_size = None  # (height, width)
        self._motions: list = []  # outcomes of commands that moved (not rejected), by start
        self._motion_starts: list = []
        self.steps: list = []
        self._outcomes: list = []  # every outcome, by start
        self._starts: list = []
        self._known: set = set()  # outcomes seen (a MotorState recorded twice counts once)
        self.commands_seen = 0
        self.error = ''
        self.complete = False  # everything on disk is indexed and the bag is finished
        self._decoded: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.RLock()
        self.version = 0  # grows whenever steps or frames change
        self._changes: collections.deque = collections.deque(maxlen=4096)  # (version, first)
        self._relabel_all = False

    # -- reading ----------------------------------------------------------------------------

    def refresh(self, max_bytes: int | None = SLICE_BYTES) -> bool:
        """Read more of the bag (about `max_bytes` at most); True when anything was added.

        Damage found while reading is kept in `error` (the steps before it stay) and raised
        as BagError once.
        """
        if self.error or self.complete:
            return False
        added = False
        try:
            for number, tail in enumerate(self._tails):
                if not tail.finished:
                    messages = tail.poll(max_bytes)
                    if messages:
                        self._add(number, messages)
                        added = True
                if not tail.finished:
                    break  # later files of a split bag wait for this one
            if self.recording and self._folder_has_metadata():
                self.recording = False  # the recorder closed the bag since
            self.complete = not self.recording and all(t.finished for t in self._tails)
        except (McapTailError, OSError) as error:
            self.error = str(error)
            raise BagError(self.error) from None
        return added

    def _folder_has_metadata(self) -> bool:
        folder = self.path if self.path.is_dir() else self.path.parent
        return (folder / 'metadata.yaml').is_file()

    @property
    def _store(self):
        """The message typestore, built on first use (in the thread that reads the bag)."""
        return get_devrobot_typestore()  # cached: one for everyone

    def _add(self, number: int, messages: list) -> None:
        tail = self._tails[number]
        frames, outcomes = [], []
        for ref in messages:
            role = self._role(number, ref.channel)
            if role == 'image':
                frames.append(self._frame_entry(number, ref))
            elif role == 'state':
                outcomes.append(conversions.motor_outcome_from_msg(
                    self._decode(tail.read(ref), MOTOR_STATE_TYPE)))
            elif role == 'command':
                self.commands_seen += 1
            elif role == 'info' and self.action_space_source != 'session info':
                self._read_info(self._decode(tail.read(ref), STRING_TYPE).data)
        with self._lock:
            self._merge(frames, outcomes)

    def _decode(self, raw: bytes, msgtype: str):
        try:
            return self._store.deserialize_cdr(raw, msgtype)
        except Exception as error:  # rosbags raises several kinds on bad bytes
            raise McapTailError(f'{self.path}: a {msgtype} message cannot be decoded '
                                f'({error})') from None

    def _frame_entry(self, number: int, ref) -> tuple:
        head = self._tails[number].read(ref, HEADER_BYTES)
        try:
            stamp_ns, height, width = image_header(head)
        except (ValueError, struct.error):
            image = self._decode(self._tails[number].read(ref), IMAGE_TYPE)
            stamp_ns = conversions.ns_from_time(image.header.stamp)
            height, width = int(image.height), int(image.width)
        if self.frame_size is None:
            self.frame_size = (height, width)
        return stamp_ns, number, ref

    def _role(self, number: int, channel_id: int) -> str:
        key = (number, channel_id)
        if key not in self._roles:
            channel = self._tails[number].channels.get(channel_id)
            self._roles[key] = channel_role(channel, self._tails[number].channels.values(),
                                            self.path)
        return self._roles[key]

    def _read_info(self, text: str) -> None:
        try:
            info = json.loads(text)
            space = action_space_from_dicts(info.get('action_space') or [])
        except (ValueError, KeyError, TypeError) as error:
            raise McapTailError(f'{self.path}: unreadable session info: {error}') from None
        self.robot_type = str(info.get('robot_type', ''))
        self.config = dict(info.get('config') or {})
        if space:
            self.action_space, self.action_space_source = space, 'session info'
            self._relabel_all = True

    # -- steps ------------------------------------------------------------------------------

    def _merge(self, frames: list, outcomes: list) -> None:
        """Insert new frames and outcomes; re-pair the steps they can change."""
        first = 0 if self._relabel_all else len(self._outcomes)
        self._relabel_all = False
        for entry in frames:
            position = bisect.bisect_right(self._stamps, entry[0])
            if position < len(self._stamps):
                self._decoded.clear()  # an image arrived late: later frame numbers moved
            self._stamps.insert(position, entry[0])
            self.frames.insert(position, entry)
            first = min(first, max(0, bisect.bisect_left(self._starts, entry[0]) - 1))
        for outcome in outcomes:
            if outcome in self._known:
                continue
            self._known.add(outcome)
            position = bisect.bisect_right(self._starts, outcome.start_ns)
            self._starts.insert(position, outcome.start_ns)
            self._outcomes.insert(position, outcome)
            first = min(first, max(0, position - 1))
            if outcome.status not in NO_MOTION:
                position = bisect.bisect_right(self._motion_starts, outcome.start_ns)
                self._motion_starts.insert(position, outcome.start_ns)
                self._motions.insert(position, outcome)
        if outcomes and self.action_space_source in ('none', 'inferred'):
            if self._infer_action_space():
                first = 0
        self._relabel(first)
        if frames or outcomes or first == 0:
            self._changed(first)

    def _changed(self, first: int) -> None:
        self.version += 1
        self._changes.append((self.version, first))

    def changed_since(self, version: int) -> int:
        """The first step that may differ from what was there at `version` (0: all)."""
        with self._lock:
            if version == self.version:
                return len(self.steps)
            if not self._changes or version < self._changes[0][0] - 1 or version > self.version:
                return 0
            return min([first for v, first in self._changes if v > version] + [len(self.steps)])

    def snapshot(self, since_version: int | None = None, start: int = 0,
                 stop: int | None = None) -> tuple:
        """(start, version, total, steps[start:stop]), read at one moment.

        With `since_version`, start is the first step changed since that version.
        """
        with self._lock:
            if since_version is not None:
                start = self.changed_since(since_version)
            return start, self.version, len(self.steps), self.steps[start:stop]

    def _infer_action_space(self) -> bool:
        space = []
        for outcome in self._outcomes:
            if action_index(outcome.command, space) is None:
                space.append(outcome.command.stamped(0))
        space.sort(key=lambda c: (c.left, c.right, c.duration_s))
        if tuple(space) != self.action_space:
            self.action_space, self.action_space_source = tuple(space), 'inferred'
            return True
        return False

    def use_action_space(self, space, source: str) -> None:
        """Take another action space (a checkpoint's) for a bag that does not state one."""
        with self._lock:
            self.action_space, self.action_space_source = tuple(space), source
            self._relabel(0)
            self._changed(0)

    def _relabel(self, first: int) -> None:
        del self.steps[first:]
        for index in range(first, len(self._outcomes)):
            self.steps.append(self._pair(index, self._outcomes[index], self._stamps,
                                         self._motion_starts))

    def _pair(self, index: int, outcome: MotorOutcome, stamps: list, starts: list) -> Step:
        action = action_index(outcome.command, self.action_space)
        if outcome.status in NO_MOTION:
            before = bisect.bisect_right(stamps, outcome.start_ns) - 1
            return Step(index, outcome, action, before if before >= 0 else None, None, False,
                        f'rejected: {outcome.reason or outcome.status.name.lower()}')
        position = bisect.bisect_left(starts, outcome.start_ns)
        low = self._motions[position - 1].end_ns if position > 0 else None
        high = starts[position + 1] if position + 1 < len(starts) else None
        before = bisect.bisect_right(stamps, outcome.start_ns) - 1
        frame = before if before >= 0 and (low is None or stamps[before] >= low) else None
        after = bisect.bisect_left(stamps, outcome.end_ns)
        next_frame = after if after < len(stamps) and (high is None or stamps[after] <= high) \
            else None
        note = ''
        if outcome.status != MotorStatus.COMPLETED:
            note = f'{outcome.status.name.lower()}: {outcome.reason}'.rstrip(': ')
        elif action is None:
            note = 'command not in the action space'
        elif frame is None:
            note = 'no image between the previous command and this one'
        elif next_frame is None:
            note = 'no image after this command yet' if high is None and self.recording \
                else 'no image between this command and the next'
        return Step(index, outcome, action, frame, next_frame, not note, note)

    # -- frames -----------------------------------------------------------------------------

    def pixels(self, frame: int) -> np.ndarray:
        """rgb8 `[H, W, 3]` of frame `frame` (decoded now, or from a small cache)."""
        with self._lock:
            cached = self._decoded.get(frame)
            if cached is not None:
                self._decoded.move_to_end(frame)
                return cached
            _, number, ref = self.frames[frame]
        try:
            image = self._store.deserialize_cdr(self._tails[number].read(ref), IMAGE_TYPE)
            pixels = conversions.frame_from_image(image).pixels
        except (McapTailError, ValueError, OSError) as error:
            raise BagError(f'{self.path}: frame {frame} cannot be read: {error}') from None
        pixels.setflags(write=False)
        with self._lock:
            self._decoded[frame] = pixels
            while len(self._decoded) > DECODED_FRAMES:
                self._decoded.popitem(last=False)
        return pixels

    def history(self, step: Step, length: int) -> list:
        """`length` steps ending with `step`, oldest first.

        They are the transitions that led to its frame; where the chain breaks, its first step
        is repeated.
        """
        steps = [step]
        with self._lock:
            while len(steps) < length and steps[0].index > 0:
                previous = self.steps[steps[0].index - 1]
                if not previous.transition or previous.next_frame != steps[0].frame:
                    break
                steps.insert(0, previous)
        return [steps[0]] * (length - len(steps)) + steps

    def inputs(self, step: Step, length: int) -> tuple:
        """What a model is given for `step`: (frames, actions, next frame).

        Frames uint8 `[T, H, W, 3]` (its history, its own frame last), the T actions taken
        after them (unknown ones as 0), and the frame after the step (None when there is none).
        """
        steps = self.history(step, length)
        frames = np.stack([self.pixels(s.frame) for s in steps])
        next_frame = self.pixels(step.next_frame) if step.next_frame is not None else None
        return frames, [s.action if s.action is not None else 0 for s in steps], next_frame

    def transitions(self, start: int = 0, stop: int | None = None) -> list:
        """The steps in [start, stop) that are transitions."""
        with self._lock:
            return [s for s in self.steps[start:stop] if s.transition]

    def summary(self) -> dict:
        """What the page shows about this bag."""
        with self._lock:
            return {
                'id': self.id, 'name': self.path.name, 'path': str(self.path),
                'robot_type': self.robot_type or 'unknown',
                'action_space': [dict(d, index=i, label=action_label(c)) for i, (d, c) in
                                 enumerate(zip(action_space_to_dicts(self.action_space),
                                               self.action_space))],
                'action_space_source': self.action_space_source,
                'steps': len(self.steps), 'frames': len(self.frames),
                'start_ns': self._stamps[0] if self._stamps else (
                    self._starts[0] if self._starts else None),
                'transitions': sum(s.transition for s in self.steps),
                'commands': self.commands_seen,
                'frame_size': list(self.frame_size) if self.frame_size else None,
                'recording': self.recording, 'complete': self.complete,
                'error': self.error, 'version': self.version}


def action_label(command) -> str:
    """`L0 R0.12 0.2s`: a command's speeds and duration, short."""
    return f'L{command.left:g} R{command.right:g} {command.duration_s:g}s'
