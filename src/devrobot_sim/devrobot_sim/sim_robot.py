"""The toroidal-dot world behind the Robot interface, on an injectable clock."""

from __future__ import annotations

from devrobot_core.clock import VirtualClock
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_core.robot import Clock
from devrobot_sim.timed_sim import TimedSimulation
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld


class SimRobot:
    """Executes timed commands in the simulated world.

    With the default virtual clock a command takes no real time, so sessions run as fast as the
    world renders; pass a WallClock to run in real time.
    """

    robot_type = 'toroidal_dot'

    def __init__(self, config: ToroidalDotConfig | None = None, clock: Clock | None = None):
        self.config = config or ToroidalDotConfig()
        self.world = ToroidalDotWorld(self.config)
        self.timed = TimedSimulation(self.world)
        self.action_space = self.world.action_space
        self.clock = clock or VirtualClock()

    def connect(self) -> None:
        """Nothing to open: the world lives in memory."""

    def read(self) -> Frame:
        return Frame(self.world.render(), self.clock.now_ns())

    def send(self, command: MotorCommand) -> MotorOutcome:
        ended = self.timed.submit(command, self.clock.now_ns())
        if ended:  # rejected (nothing runs between blocking sends, so nothing is preempted)
            return ended[0]
        self.clock.sleep(command.duration_s)
        return self.timed.complete(self.clock.now_ns())

    def close(self) -> None:
        """Nothing to release."""
