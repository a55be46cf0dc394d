"""The toroidal-dot world: one white dot on black that a timed command moves right.

Pure numpy: no ROS, no torch. Rendering is vectorised: the dot's pixel offsets are computed once
and placed with modular indexing, so a 'move' is exactly a horizontal roll of the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from devrobot_core.config_fields import check_at_least, setting
from devrobot_core.motor import action_index, MAX_IMAGE_SIDE_PX, MotorCommand


@dataclass
class ToroidalDotConfig:
    """The simulated world. Defaults are the original's config (radius 5, 27 px per move).

    The original environment's own defaults were radius 2 and 7 px: set them with
    `dot_radius=2, move_pixels=7`.
    """

    image_size: int = setting(224, 'Side of the square rgb8 image, in pixels.')
    dot_radius: int = setting(5, 'Radius of the white dot, in pixels.')
    move_pixels: int = setting(27, 'How far a move command shifts the dot right, in pixels.')
    seed: int = setting(0, "Seed of the dot's random start and of the distractor's noise.")
    move_speed: float = setting(0.12, 'Right-motor speed of the move command.')
    duration_s: float = setting(0.2, 'Duration of every command in the action space, seconds.')
    distractor: bool = setting(
        False, "Add a 'noisy TV' command (left motor) that leaves the dot and shows a corner "
        'patch of fresh random noise in the next frame; any other command clears it.')
    distractor_size: int = setting(48, 'Side of the noisy corner patch, in pixels.')

    def __post_init__(self):
        check_at_least(self, 0, 'seed')
        if not 8 <= self.image_size <= MAX_IMAGE_SIDE_PX:
            raise ValueError(f'image_size must be in [8, {MAX_IMAGE_SIDE_PX}] px, got '
                             f'{self.image_size} (a frame is image_size² x 3 bytes, and the '
                             'models are sized for 224 px)')
        if not 0 <= self.dot_radius < self.image_size // 2:
            raise ValueError(f'dot_radius must be in [0, {self.image_size // 2}), '
                             f'got {self.dot_radius}')
        if not (0 < self.duration_s < math.inf and 0 < self.move_speed < math.inf):
            raise ValueError('duration_s and move_speed must be positive finite numbers')
        if self.distractor and not 0 < self.distractor_size <= self.image_size:
            raise ValueError(f'distractor_size must be in (0, {self.image_size}]')


class Effect(Enum):
    """What a command does to the world."""

    STAY = 'stay'
    MOVE = 'move'
    NOISE = 'noise'


class ToroidalDotWorld:
    """The world's state (dot position, noise patch) and its rendering."""

    def __init__(self, config: ToroidalDotConfig):
        self.config = config
        stay = MotorCommand(0.0, 0.0, config.duration_s)
        move = MotorCommand(0.0, config.move_speed, config.duration_s)
        self.action_space = (stay, move)
        self.effects = (Effect.STAY, Effect.MOVE)
        if config.distractor:
            self.action_space += (MotorCommand(config.move_speed, 0.0, config.duration_s),)
            self.effects += (Effect.NOISE,)
        r = config.dot_radius
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        inside = dx * dx + dy * dy <= r * r
        self._dot_dy, self._dot_dx = dy[inside], dx[inside]
        self._rng = np.random.default_rng(config.seed)
        self.reset()

    def reset(self) -> None:
        """Put the dot at a random position drawn from the seed; clear the noise patch."""
        size = self.config.image_size
        self.dot_x = int(self._rng.integers(size))
        self.dot_y = int(self._rng.integers(size))
        self._noise = None

    def effect_of(self, command: MotorCommand) -> Effect | None:
        """The effect of one of the action space's commands; None for any other command."""
        index = action_index(command, self.action_space)
        return None if index is None else self.effects[index]

    def apply(self, effect: Effect) -> None:
        # The noisy TV is in view only in the frame after its command: a patch that stayed
        # would be a static picture, predictable by copying, and would sit in every later frame
        # whatever the robot chose, so choosing the TV less would not keep it out of the data.
        self._noise = None
        if effect is Effect.MOVE:
            self.dot_x = (self.dot_x + self.config.move_pixels) % self.config.image_size
        elif effect is Effect.NOISE:
            side = self.config.distractor_size
            self._noise = self._rng.integers(0, 256, (side, side, 3), dtype=np.uint8)

    def render(self) -> np.ndarray:
        """The current view, uint8 `[H, W, 3]`: the dot wraps around both edges."""
        size = self.config.image_size
        frame = np.zeros((size, size, 3), dtype=np.uint8)
        frame[(self.dot_y + self._dot_dy) % size, (self.dot_x + self._dot_dx) % size] = 255
        if self._noise is not None:
            side = self.config.distractor_size
            frame[:side, :side] = self._noise
        return frame
