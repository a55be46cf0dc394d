"""When to act, and what to learn from, for an event-driven shell: the world-model node.

The node's callbacks hand every frame and every motor outcome to one `ExplorationCore`, because
topics arrive late, out of order or not at all (a synchronous robot uses `session_loop` instead).
The core asks its policy for a command when the robot is free, and turns executed commands into
transitions with the one TransitionAssembler, so live topics and bags learn from the same
(frame, command, next frame) data. As in the session loop, the previous command's transition is
learned before the next command is selected.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, Transition
from devrobot_core.selectors import ActionSelector
from devrobot_core.transitions import TransitionAssembler


class Policy(Protocol):
    """What chooses commands and (optionally) learns from their outcomes."""

    def select(self, pixels: np.ndarray) -> 'tuple[int | None, dict]':
        """Index into the action space, or None to not act now (e.g. a quality gate)."""

    def idle(self, pixels: np.ndarray) -> dict:
        """Called instead of acting when select returned None; returns flat metrics."""

    def observe(self, transition: Transition) -> dict:
        """Learn from one executed command; returns flat metrics."""


class SelectorPolicy:
    """A plain action selector as a Policy that learns nothing (the original's RobotRunner)."""

    def __init__(self, selector: ActionSelector):
        self._selector = selector

    def select(self, pixels):
        return self._selector(pixels)

    def idle(self, pixels):
        return {}

    def observe(self, transition):
        return {}


class ExplorationCore:
    """Feeds frames and outcomes in; proposes the next command when the robot is free.

    Metrics produced along the way (the learner's and the selection's) wait, merged into one
    flat dict, until the shell takes them with `take_metrics()` to publish or log them.
    """

    def __init__(self, action_space: Sequence[MotorCommand], policy: Policy,
                 observe_only: bool = False, assembler: TransitionAssembler | None = None):
        self.action_space = tuple(action_space)
        self.policy = policy
        self.observe_only = observe_only
        self.assembler = assembler or TransitionAssembler()
        self.in_flight: MotorCommand | None = None
        self.last_action: int | None = None
        self.last_info: dict = {}
        self.latest_frame: Frame | None = None  # not acted on yet
        self._metrics: dict = {}

    def on_frame(self, frame: Frame, now_ns: int | None = None) -> MotorCommand | None:
        """Record a frame; return the command to send now (stamped `now_ns`), or None.

        None while a command is in flight, in observe-only mode, or when the policy declines
        to act (then it trains on the frame instead). The caller sends the command and reports
        its outcome with `on_outcome`.
        """
        self.observe_frame(frame)
        self.latest_frame = frame
        return self._act(frame, now_ns)

    def _act(self, frame: Frame, now_ns: int | None) -> MotorCommand | None:
        if self.observe_only or self.in_flight is not None:
            return None
        self.latest_frame = None  # acted on: never the basis of a second command
        stamp_ns = frame.stamp_ns if now_ns is None else now_ns
        # A command about to be stamped now closes the previous one's window for a next frame:
        # learn from it before choosing (the assembler reads only the stamp).
        self._learn(self.assembler.add_command(MotorCommand(0.0, 0.0, 0.0, stamp_ns)))
        index, info = self.policy.select(frame.pixels)
        self.last_action, self.last_info = index, info
        self._metrics.update((k, v) for k, v in info.items() if '/' in k)
        if index is None:
            self._metrics.update(self.policy.idle(frame.pixels))
            return None
        self.in_flight = self.action_space[index].stamped(stamp_ns)
        return self.in_flight

    def observe_frame(self, frame: Frame) -> None:
        """Record a frame without deciding anything."""
        self._learn(self.assembler.add_frame(frame))

    def finish(self) -> None:
        """The session ended: learn from every command still waiting for its window to close."""
        self._learn(self.assembler.flush())

    def on_outcome(self, outcome: MotorOutcome,
                   now_ns: int | None = None) -> MotorCommand | None:
        """Record how a command ended; frees the robot when it is the command in flight.

        Returns the next command when that frees the robot and the newest frame already shows
        the world after the command (a driver may deliver the image before the state, and an
        executor may run the image callback first): acting on it now, not on the next frame,
        keeps the robot at its own pace. None otherwise.
        """
        freed = self.in_flight is not None and outcome.command == self.in_flight
        if freed:
            self.in_flight = None
        self._learn(self.assembler.add_outcome(outcome))
        frame = self.latest_frame
        if freed and frame is not None and frame.stamp_ns >= outcome.end_ns:
            return self._act(frame, now_ns)
        return None

    def replace_in_flight(self, command: MotorCommand) -> None:
        """Send `command` instead of the one proposed (a person overrode or re-stamped it)."""
        self.in_flight = command

    def release(self) -> None:
        """Forget the command in flight (its outcome was lost): the next frame may act again."""
        self.in_flight = None

    def take_metrics(self) -> dict:
        """The metrics since the last call, one flat dict (the newest value of each key)."""
        metrics, self._metrics = self._metrics, {}
        return metrics

    def _learn(self, transitions) -> None:
        for transition in transitions:
            self._metrics.update(self.policy.observe(transition))
