"""Inspection off the executor's thread: the newest frame is inspected when the worker is free.

Inspection (reconstruction and one predicted frame per action) costs far more than choosing a
command, so the camera callback only leaves the frame here and returns. Frames that arrive
while an inspection runs replace each other: the pictures show the newest frame the computer
had time for, never a backlog.
"""

from __future__ import annotations

import threading
from typing import Callable

from devrobot_world_model.learning.thread_priority import lower_this_threads_priority


class InspectionWorker:
    """Runs `inspect(pixels)` on its own thread and hands the result to `publish`."""

    def __init__(self, inspect: Callable, publish: Callable, on_error: Callable = print):
        self._inspect, self._publish, self._on_error = inspect, publish, on_error
        self._request = None  # (stamp_ns, pixels): the newest frame not inspected yet
        self._condition = threading.Condition()
        self._busy = self._stopping = False
        self.done = self.replaced = 0
        self._thread = threading.Thread(target=self._work, name='devrobot-inspection',
                                        daemon=True)
        self._thread.start()

    def offer(self, stamp_ns: int, pixels) -> None:
        """Inspect this frame when the worker is free (it replaces one still waiting)."""
        with self._condition:
            self.replaced += self._request is not None
            self._request = (stamp_ns, pixels)
            self._condition.notify_all()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no frame waits and none is being inspected; False on timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: self._request is None and not self._busy, timeout_s)

    def close(self) -> None:
        """Stop after the inspection running now (a waiting frame is dropped)."""
        with self._condition:
            self._stopping, self._request = True, None
            self._condition.notify_all()
        self._thread.join()

    def _work(self) -> None:
        lower_this_threads_priority()  # pictures for people: the robot's commands go first
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._request is not None or self._stopping)
                if self._stopping:
                    return
                (stamp_ns, pixels), self._request = self._request, None
                self._busy = True
            try:
                self._publish(stamp_ns, self._inspect(pixels))
            except Exception as error:  # a failed picture must not stop the robot
                self._on_error(f'inspection failed: {error!r}')
            finally:
                with self._condition:
                    self.done += 1
                    self._busy = False
                    self._condition.notify_all()
