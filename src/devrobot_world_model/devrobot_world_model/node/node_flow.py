"""What the world-model node does with each message, without ROS: the node's behaviour.

Pure: no rclpy. The node shell converts messages and hands frames, motor outcomes and a
person's decisions here; what goes out (a command, a proposal, metrics, inspection pictures,
log lines) leaves through the `Outputs` callables the shell provides. The pieces:
- a camera frame passes the FrameGate (one size, rgb8; dropped frames are reported through a
  Throttle), releases a command whose motor state is overdue (`command_watch`), and reaches
  the ExplorationCore, whose proposal the ProposalGate sends at once or holds for a person
  (a motor state that frees the robot acts on a frame that came before it);
  every `inspect_every_frames`-th frame goes to the InspectionWorker;
- the policy is the node's LearningQueue, so learning runs on its worker, never here;
- a command is stamped when it leaves (choosing it took time), so a driver's staleness check
  and the state timeout count from the publish;
- `close` stops inspection, hands the last transitions to the learner, closes it (it saves its
  checkpoint) and logs the updates finished after the last step, then closes the metrics log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from devrobot_core.exploration import ExplorationCore
from devrobot_core.interactive import StopRequested
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_world_model.model.model_io import FrameSizeError
from devrobot_world_model.node.command_watch import overdue
from devrobot_world_model.node.frame_gate import expected_frame_shape, FrameGate, Throttle
from devrobot_world_model.node.inspection_worker import InspectionWorker
from devrobot_world_model.node.metrics_sink import MetricsSink
from devrobot_world_model.node.proposal_gate import NothingProposed, ProposalGate


@dataclass
class Outputs:
    """The shell's side: a clock and everything that leaves the node."""

    now_ns: Callable[[], int]
    send: Callable[[MotorCommand], None]  # publish on motor/command
    propose: Callable[[MotorCommand], None]  # publish on world_model/proposal (latched)
    publish_metrics: Callable[[dict], None]
    publish_inspection: Callable[[int, dict], None]  # (frame stamp_ns, the policy's inspect())
    info: Callable[[str], None]
    warning: Callable[[str], None]


class NodeFlow:
    """The node's decisions: which frames act, what is sent or proposed, what is logged.

    `config`: a WorldModelNodeConfig; `queue`: the LearningQueue around the node's policy;
    `open_log`: opens the run's metrics log (called once, on the first learner metrics).
    """

    def __init__(self, config, queue, out: Outputs, open_log: Callable[[], object]):
        self.config, self.policy, self.out = config, queue, out
        self.core = ExplorationCore(config.commands(), queue, observe_only=config.observe_only)
        self.gate = ProposalGate(self.core, config.interactive)
        self.frame_gate = FrameGate(expected_frame_shape(queue))
        self.warn_dropped = Throttle()  # one warning about dropped frames every few seconds
        self.metrics = MetricsSink(queue, out.publish_metrics, open_log)
        self.frames_seen = 0
        self.inspector = None
        if hasattr(queue.policy, 'inspect') and config.inspect_every_frames:
            self.inspector = InspectionWorker(queue.inspect, out.publish_inspection,
                                              out.warning)

    def resume_line(self, folder) -> str | None:
        """Where a resumed learner stands, for the start-up log; None when it starts fresh."""
        steps = getattr(self.policy, 'steps', 0)
        if not steps:
            return None
        return f'resumed from {folder}: {steps} steps, {getattr(self.policy, "updates", 0)} ' \
               'updates'

    # -- messages in -------------------------------------------------------------------------

    def drop_frame(self, problem: str) -> None:
        """Report a camera frame that was not passed on (throttled)."""
        warning = self.warn_dropped(problem)
        if warning is not None:
            self.out.warning(warning)

    def on_frame(self, frame: Frame) -> None:
        """Act on a camera frame (or record it while a command is in flight)."""
        problem = self.frame_gate.problem(frame.pixels)
        if problem is not None:
            self.drop_frame(problem)
            return
        now_ns = self.out.now_ns()
        if self.gate.pending is None and overdue(self.core.in_flight, now_ns,
                                                 self.config.state_timeout_s):
            self.out.warning('no motor/state for the last command: acting again')
            self.core.release()
        if not self.act(lambda: self.core.on_frame(frame, now_ns)):
            return
        self.publish_metrics()
        self.frames_seen += 1
        if self.inspector is not None and \
                self.frames_seen % self.config.inspect_every_frames == 0:
            self.inspector.offer(frame.stamp_ns, frame.pixels)

    def on_outcome(self, outcome: MotorOutcome) -> None:
        """A motor state: the command it reports is done (a transition to learn from).

        When the image after the command came first (an executor may run either callback
        first), the robot acts on it now instead of waiting for the next frame.
        """
        self.act(lambda: self.core.on_outcome(outcome, self.out.now_ns()))
        self.publish_metrics()

    def act(self, propose: Callable[[], MotorCommand | None]) -> bool:
        """Send (or, interactive, propose) the command `propose()` returns, if any.

        False when the policy refused the frame (of a size it cannot take).
        """
        try:
            proposed = propose()
        except StopRequested as stop:  # a recorded policy is used up: watch from now on
            self.out.info(f'{stop}; observing only from now on')
            self.core.observe_only, proposed = True, None
        except FrameSizeError as error:  # a policy that checks its frames refused this one
            self.out.warning(f'dropped a camera image: {error}')
            return False
        command = self.gate.offer(proposed, self.core.last_action)
        if command is not None:
            self.send(command)
        elif proposed is not None:  # interactive: held until a person decides
            self.out.propose(proposed)
            self.out.info(f'proposed action {self.gate.proposed_index}: call world_model/accept'
                          ' or publish an index on world_model/override')
        return True

    def accept(self) -> tuple[bool, str]:
        """A person accepts the waiting proposal: (success, message)."""
        return self._decide(self.gate.accept, 'accepted')

    def override(self, index: int) -> tuple[bool, str]:
        """A person sends action `index` instead of the proposal: (success, message)."""
        return self._decide(lambda now_ns: self.gate.override(index, now_ns),
                            f'overridden with action {index}')

    # -- what goes out -----------------------------------------------------------------------

    def send(self, command: MotorCommand) -> None:
        """Stamp `command` now, as it leaves, and send it."""
        command = command.stamped(self.out.now_ns())
        self.core.replace_in_flight(command)
        self.out.send(command)

    def publish_metrics(self) -> None:
        """The core's and the learner's metrics since the last call."""
        metrics = self.core.take_metrics()
        metrics.update(self.policy.take_metrics())
        self.metrics.send(metrics)

    def _decide(self, choose: Callable[[int], MotorCommand], decision: str) -> tuple[bool, str]:
        proposed = self.gate.proposed_index
        try:
            command = choose(self.out.now_ns())
        except (NothingProposed, ValueError) as error:
            self.out.warning(str(error))
            return False, str(error)
        self.send(command)
        self.out.info(f'proposal of action {proposed} {decision}: sent {command}')
        return True, f'sent {command}'

    def close(self) -> None:
        """Learn the last transitions, close the learner (it saves), log its last updates."""
        if self.inspector is not None:
            self.inspector.close()
        self.core.finish()
        close = getattr(self.policy.policy, 'close', None)
        try:
            self.policy.close()  # every queued transition reaches the learner first
            if close is not None:
                close()
            final = self.policy.take_metrics()
            final.update(getattr(self.policy.policy, 'take_final_metrics', dict)())
            self.metrics.send_final(final)
        finally:
            self.metrics.close()
