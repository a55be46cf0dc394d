"""Noticing a command whose MotorState never came (a message lost, a driver restarted).

Without this the exploration core would wait for that state forever and the robot would stand
still; with it, the next camera frame after the deadline may act again.
"""

from __future__ import annotations

from devrobot_core.motor import MotorCommand

NS_PER_S = 1_000_000_000


def overdue(command: MotorCommand | None, now_ns: int, grace_s: float) -> bool:
    """True when `command`'s duration plus `grace_s` have passed since its stamp."""
    if command is None:
        return False
    deadline_ns = command.stamp_ns + int(round((command.duration_s + grace_s) * NS_PER_S))
    return now_ns > deadline_ns
