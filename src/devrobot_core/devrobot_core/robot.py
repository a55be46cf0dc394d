"""The small interface every robot satisfies: the simulator, the JetBot backends, and mocks.

A learning loop or the runner sees only this, so one loop drives any robot.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome


class Robot(Protocol):
    """A camera and timed motors."""

    robot_type: str  # e.g. 'toroidal_dot', 'jetbot': names checkpoint and session folders
    action_space: Sequence[MotorCommand]

    def connect(self) -> None:
        """Open the camera and motors; raise ConnectionError with a clear message on failure."""

    def read(self) -> Frame:
        """Capture one rgb8 frame."""

    def send(self, command: MotorCommand) -> MotorOutcome:
        """Execute a timed command to its end and report what was actually applied."""

    def close(self) -> None:
        """Stop the motors and release the hardware; safe to call twice."""


class Clock(Protocol):
    """Where time comes from: wall time on hardware, virtual time in the simulator and tests."""

    def now_ns(self) -> int:
        ...

    def sleep(self, duration_s: float) -> None:
        ...
