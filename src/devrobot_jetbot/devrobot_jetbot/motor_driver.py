"""Runs the motor control core against a backend: on the caller's thread, or on its own thread.

`execute(command)` runs one command to its end on the caller's thread (the Robot for the no-ROS
runner); `start()` + `submit(command)` run commands on a background thread (the ROS node). Both
go through `_advance`, so the two modes cannot drift apart.

Safety: speeds are re-sent at least every `resend_interval_s`, each time with a hold time (the
time until the next send plus `lease_grace_s`), so a robot-side watchdog stops the motors soon
after the link is lost, however long the command. Any exception while applying speeds stops
the command (STOPPED) and sends a best-effort stop.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from devrobot_core.motor import MotorCommand, MotorOutcome
from devrobot_core.robot import Clock

from devrobot_jetbot.backend import JetBotBackend, RobotUnreachableError
from devrobot_jetbot.motor_control import NS_PER_S, MotorController, MotorStep

# while idle the thread still wakes up this often to notice shutdown
_IDLE_WAIT_S = 0.5


class MotorDriver:
    """Applies the speeds a MotorController decides to a JetBotBackend."""

    def __init__(self, controller: MotorController, backend: JetBotBackend, clock: Clock,
                 lease_grace_s: float = 0.25, resend_interval_s: float = 0.25,
                 on_outcome: Callable[[MotorOutcome], None] | None = None,
                 on_fatal: Callable[[BaseException], None] | None = None):
        self.controller = controller
        self.backend = backend
        self.clock = clock
        self.lease_grace_s = lease_grace_s
        self._resend_ns = int(round(resend_interval_s * NS_PER_S))
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.on_fatal = on_fatal or (lambda error: None)
        self._lock = threading.Lock()  # guards the controller
        self._wake = threading.Condition(self._lock)
        self._pending: list = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- synchronous mode ---------------------------------------------------------------------

    def execute(self, command: MotorCommand) -> MotorOutcome:
        """Run `command` to its end; return its outcome.

        Raises RobotUnreachableError when the robot is gone for good; any other failure ends
        the command as STOPPED (the motors are told to stop) and is re-raised unless it was a
        lost link.
        """
        mine = []

        def keep(outcome):
            if outcome.command is command:
                mine.append(outcome)

        with self._lock:
            finished = self.controller.submit(command, self.clock.now_ns())
        self._report(finished, keep)
        try:
            while not mine:
                step = self._advance(keep)
                if mine:
                    break
                if step.next_step_ns is None:  # cannot happen while our command runs
                    raise RuntimeError(f'motor controller went idle before finishing {command}')
                self.clock.sleep(max(0, step.next_step_ns - self.clock.now_ns()) / NS_PER_S)
        except BaseException as error:  # noqa: B902 - Ctrl+C or a bug: motors stop first
            if self.controller.busy:
                self.stop(f'interrupted: {type(error).__name__}')
            raise
        return mine[0]

    # -- threaded mode ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name='motor-driver', daemon=True)
        self._thread.start()

    def submit(self, command: MotorCommand) -> None:
        """Queue a command for the background thread (thread-safe)."""
        with self._wake:
            self._pending.append(command)
            self._wake.notify()

    def shutdown(self, reason: str = 'driver shut down') -> None:
        """Stop the thread, end a running command as STOPPED and stop the motors."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.stop(reason)

    def stop(self, reason: str) -> None:
        """End any running command as STOPPED and send a stop; never raises."""
        with self._lock:
            step = self.controller.stop(self.clock.now_ns(), reason)
        self._report(step.finished, self.on_outcome)
        try:
            self.backend.apply_motors(0.0, 0.0, 0.0)
        except Exception:  # noqa: B902 - a stop is best effort; the robot's watchdog backs it up
            pass

    def _run(self) -> None:
        next_step_ns = None
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    now_ns = self.clock.now_ns()
                    if next_step_ns is not None and now_ns >= next_step_ns:
                        break
                    wait_s = (_IDLE_WAIT_S if next_step_ns is None
                              else (next_step_ns - now_ns) / NS_PER_S)
                    self._wake.wait(min(wait_s, _IDLE_WAIT_S))
                if self._stopping:
                    return
                pending, self._pending = self._pending, []
                finished = []
                for command in pending:
                    finished.extend(self.controller.submit(command, self.clock.now_ns()))
            self._report(finished, self.on_outcome)
            try:
                next_step_ns = self._advance(self.on_outcome).next_step_ns
            except BaseException as error:  # noqa: B902 - motors are already stopped; tell owner
                self.on_fatal(error)
                return

    # -- shared -------------------------------------------------------------------------------

    def _advance(self, report: Callable[[MotorOutcome], None]) -> MotorStep:
        """Step the controller and apply its speeds; on failure stop and report STOPPED.

        The returned step's `next_step_ns` is when to advance again: the controller's next
        change, or sooner, to re-send the speeds before their hold time runs out.
        """
        with self._lock:
            now_ns = self.clock.now_ns()
            step = self.controller.step(now_ns)
        hold_s = self.lease_grace_s
        if step.next_step_ns is not None:
            wake_ns = min(step.next_step_ns, now_ns + self._resend_ns)
            step = dataclasses.replace(step, next_step_ns=wake_ns)
            hold_s += max(0, wake_ns - now_ns) / NS_PER_S
        try:
            self.backend.apply_motors(step.left, step.right, hold_s)
        except BaseException as error:  # noqa: B902 - stop on ANY failure, then decide
            with self._lock:
                stopped = self.controller.stop(self.clock.now_ns(),
                                               f'motor backend failed: {error}')
            # the step's own outcomes (if any) ended before the failure
            self._report(step.finished + stopped.finished, report)
            self._send_stop_after_failure()
            if isinstance(error, ConnectionError) and not isinstance(
                    error, RobotUnreachableError):
                return stopped
            raise
        self._report(step.finished, report)
        return step

    def _send_stop_after_failure(self) -> None:
        """Best-effort stop; a robot that stays unreachable ends the session."""
        try:
            self.backend.apply_motors(0.0, 0.0, 0.0)
        except RobotUnreachableError:
            raise
        except Exception:  # noqa: B902 - the robot-side watchdog stops the motors anyway
            pass

    @staticmethod
    def _report(outcomes, report) -> None:
        for outcome in outcomes:
            report(outcome)
