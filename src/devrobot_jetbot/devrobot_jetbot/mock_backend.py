"""A JetBot backend without hardware: records motor calls, renders frames that show motion.

Used by tests and by `--backend mock` to try the driver, the node and the commands anywhere.
The frame is a vertical bar whose position follows the integrated right-motor speed, so
`devrobot try-action --backend mock` shows a visible difference after a forward command.
"""

from __future__ import annotations

import threading

import numpy as np

from devrobot_core.clock import WallClock
from devrobot_core.robot import Clock

from devrobot_jetbot.backend import LinkLostError


class MockBackend:
    """In-memory JetBot; `fail_next_calls` makes the next calls raise LinkLostError."""

    def __init__(self, clock: Clock | None = None, size: int = 224,
                 pixels_per_speed_s: float = 400.0):
        self.clock = clock or WallClock()
        self.size = size
        self.pixels_per_speed_s = pixels_per_speed_s
        self.motor_calls: list = []  # (time_ns, left, right, hold_s)
        self.connected = False
        self.closed = False
        self.fail_next_calls = 0
        self._position_px = 0.0
        self._integrated_ns = None
        self._lock = threading.Lock()

    def connect(self) -> None:
        self.connected = True

    def read_frame(self):
        with self._lock:
            self._maybe_fail()
            self._integrate(self.clock.now_ns())
            column = int(self._position_px) % self.size
        frame = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        frame[:, max(column - 4, 0):column + 4] = (255, 255, 255)
        return frame

    def apply_motors(self, left: float, right: float, hold_s: float) -> None:
        with self._lock:
            self._maybe_fail()
            now_ns = self.clock.now_ns()
            self._integrate(now_ns)
            self.motor_calls.append((now_ns, float(left), float(right), float(hold_s)))

    def close(self) -> None:
        with self._lock:
            if self.connected and not self.closed:
                self.motor_calls.append((self.clock.now_ns(), 0.0, 0.0, 0.0))
            self.closed = True
            self.connected = False

    def speeds(self) -> tuple:
        """The (left, right) last applied."""
        if not self.motor_calls:
            return 0.0, 0.0
        return self.motor_calls[-1][1], self.motor_calls[-1][2]

    def _maybe_fail(self):
        if self.fail_next_calls > 0:
            self.fail_next_calls -= 1
            raise LinkLostError('mock link failure')

    def _integrate(self, now_ns: int) -> None:
        # speeds are piecewise constant between calls: integrate since the last look
        if self.motor_calls and self._integrated_ns is not None:
            right = self.motor_calls[-1][2]
            elapsed_s = max(0, now_ns - self._integrated_ns) / 1e9
            self._position_px += right * self.pixels_per_speed_s * elapsed_s
        self._integrated_ns = now_ns
