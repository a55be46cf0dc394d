"""The original's interactive mode for an event-driven shell: a person decides each command.

The terminal runner can block on a prompt (`devrobot_core.interactive`); a ROS node cannot block
a callback while it waits for a person, so the node holds the proposed command here instead and
sends it when a decision arrives (a service call or a topic message). Meanwhile the exploration
core counts the proposal as in flight, so it proposes nothing else and keeps recording frames.
The command sent is stamped when the person decides, so a driver's stale-command check measures
the command's age from the decision, not from the proposal.
"""

from __future__ import annotations

from devrobot_core.exploration import ExplorationCore
from devrobot_core.motor import MotorCommand


class NothingProposed(LookupError):
    """A decision arrived while no command was waiting for one."""


class ProposalGate:
    """Passes commands straight through, or (interactive) holds each until a person decides."""

    def __init__(self, core: ExplorationCore, interactive: bool):
        self.core = core
        self.interactive = interactive
        self.pending: MotorCommand | None = None
        self.proposed_index: int | None = None

    def offer(self, command: MotorCommand | None, index: int | None) -> MotorCommand | None:
        """The command to send now: `command` itself, or None while it waits for a person."""
        if command is None or not self.interactive:
            return command
        self.pending, self.proposed_index = command, index
        return None

    def accept(self, now_ns: int) -> MotorCommand:
        """Send the proposed command, stamped now."""
        return self._decide(self._require_pending(), now_ns)

    def override(self, index: int, now_ns: int) -> MotorCommand:
        """Send action `index` of the action space instead of the proposal, stamped now."""
        self._require_pending()
        space = self.core.action_space
        if not 0 <= index < len(space):
            raise ValueError(f'action {index} is outside the action space (0..{len(space) - 1})')
        return self._decide(space[index], now_ns)

    def _require_pending(self) -> MotorCommand:
        if self.pending is None:
            raise NothingProposed('no command is waiting for a decision')
        return self.pending

    def _decide(self, command: MotorCommand, now_ns: int) -> MotorCommand:
        chosen = command.stamped(now_ns)
        self.core.replace_in_flight(chosen)  # the core frees it when its MotorState arrives
        self.pending = self.proposed_index = None
        return chosen
