"""Which camera frames the world-model node passes on, and how often it says what it dropped.

Pure: no rclpy, no torch. A model is built for one frame size, so a frame of another size (a
second camera or robot on the ROS domain, a camera set to another resolution) would end the
node with a tensor-shape error; the gate drops it instead. The size is the loaded model's when
the policy tells it (a resumed checkpoint), else the first frame's. Warnings about dropped
frames are throttled: one per `period_s`, saying how many were held back meanwhile.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

WARN_EVERY_S = 5.0


def expected_frame_shape(policy) -> tuple | None:
    """The frame shape `[H, W, 3]` the policy's model was built for, when it says so."""
    for holder in (policy, getattr(policy, 'replay', None)):
        shape = getattr(holder, 'frame_shape', None)
        if shape:
            return tuple(int(n) for n in shape)
    return None


def _size(shape: tuple) -> str:
    return f'{shape[1]}x{shape[0]}' + ('' if len(shape) == 3 and shape[2] == 3 else
                                       f' ({shape[2:] or 1} channels)')


class FrameGate:
    """Admits uint8 rgb frames of one shape (square, as the models need)."""

    def __init__(self, expected_shape: tuple | None = None):
        self.expected_shape = tuple(expected_shape) if expected_shape else None
        self.dropped = 0

    def problem(self, pixels: np.ndarray) -> str | None:
        """None for a frame to pass on; else why it is dropped, in one line."""
        shape = tuple(pixels.shape)
        reason = None
        if len(shape) != 3 or shape[2] != 3 or pixels.dtype != np.uint8:
            reason = f'dropped a {pixels.dtype} {shape} frame: expected rgb8 pixels'
        elif self.expected_shape is None and shape[0] != shape[1]:
            reason = (f'dropped a {_size(shape)} camera frame: the world model learns from '
                      'square frames (set the camera to e.g. 224x224)')
        elif self.expected_shape is not None and shape != self.expected_shape:
            reason = (f'dropped a {_size(shape)} camera frame: the world model takes '
                      f'{_size(self.expected_shape)} (another camera or robot on this ROS '
                      'domain, or a camera set to another resolution?)')
        if reason is not None:
            self.dropped += 1
            return reason
        self.expected_shape = shape
        return None


class Throttle:
    """At most one message per `period_s`; the next one says how many were held back."""

    def __init__(self, period_s: float = WARN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.period_s, self.clock = period_s, clock
        self._next_s = None
        self.held = 0

    def __call__(self, text: str) -> str | None:
        """`text` (with the count held back) when a message is due, else None."""
        now = self.clock()
        if self._next_s is not None and now < self._next_s:
            self.held += 1
            return None
        self._next_s = now + self.period_s
        if self.held:
            text = f'{text} ({self.held} more since the last such warning)'
            self.held = 0
        return text
