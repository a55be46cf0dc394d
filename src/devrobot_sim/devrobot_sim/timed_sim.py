"""Timed commands in the toroidal-dot world, with time passed in: start now, finish later.

One command runs at a time. A command that is not one of the world's actions is rejected at
once; a new valid command preempts the running one (which then has no effect on the world: the
world only changes when a command completes). `SimRobot` (blocking, one command after another)
and the ROS `sim_node` (a timer for the command's duration, preemption by newer messages) both
execute commands through this class.
"""

from __future__ import annotations

from dataclasses import dataclass

from devrobot_core.config_fields import setting
from devrobot_core.conversions import CAMERA_FRAME_ID
from devrobot_core.motor import MotorCommand, MotorOutcome, MotorStatus
from devrobot_sim.toroidal_dot import ToroidalDotWorld


@dataclass
class SimNodeConfig:
    """How the simulator node publishes (the world itself is `ToroidalDotConfig`)."""

    idle_rate_hz: float = setting(
        2.0, 'Images per second published while no command runs; 0 publishes only after '
        'commands.')
    frame_id: str = setting(CAMERA_FRAME_ID, 'frame_id of the published camera images.')

    def __post_init__(self):
        if not self.idle_rate_hz >= 0.0 or self.idle_rate_hz > 1000.0:
            raise ValueError(f'idle_rate_hz must be in [0, 1000], got {self.idle_rate_hz}')
        if not self.frame_id:
            raise ValueError('frame_id must not be empty')


@dataclass(frozen=True)
class _Running:
    command: MotorCommand
    effect: object  # toroidal_dot.Effect
    start_ns: int


class TimedSimulation:
    """The world plus the one command running in it, if any."""

    def __init__(self, world: ToroidalDotWorld):
        self.world = world
        self._running: _Running | None = None

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def running_command(self) -> MotorCommand | None:
        return None if self._running is None else self._running.command

    @property
    def due_ns(self) -> int | None:
        """When the running command ends (None when idle)."""
        if self._running is None:
            return None
        return self._running.start_ns + int(round(self._running.command.duration_s * 1e9))

    def submit(self, command: MotorCommand, now_ns: int) -> list:
        """Start `command` at `now_ns`; return the outcomes this ends at once.

        That is the command's own rejection, or the preemption of the running command.
        """
        effect = self.world.effect_of(command)
        if effect is None:
            return [MotorOutcome(command, 0.0, 0.0, now_ns, now_ns, MotorStatus.REJECTED_INVALID,
                                 f'not in the action space: {command}')]
        ended = self._end(now_ns, MotorStatus.PREEMPTED, 'preempted by a newer command')
        self._running = _Running(command, effect, now_ns)
        return ended

    def complete(self, now_ns: int) -> MotorOutcome | None:
        """Finish the running command at `now_ns`: the world changes; None when idle."""
        if self._running is None:
            return None
        self.world.apply(self._running.effect)
        outcome, = self._end(now_ns, MotorStatus.COMPLETED, '')
        return outcome

    def stop(self, now_ns: int, reason: str) -> MotorOutcome | None:
        """Abandon the running command (shutdown): the world does not change."""
        ended = self._end(now_ns, MotorStatus.STOPPED, reason)
        return ended[0] if ended else None

    def _end(self, now_ns: int, status: MotorStatus, reason: str) -> list:
        running, self._running = self._running, None
        if running is None:
            return []
        command = running.command
        return [MotorOutcome(command, command.left, command.right, running.start_ns, now_ns,
                             status, reason)]
