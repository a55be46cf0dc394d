"""Clocks satisfying `devrobot_core.robot.Clock`."""

from __future__ import annotations

import time


class WallClock:
    """Real time: what hardware runs on."""

    def now_ns(self) -> int:
        return time.time_ns()

    def sleep(self, duration_s: float) -> None:
        if duration_s > 0:
            time.sleep(duration_s)


class VirtualClock:
    """Time that moves only when told to, so simulated sessions run faster than real time.

    Starts at `start_ns` (by default the wall time at creation, so recorded stamps look ordinary).
    """

    def __init__(self, start_ns: int | None = None):
        self._now_ns = time.time_ns() if start_ns is None else int(start_ns)

    def now_ns(self) -> int:
        return self._now_ns

    def sleep(self, duration_s: float) -> None:
        if duration_s > 0:
            self._now_ns += int(round(duration_s * 1e9))
