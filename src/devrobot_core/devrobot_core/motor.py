"""Timed motor commands and their outcomes, as plain data.

These mirror `devrobot_interfaces/MotorCommand` and `MotorState` without importing any message
package, so drivers, the simulator, the runner and the world model share them without ROS. Times
are integer nanoseconds (as in `builtin_interfaces/Time`); durations are float seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Sequence


class MotorStatus(IntEnum):
    """How a command ended; the values are the `STATUS_*` constants of MotorState.msg."""

    COMPLETED = 0
    PREEMPTED = 1
    REJECTED_STALE = 2
    REJECTED_INVALID = 3
    STOPPED = 4


@dataclass(frozen=True)
class MotorCommand:
    """Run the motors at `left`/`right` for `duration_s` seconds, then stop."""

    left: float
    right: float
    duration_s: float
    stamp_ns: int = 0  # when the command was issued (the message header's stamp)

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.left, self.right, self.duration_s))

    def same_action(self, other: 'MotorCommand', tolerance: float = 1e-3) -> bool:
        """True when both ask for the same speeds and duration, whatever their stamps."""
        return (abs(self.left - other.left) <= tolerance
                and abs(self.right - other.right) <= tolerance
                and abs(self.duration_s - other.duration_s) <= tolerance)

    def stamped(self, stamp_ns: int) -> 'MotorCommand':
        return MotorCommand(self.left, self.right, self.duration_s, stamp_ns)


@dataclass(frozen=True)
class MotorOutcome:
    """A command as it was executed: the speeds actually applied, when, and how it ended."""

    command: MotorCommand
    left: float
    right: float
    start_ns: int
    end_ns: int
    status: MotorStatus
    reason: str = ''


@dataclass(frozen=True)
class Frame:
    """One camera image: rgb8 pixels `[H, W, 3]` and the time it was captured."""

    pixels: object  # numpy.ndarray of uint8, [H, W, 3]
    stamp_ns: int


ActionSpace = tuple  # tuple[MotorCommand, ...]: the discrete commands a robot offers


def action_index(command: MotorCommand, action_space: Sequence[MotorCommand],
                 tolerance: float = 1e-3) -> int | None:
    """Position of `command` in `action_space`, or None when it is not one of its commands."""
    for index, candidate in enumerate(action_space):
        if candidate.same_action(command, tolerance):
            return index
    return None


def action_space_from_flat(values: Sequence[float]) -> tuple:
    """Build an action space from `[left, right, duration_s, left, right, duration_s, ...]`.

    This flat form is how a list of commands fits in one ROS parameter (a double array).
    """
    if len(values) == 0 or len(values) % 3 != 0:
        raise ValueError(
            f'an action space needs left, right, duration triples; got {len(values)} numbers')
    space = tuple(MotorCommand(float(values[i]), float(values[i + 1]), float(values[i + 2]))
                  for i in range(0, len(values), 3))
    for command in space:
        if not command.is_finite() or command.duration_s <= 0:
            raise ValueError(f'invalid command in action space: {command}')
    return space


def action_space_to_flat(action_space: Sequence[MotorCommand]) -> list:
    return [float(v) for c in action_space for v in (c.left, c.right, c.duration_s)]


def action_space_to_dicts(action_space: Sequence[MotorCommand]) -> list:
    """Plain JSON-ready form, as stored in bags and checkpoints."""
    return [{'left': c.left, 'right': c.right, 'duration': c.duration_s} for c in action_space]


def action_space_from_dicts(items: Sequence[dict]) -> tuple:
    return action_space_from_flat([v for d in items
                                   for v in (d['left'], d['right'], d['duration'])])


@dataclass(frozen=True)
class Transition:
    """What a command did: the frame before it, how it was executed, and the frame after it."""

    frame: Frame
    outcome: MotorOutcome
    next_frame: Frame
