"""ROS 2 node: the world model learns from camera images and motor states and picks commands.

Subscribes `camera/image_raw` (sensor-data QoS) and `motor/state`; publishes `motor/command`
(never with observe_only); for inspection `world_model/reconstruction`, one
`world_model/prediction/action_<i>` image per action, `world_model/scores` (one per action,
then a row per part of the score), metrics on `/diagnostics` and as
`world_model/metrics/<key>` Float64 topics (rqt_plot, Foxglove). Interactive: proposals on
`world_model/proposal` (latched: transient local, so a tool that subscribes later still gets
the waiting one), decided through the
`world_model/accept` service or an action index on `world_model/override`; each decision is
logged. Images of any encoding cv_bridge converts reach the model as rgb8; a frame that cannot
be converted, or of another size than the model's, is dropped with a throttled warning. All
logic lives in ExplorationCore, ProposalGate, FrameGate and the learner; the learner saves its
checkpoint in `close()`, which runs while the context is still valid (node_support.spin_node).

Callbacks only record and act: learning runs on the LearningQueue's worker (and the learner's
own thread), inspection on the InspectionWorker's, so a motor state never waits behind either;
a command is stamped when it is published.
"""

from __future__ import annotations

import sys

from devrobot_interfaces.msg import MotorCommand as MotorCommandMsg
from devrobot_interfaces.msg import MotorState
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import UInt8
from std_srvs.srv import Trigger

from devrobot_core.conversions import (build_motor_command, motor_outcome_from_msg,
                                       ros_message_classes)
from devrobot_core.exploration import ExplorationCore
from devrobot_core.interactive import StopRequested
from devrobot_core.ros.image_bridge import frame_from_image
from devrobot_core.ros.node_support import declare_config, spin_node
from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.learning.metrics import MetricsLogger
from devrobot_world_model.model.model_io import FrameSizeError
from devrobot_world_model.model.world_model import CONFIG_CLASSES
from devrobot_world_model.node.command_watch import overdue
from devrobot_world_model.node.frame_gate import expected_frame_shape, FrameGate, Throttle
from devrobot_world_model.node.inspection_publisher import InspectionPublisher
from devrobot_world_model.node.inspection_worker import InspectionWorker
from devrobot_world_model.node.learning_queue import LearningQueue
from devrobot_world_model.node.node_config import build_policy, WorldModelNodeConfig
from devrobot_world_model.node.proposal_gate import NothingProposed, ProposalGate

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# The waiting proposal, kept for late subscribers (`ros2 topic echo`, a GUI started later).
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class WorldModelNode(Node):
    """Feeds camera frames and motor states to the exploration core; sends its commands."""

    def __init__(self, node_name: str = 'world_model'):
        super().__init__(node_name)
        self.config = declare_config(self, WorldModelNodeConfig)
        learner_config = declare_config(self, LearnerConfig)
        model_configs = [declare_config(self, kind) for kind in CONFIG_CLASSES]
        self.policy = LearningQueue(build_policy(self.config, learner_config, model_configs))
        self.learner_config, self.metrics_log = learner_config, None
        self.core = ExplorationCore(self.config.commands(), self.policy,
                                    observe_only=self.config.observe_only)
        self.gate = ProposalGate(self.core, self.config.interactive)
        self.frame_gate = FrameGate(expected_frame_shape(self.policy))
        self.warn_dropped = Throttle()  # one warning about dropped frames every few seconds
        self.classes, self.frames_seen = ros_message_classes(), 0
        if not self.config.observe_only:
            self.command_pub = self.create_publisher(MotorCommandMsg, 'motor/command', RELIABLE)
        self.inspection = InspectionPublisher(self, len(self.core.action_space), self.classes)
        self.inspector = None
        if hasattr(self.policy.policy, 'inspect') and self.config.inspect_every_frames:
            self.inspector = InspectionWorker(self.policy.inspect,
                                              self.inspection.publish_inspection,
                                              self.get_logger().warning)
        # best effort like sensor data, but deep: frames wait while a callback runs
        images = QoSProfile(depth=self.config.image_queue_depth,
                            history=HistoryPolicy.KEEP_LAST,
                            reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(Image, 'camera/image_raw', self.on_image, images)
        self.create_subscription(MotorState, 'motor/state', self.on_state, RELIABLE)
        if self.config.interactive:
            self.proposal_pub = self.create_publisher(MotorCommandMsg, 'world_model/proposal',
                                                      LATCHED)
            self.create_service(Trigger, 'world_model/accept', self.on_accept)
            self.create_subscription(UInt8, 'world_model/override', self.on_override, 10)
        self.get_logger().info(f'world model for {self.config.robot_type}: policy '
                               f'{learner_config.policy}, learning {self.config.learning}, '
                               f'checkpoints in {self.config.checkpoint_folder()}')
        self.log_resume()

    def log_resume(self) -> None:
        """Say whether the learner picked up a checkpoint, and where it stands."""
        steps = getattr(self.policy, 'steps', 0)
        if steps:
            self.get_logger().info(
                f'resumed from {self.config.checkpoint_folder()}: {steps} steps, '
                f'{getattr(self.policy, "updates", 0)} updates')

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def on_image(self, msg: Image) -> None:
        try:
            frame = frame_from_image(msg)
            problem = self.frame_gate.problem(frame.pixels)
        except ValueError as error:
            problem = f'dropped a camera image: {error}'
        if problem is not None:
            warning = self.warn_dropped(problem)
            if warning is not None:
                self.get_logger().warning(warning)
            return
        now_ns = self.now_ns()
        if self.gate.pending is None and overdue(self.core.in_flight, now_ns,
                                                 self.config.state_timeout_s):
            self.get_logger().warning('no motor/state for the last command: acting again')
            self.core.release()
        if not self.act(lambda: self.core.on_frame(frame, now_ns)):
            return
        self.publish_metrics()
        self.frames_seen += 1
        if self.inspector is not None and \
                self.frames_seen % self.config.inspect_every_frames == 0:
            self.inspector.offer(frame.stamp_ns, frame.pixels)

    def act(self, propose) -> bool:
        """Send (or, interactive, propose) the command `propose()` returns, if any.

        False when the policy refused the frame (of a size it cannot take).
        """
        try:
            proposed = propose()
        except StopRequested as stop:  # a recorded policy is used up: watch from now on
            self.get_logger().info(f'{stop}; observing only from now on')
            self.core.observe_only, proposed = True, None
        except FrameSizeError as error:  # a policy that checks its frames refused this one
            self.get_logger().warning(f'dropped a camera image: {error}')
            return False
        command = self.gate.offer(proposed, self.core.last_action)
        if command is not None:
            self.publish_command(command)
        elif proposed is not None:  # interactive: held until a person decides
            self.proposal_pub.publish(build_motor_command(self.classes, proposed))
            self.get_logger().info(f'proposed action {self.gate.proposed_index}: call '
                                   'world_model/accept or publish an index on '
                                   'world_model/override')
        return True

    def publish_command(self, command) -> None:
        """Stamp `command` now, as it leaves (choosing it took time), and send it."""
        command = command.stamped(self.now_ns())
        self.core.replace_in_flight(command)
        self.command_pub.publish(build_motor_command(self.classes, command))

    def on_state(self, msg: MotorState) -> None:
        try:
            outcome = motor_outcome_from_msg(msg)
        except ValueError as error:
            self.get_logger().warning(f'dropped a motor state: {error}')
            return
        # the image after the command may have come first: then the robot acts on it now
        self.act(lambda: self.core.on_outcome(outcome, self.now_ns()))
        self.publish_metrics()

    def publish_metrics(self) -> None:
        """Metric topics and /diagnostics; a learner's also go to metrics.jsonl (run folder)."""
        metrics = self.core.take_metrics()
        metrics.update(self.policy.take_metrics())
        self.inspection.publish_metrics([metrics])
        steps = getattr(self.policy, 'steps', None)  # a learner's: the step to log at
        if metrics and steps is not None:
            if self.metrics_log is None:
                self.metrics_log = MetricsLogger(self.config.run_folder(),
                                                 self.learner_config.wandb_project or None,
                                                 self.learner_config.wandb_mode)
                if hasattr(self.policy.policy, 'logger'):  # the learner's prediction grid
                    self.policy.policy.logger = self.metrics_log
            self.metrics_log.log(metrics, steps)

    def log_final_metrics(self) -> None:
        """The updates the learner finished after the last step, in metrics.jsonl too."""
        metrics = self.policy.take_metrics()
        metrics.update(getattr(self.policy.policy, 'take_final_metrics', dict)())
        if metrics and self.metrics_log is not None:
            self.metrics_log.log(metrics, self.policy.steps)

    def on_accept(self, request, response):
        return self.decide(response, lambda now_ns: self.gate.accept(now_ns), 'accepted')

    def on_override(self, msg: UInt8) -> None:
        self.decide(Trigger.Response(), lambda now_ns: self.gate.override(msg.data, now_ns),
                    f'overridden with action {msg.data}')

    def decide(self, response, choose, decision: str):
        proposed = self.gate.proposed_index
        try:
            command = choose(self.now_ns())
        except (NothingProposed, ValueError) as error:
            response.success, response.message = False, str(error)
            self.get_logger().warning(str(error))
            return response
        self.publish_command(command)
        self.get_logger().info(f'proposal of action {proposed} {decision}: sent {command}')
        response.success, response.message = True, f'sent {command}'
        return response

    def close(self) -> None:
        """Learn the last transitions, save the checkpoint (the learner's close); `finally`."""
        if self.inspector is not None:
            self.inspector.close()
        self.core.finish()
        close = getattr(self.policy.policy, 'close', None)
        try:
            self.policy.close()  # every queued transition reaches the learner first
            if close is not None:
                close()
            self.log_final_metrics()
        finally:
            if self.metrics_log is not None:
                self.metrics_log.close()


def main(args=None) -> int:
    return spin_node(WorldModelNode, args)


if __name__ == '__main__':
    sys.exit(main())
