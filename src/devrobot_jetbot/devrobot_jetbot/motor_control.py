"""The JetBot's motor control core: validate, clamp, ramp up, hold, ramp down, stop.

Pure and clock-free: every method takes the current time in nanoseconds, so tests drive it step
by step with a fake clock and the driver (`motor_driver.py`) drives it from a thread. Nothing
here talks to hardware: `step(now_ns)` says which speeds to apply and until when.

Profile of one command (N = `ramp_steps`, T = `ramp_step_s`, D = the clamped duration), as in
the original client, ramping from whatever speed the motors had when the command started:

    ramp up    N steps of T: start + (target - start) * k / N, k = 1..N  (target from step N)
    hold       D at the target
    ramp down  N - 1 steps of T: target * (N - k) / N, k = 1..N-1; then 0 and the command ends

Speeds only ever take values between the start speed and the clamped target, or between the
target and 0, so no command can drive a motor past `max_speed`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from devrobot_core.config_fields import setting
from devrobot_core.motor import MotorCommand, MotorOutcome, MotorStatus

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class MotorControlConfig:
    """Limits and ramp of the JetBot's timed motor commands."""

    max_speed: float = setting(
        0.5, 'largest motor speed magnitude ever applied, as a fraction of full power (0, 1]')
    max_duration_s: float = setting(
        2.0, 'longest hold time of one command in seconds; longer commands are clamped')
    max_command_age_s: float = setting(
        0.5, 'commands whose header stamp is older than this many seconds are rejected as stale')
    ramp_steps: int = setting(
        4, 'speed steps on the way up and on the way down, for the gearbox (0: no ramp)')
    ramp_step_s: float = setting(0.015, 'time each ramp step is held, in seconds')

    def __post_init__(self):
        problems = []
        if not (0.0 < self.max_speed <= 1.0):
            problems.append(f'max_speed must be in (0, 1], got {self.max_speed}')
        if not (0.0 < self.max_duration_s < math.inf):
            problems.append(f'max_duration_s must be positive and finite, got '
                            f'{self.max_duration_s}')
        if not (0.0 < self.max_command_age_s < math.inf):
            problems.append(f'max_command_age_s must be positive and finite, got '
                            f'{self.max_command_age_s}')
        if self.ramp_steps < 0:
            problems.append(f'ramp_steps must be >= 0, got {self.ramp_steps}')
        if not (0.0 <= self.ramp_step_s <= 1.0):
            problems.append(f'ramp_step_s must be in [0, 1], got {self.ramp_step_s}')
        if problems:
            raise ValueError('; '.join(problems))


@dataclass(frozen=True)
class MotorStep:
    """What to do now: apply `left`/`right`, and call `step` again at `next_step_ns`.

    `finished` holds the outcomes of commands that ended at this step (in order). When idle,
    `next_step_ns` is None and the speeds are 0.
    """

    left: float
    right: float
    next_step_ns: int | None
    finished: tuple = ()


@dataclass(frozen=True)
class _Plan:
    command: MotorCommand
    target_left: float
    target_right: float
    start_left: float
    start_right: float
    start_ns: int
    hold_ns: int


def validation_problem(command: MotorCommand, now_ns: int,
                       config: MotorControlConfig) -> MotorOutcome | None:
    """The rejection outcome of a malformed or stale command, or None when it may run.

    A stamp of 0 means "not stamped" (an unset header): such commands skip the age check.
    """
    def reject(status, reason):
        return MotorOutcome(command, 0.0, 0.0, now_ns, now_ns, status, reason)

    values = (command.left, command.right, command.duration_s)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return reject(MotorStatus.REJECTED_INVALID,
                      f'speeds and duration must be finite numbers, got left={command.left} '
                      f'right={command.right} duration={command.duration_s}')
    if command.duration_s <= 0:
        return reject(MotorStatus.REJECTED_INVALID,
                      f'duration must be positive, got {command.duration_s} s')
    if command.stamp_ns:
        age_s = (now_ns - command.stamp_ns) / NS_PER_S
        if age_s > config.max_command_age_s:
            return reject(MotorStatus.REJECTED_STALE,
                          f'command is {age_s:.3f} s old, older than the maximum age '
                          f'{config.max_command_age_s} s')
        if -age_s > config.max_command_age_s:
            return reject(MotorStatus.REJECTED_STALE,
                          f'command is stamped {-age_s:.3f} s in the future (clocks out of '
                          f'sync?), more than the maximum age {config.max_command_age_s} s')
    return None


def clamp_speed(value: float, max_speed: float) -> float:
    return min(max(float(value), -max_speed), max_speed)


class MotorController:
    """Turns timed commands into a sequence of motor speeds; one command runs at a time."""

    def __init__(self, config: MotorControlConfig | None = None):
        self.config = config or MotorControlConfig()
        self._plan: _Plan | None = None
        self._left = 0.0  # the speeds returned by the last step: what the motors have now
        self._right = 0.0
        steps = self.config.ramp_steps
        self._step_ns = int(round(self.config.ramp_step_s * NS_PER_S))
        # no ramp when either knob is zero: a ramp of zero-length steps would be a jump anyway
        self._steps = steps if self._step_ns > 0 else 0
        if self._steps == 0:
            self._step_ns = 0

    @property
    def busy(self) -> bool:
        return self._plan is not None

    @property
    def speeds(self) -> tuple:
        """(left, right) as of the last step."""
        return self._left, self._right

    def planned_end_ns(self) -> int | None:
        plan = self._plan
        if plan is None:
            return None
        return plan.start_ns + self._ramp_up_ns() + plan.hold_ns + self._ramp_down_ns()

    def submit(self, command: MotorCommand, now_ns: int) -> tuple:
        """Accept a command; return the outcomes it ends right away.

        A rejected command ends itself (and leaves the running one alone); an accepted one
        preempts the running command, whose outcome is returned as PREEMPTED.
        """
        rejection = validation_problem(command, now_ns, self.config)
        if rejection is not None:
            return (rejection,)
        finished = ()
        if self._plan is not None:
            finished = (self._end(now_ns, MotorStatus.PREEMPTED,
                                  'preempted by a newer command'),)
        limit = self.config.max_speed
        duration_s = min(float(command.duration_s), self.config.max_duration_s)
        self._plan = _Plan(command, clamp_speed(command.left, limit),
                           clamp_speed(command.right, limit), self._left, self._right, now_ns,
                           int(round(duration_s * NS_PER_S)))
        return finished

    def step(self, now_ns: int) -> MotorStep:
        """Speeds to apply at `now_ns`, and when to step again."""
        plan = self._plan
        if plan is None:
            self._left = self._right = 0.0
            return MotorStep(0.0, 0.0, None)
        elapsed_ns = max(0, now_ns - plan.start_ns)
        left, right, next_elapsed_ns = self._profile(plan, elapsed_ns)
        if next_elapsed_ns is None:
            self._left = self._right = 0.0
            outcome = self._end(now_ns, MotorStatus.COMPLETED, '')
            return MotorStep(0.0, 0.0, None, (outcome,))
        self._left, self._right = left, right
        return MotorStep(left, right, plan.start_ns + next_elapsed_ns)

    def stop(self, now_ns: int, reason: str) -> MotorStep:
        """Stop at once (shutdown, an exception, a lost link): speeds 0, the command STOPPED."""
        finished = ()
        if self._plan is not None:
            finished = (self._end(now_ns, MotorStatus.STOPPED, reason),)
        self._left = self._right = 0.0
        return MotorStep(0.0, 0.0, None, finished)

    def _ramp_up_ns(self) -> int:
        return self._steps * self._step_ns

    def _ramp_down_ns(self) -> int:
        return max(self._steps - 1, 0) * self._step_ns

    def _profile(self, plan: _Plan, elapsed_ns: int):
        """(left, right, elapsed time of the next change) at `elapsed_ns`; None when done."""
        steps, step_ns = self._steps, self._step_ns
        up_ns = self._ramp_up_ns()
        if elapsed_ns < up_ns:
            k = elapsed_ns // step_ns + 1
            fraction = k / steps
            # clamped again: interpolation may round a hair past the limit
            limit = self.config.max_speed
            left = clamp_speed(
                plan.start_left + (plan.target_left - plan.start_left) * fraction, limit)
            right = clamp_speed(
                plan.start_right + (plan.target_right - plan.start_right) * fraction, limit)
            next_ns = k * step_ns if k < steps else up_ns + plan.hold_ns
            return left, right, next_ns
        hold_end_ns = up_ns + plan.hold_ns
        if elapsed_ns < hold_end_ns:
            return plan.target_left, plan.target_right, hold_end_ns
        down_elapsed_ns = elapsed_ns - hold_end_ns
        if down_elapsed_ns < self._ramp_down_ns():
            k = down_elapsed_ns // step_ns + 1
            fraction = (steps - k) / steps
            return (plan.target_left * fraction, plan.target_right * fraction,
                    hold_end_ns + k * step_ns)
        return 0.0, 0.0, None

    def _end(self, now_ns: int, status: MotorStatus, reason: str) -> MotorOutcome:
        plan = self._plan
        self._plan = None
        return MotorOutcome(plan.command, plan.target_left, plan.target_right, plan.start_ns,
                            now_ns, status, reason)
