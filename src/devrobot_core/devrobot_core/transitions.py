"""The one transition assembler: a stream of frames and motor outcomes -> transitions.

Live topics (node callbacks, the no-ROS runner) and recorded bags feed the same class, so a bag
replays into exactly the transitions its session learned from.

The rule, for a COMPLETED command that ran from `start` to `end` (as its MotorState says):
- frame: the last image stamped in [end of the previous command, start];
- next frame: the first image stamped in [end, start of the next command].
Between two commands the motors are off, so any image in that idle window shows the same world.
A transition is discarded when either window holds no image: an image taken while motors ran, or
one from before the previous command, would pair the action with effects that are not its own
(a dropped camera image must not yield a next frame showing the next command's effect).
Only stamps matter, not arrival order, so jitter and out-of-order delivery are handled; a
window is decided once the next command is known (or the stream ends), one command late.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Iterable, Iterator

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus, Transition

_NO_MOTION = (MotorStatus.REJECTED_STALE, MotorStatus.REJECTED_INVALID)


class TransitionAssembler:
    """Pairs each completed command with the images before and after it; bounded memory.

    `max_frames` bounds the images kept while waiting for the next command: enough for the
    longest gap between a command's start and its MotorState reaching us (128 frames is 4 s of
    a 30 Hz camera). Images that no future transition can use are dropped at once.
    """

    def __init__(self, max_frames: int = 128):
        if max_frames < 2:
            raise ValueError(f'max_frames must be at least 2, got {max_frames}')
        self.max_frames = max_frames
        self._stamps: list = []  # sorted stamps of the kept frames
        self._frames: list = []  # the frames, in the same order
        self._motions: list = []  # [previous resolved motion?, unresolved ones...] by start
        self._first_unresolved = 0  # index into _motions
        self._idle_until_ns = None  # no motion starts before this (from a command's stamp)
        self.discarded = Counter()  # reason -> how many commands gave no transition
        self.emitted = 0

    # ------------------------------------------------------------ input

    def add_frame(self, frame: Frame) -> list:
        index = bisect.bisect_right(self._stamps, frame.stamp_ns)
        self._stamps.insert(index, frame.stamp_ns)
        self._frames.insert(index, frame)
        transitions = self._resolve(final=False)
        self._prune()
        return transitions

    def add_command(self, command: MotorCommand) -> list:
        """Optional hint: a command stamped at t starts no earlier than t.

        It lets the previous command's transition out before the next MotorState arrives (the
        runner gets each transition one step sooner). Unstamped commands are ignored.
        """
        if command.stamp_ns > 0:
            self._idle_until_ns = max(self._idle_until_ns or 0, command.stamp_ns)
        return self._resolve(final=False)

    def add_outcome(self, outcome: MotorOutcome) -> list:
        if outcome.status in _NO_MOTION:
            self.discarded['rejected'] += 1
            return []
        if outcome in self._motions:  # the same MotorState delivered twice
            self.discarded['duplicate'] += 1
            return []
        resolved = self._motions[:self._first_unresolved]
        if resolved and outcome.start_ns < resolved[-1].start_ns:
            self.discarded['arrived_too_late'] += 1
            return []
        starts = [m.start_ns for m in self._motions]
        self._motions.insert(bisect.bisect_right(starts, outcome.start_ns), outcome)
        transitions = self._resolve(final=False)
        self._prune()
        return transitions

    def flush(self) -> list:
        """The stream ended: decide every waiting command (no command follows the last one)."""
        transitions = self._resolve(final=True)
        self._prune()
        return transitions

    # ------------------------------------------------------------ deciding

    def _previous_end_ns(self, index: int):
        return self._motions[index - 1].end_ns if index > 0 else None

    def _last_frame_in(self, low_ns, high_ns):
        """The latest frame stamped in [low_ns, high_ns] (low None: unbounded)."""
        index = bisect.bisect_right(self._stamps, high_ns) - 1
        if index >= 0 and (low_ns is None or self._stamps[index] >= low_ns):
            return self._frames[index]
        return None

    def _first_frame_in(self, low_ns, high_ns):
        """The earliest frame stamped in [low_ns, high_ns] (high None: unbounded)."""
        index = bisect.bisect_left(self._stamps, low_ns)
        if index < len(self._stamps) and (high_ns is None or self._stamps[index] <= high_ns):
            return self._frames[index]
        return None

    def _resolve(self, final: bool) -> list:
        transitions = []
        while self._first_unresolved < len(self._motions):
            index = self._first_unresolved
            motion = self._motions[index]
            closed = final or index + 1 < len(self._motions)
            if index + 1 < len(self._motions):
                next_start_ns = self._motions[index + 1].start_ns
            elif final:
                next_start_ns = None
            elif self._idle_until_ns is not None and self._idle_until_ns >= motion.end_ns:
                next_start_ns = self._idle_until_ns
            else:
                break  # the idle window after this command is still open
            if motion.status == MotorStatus.COMPLETED:
                frame = self._last_frame_in(self._previous_end_ns(index), motion.start_ns)
                next_frame = self._first_frame_in(motion.end_ns, next_start_ns)
                if frame is not None and next_frame is not None:
                    transitions.append(Transition(frame, motion, next_frame))
                elif not closed:
                    break  # a late image may still fill a window: wait for the next command
                else:
                    self.discarded['no_frame_before' if frame is None
                                   else 'no_frame_after'] += 1
            else:
                self.discarded['not_completed'] += 1
            self._first_unresolved += 1
        # keep only the last resolved motion: its end bounds the next command's frame window
        drop = max(0, self._first_unresolved - 1)
        del self._motions[:drop]
        self._first_unresolved -= drop
        self.emitted += len(transitions)
        return transitions

    # ------------------------------------------------------------ memory

    def _prune(self) -> None:
        """Drop images no transition can use; then the oldest ones beyond max_frames."""
        oldest_useful_ns = self._previous_end_ns(self._first_unresolved)
        keep = [
            i for i, stamp in enumerate(self._stamps)
            if (oldest_useful_ns is None or stamp >= oldest_useful_ns)
            and not any(m.start_ns < stamp < m.end_ns for m in self._motions)
        ]
        if len(keep) > self.max_frames:
            # protect each waiting command's candidates: the last image before its start and
            # the first image after its end
            waiting = self._motions[self._first_unresolved:]
            protected = {bisect.bisect_left(self._stamps, m.end_ns) for m in waiting}
            protected |= {bisect.bisect_right(self._stamps, m.start_ns) - 1 for m in waiting}
            excess = len(keep) - self.max_frames
            evict = set()
            for i in keep:
                if len(evict) == excess:
                    break
                if i not in protected:
                    evict.add(i)
            keep = [i for i in keep if i not in evict]
        if len(keep) != len(self._stamps):
            self._stamps = [self._stamps[i] for i in keep]
            self._frames = [self._frames[i] for i in keep]


def transitions_from_events(events: Iterable, max_frames: int = 128,
                            assembler: TransitionAssembler | None = None) -> Iterator[Transition]:
    """Transitions from a stream of Frame, MotorCommand and MotorOutcome events (a bag)."""
    assembler = assembler or TransitionAssembler(max_frames)
    for event in events:
        if isinstance(event, Frame):
            yield from assembler.add_frame(event)
        elif isinstance(event, MotorOutcome):
            yield from assembler.add_outcome(event)
        elif isinstance(event, MotorCommand):
            yield from assembler.add_command(event)
    yield from assembler.flush()
