"""The small interface every JetBot backend satisfies (RPyC client, onboard hardware, mock).

The motor control core decides speeds; a backend only moves them to the hardware and brings
camera frames back. Link failures are ConnectionError subclasses, so callers can tell a
dropped link (stop the command, carry on) from a robot that stays unreachable (end the session).
"""

from __future__ import annotations

from typing import Protocol


class LinkLostError(ConnectionError):
    """The link to the robot failed during a call; the backend may reconnect on the next one."""


class WatchdogStoppedError(LinkLostError):
    """The robot's watchdog stopped the motors before our next call reached it (a slow link).

    The command in progress did not run as planned: it must end as STOPPED, not COMPLETED.
    """


class RobotUnreachableError(ConnectionError):
    """The robot cannot be used any more: the session must end.

    Raised when it could not be reached after all reconnection attempts, and (as the
    subclasses below) when it refuses our motor commands or its motors fail.
    """


class MotorsUnavailableError(RobotUnreachableError):
    """Another client drives the robot's motors, or took them over from us."""


class RobotFaultError(RobotUnreachableError):
    """The robot answered a motor command with a failure (its motor board, say)."""


class JetBotBackend(Protocol):
    """Camera and motors of one JetBot."""

    def connect(self) -> None:
        """Open the link or the hardware; raise RobotUnreachableError with a clear message."""

    def read_frame(self):
        """One camera image as rgb8 `numpy.ndarray` `[H, W, 3]`."""

    def apply_motors(self, left: float, right: float, hold_s: float) -> None:
        """Set both motor speeds (fractions of full power).

        `hold_s` is how long the speeds may stay on without another call: backends that can
        (the hardened robot-side service) stop the motors by themselves after it.
        """

    def close(self) -> None:
        """Stop the motors (best effort) and release everything; safe to call twice."""
