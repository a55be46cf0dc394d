"""The JetBot as a `devrobot_core.robot.Robot`: what the no-ROS runner and the commands drive.

Usage:
    robot = JetBotRobot(JetBotConfig(host='192.168.1.42'))
    robot.connect(); frame = robot.read(); outcome = robot.send(robot.action_space[1])
"""

from __future__ import annotations

from devrobot_core.clock import WallClock
from devrobot_core.errors import UsageError
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_core.robot import Clock

from devrobot_jetbot.backend import JetBotBackend, LinkLostError
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.motor_control import MotorController
from devrobot_jetbot.motor_driver import MotorDriver


def make_backend(config: JetBotConfig, clock: Clock) -> JetBotBackend:
    """The configured backend; hardware libraries are imported only for the one chosen."""
    if config.backend == 'rpyc':
        from devrobot_jetbot.rpyc_backend import RpycBackend
        return RpycBackend(config, sleep=clock.sleep)
    if config.backend == 'onboard':
        from devrobot_jetbot.onboard_backend import OnboardBackend
        return OnboardBackend(config)
    from devrobot_jetbot.mock_backend import MockBackend
    return MockBackend(clock)


class JetBotRobot:
    """Camera frames and ramped, self-stopping timed motor commands of one JetBot."""

    robot_type = 'jetbot'

    def __init__(self, config: JetBotConfig | None = None, clock: Clock | None = None,
                 backend: JetBotBackend | None = None):
        self.config = config or JetBotConfig()
        self.clock = clock or WallClock()
        self.action_space = self.config.parsed_action_space()
        self.backend = backend if backend is not None else make_backend(self.config, self.clock)
        self.driver = MotorDriver(MotorController(self.config), self.backend, self.clock,
                                  self.config.lease_grace_s, self.config.resend_interval_s)
        self._closed = False

    def connect(self) -> None:
        """Open the link and make sure the motors start stopped."""
        self.backend.connect()
        self.backend.apply_motors(0.0, 0.0, self.config.lease_grace_s)

    def read(self) -> Frame:
        """One frame, stamped when it was asked for: the camera took it no earlier."""
        stamp_ns = self.clock.now_ns()
        try:
            pixels = self.backend.read_frame()
        except (LinkLostError, ValueError):  # one retry: the backend reconnects (or says it
            pixels = self.backend.read_frame()  # cannot); a corrupt frame is read again
        return Frame(pixels, stamp_ns)

    def send(self, command: MotorCommand) -> MotorOutcome:
        """Execute one command completely: ramp, hold, ramp down; report what was applied."""
        return self.driver.execute(command)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.driver.stop('robot closed')
        finally:
            self.backend.close()


def build_jetbot_robot(host: str | None = None, port: int | None = None,
                       **overrides) -> JetBotRobot:
    """A JetBotRobot for the no-ROS runner: the default config with the given address.

    Bad values become a one-line UsageError (`devrobot run` prints it and exits 2).
    """
    values = dict(overrides)
    if host is not None:
        values['host'] = host
    if port is not None:
        values['port'] = port
    try:
        config = JetBotConfig(**values)
    except (TypeError, ValueError) as error:
        raise UsageError(f'JetBot settings: {error}') from None
    return JetBotRobot(config)
