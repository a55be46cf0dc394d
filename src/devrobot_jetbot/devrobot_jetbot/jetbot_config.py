"""The JetBot driver's one config dataclass: link, limits, ramp and action space.

It extends the motor control core's config, so one set of fields (and so one set of CLI flags
and ROS parameters) configures the whole driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from devrobot_core.config_fields import setting
from devrobot_core.motor import action_space_from_flat

from devrobot_jetbot.motor_control import MotorControlConfig

BACKENDS = ('rpyc', 'onboard', 'mock')
MOTOR_BOARDS = ('adafruit', 'waveshare')


@dataclass(frozen=True)
class JetBotConfig(MotorControlConfig):
    """How to reach a JetBot and how its motors may be driven."""

    backend: str = setting('rpyc', 'rpyc (robot service over the network), onboard, or mock')
    host: str = setting('', "the JetBot's IP address or host name (rpyc backend)")
    port: int = setting(18861, "TCP port of the robot's RPyC service")
    secret_file: str = setting('', 'file holding the shared secret the robot service asks for')
    connect_timeout_s: float = setting(3.0, 'how long one connection attempt may take')
    call_timeout_s: float = setting(2.0, 'how long one camera or motor call may take')
    reconnect_attempts: int = setting(
        5, 'connection attempts before the robot counts as unreachable and the session ends')
    reconnect_backoff_s: float = setting(
        0.5, 'wait before the second attempt; doubles after each failure, at most 5 s')
    lease_grace_s: float = setting(
        0.25, 'how long past its planned change a speed may stay on if the link goes quiet '
        '(room for WiFi latency spikes)')
    resend_interval_s: float = setting(
        0.25, "re-send the speeds at least this often (below the robot service's --max-hold-s)")
    action_space: List[float] = setting(
        [0.0, 0.0, 0.2, 0.0, 0.12, 0.2],
        'discrete actions as left, right, duration_s triples (the original: stop, right 0.12)')
    motor_board: str = setting('adafruit', 'onboard backend: adafruit (MotorHAT 0x60) or '
                               'waveshare')
    i2c_bus: int = setting(1, 'onboard backend: I2C bus of the motor board')
    camera_fps: int = setting(21, 'onboard backend: CSI camera frame rate')

    def __post_init__(self):
        super().__post_init__()
        problems = []
        if self.backend not in BACKENDS:
            problems.append(f'backend must be one of {", ".join(BACKENDS)}, got {self.backend!r}')
        if self.motor_board not in MOTOR_BOARDS:
            problems.append(f'motor_board must be one of {", ".join(MOTOR_BOARDS)}, '
                            f'got {self.motor_board!r}')
        if not (0 < self.port < 65536):
            problems.append(f'port must be in 1..65535, got {self.port}')
        if self.reconnect_attempts < 1:
            problems.append(f'reconnect_attempts must be >= 1, got {self.reconnect_attempts}')
        for name in ('connect_timeout_s', 'call_timeout_s'):
            if not getattr(self, name) > 0:
                problems.append(f'{name} must be positive, got {getattr(self, name)}')
        if not (0 <= self.reconnect_backoff_s <= 60):
            problems.append(f'reconnect_backoff_s must be in [0, 60], got '
                            f'{self.reconnect_backoff_s}')
        if not (0 < self.lease_grace_s <= 2):
            problems.append(f'lease_grace_s must be in (0, 2], got {self.lease_grace_s}')
        if not (0.01 <= self.resend_interval_s <= 0.8):
            problems.append(f'resend_interval_s must be in [0.01, 0.8], got '
                            f'{self.resend_interval_s}')
        try:
            action_space_from_flat(self.action_space)
        except ValueError as error:
            problems.append(f'action_space: {error}')
        if problems:
            raise ValueError('; '.join(problems))

    def parsed_action_space(self) -> tuple:
        return action_space_from_flat(self.action_space)


@dataclass(frozen=True)
class JetBotNodeConfig:
    """What the ROS node adds to the driver: how often and under which frame it publishes."""

    camera_rate_hz: float = setting(10.0, 'camera images published per second')
    frame_id: str = setting('camera_optical_frame', 'frame_id of the published images')

    def __post_init__(self):
        if not (0.0 < self.camera_rate_hz <= 100.0):
            raise ValueError(f'camera_rate_hz must be in (0, 100], got {self.camera_rate_hz}')
