"""ROS 2 node: the world model learns from camera images and motor states and picks commands.

Subscribes `camera/image_raw` (sensor-data QoS, deep: frames wait while a callback runs) and
`motor/state`; publishes `motor/command` (never with observe_only); for inspection
`world_model/reconstruction`, one `world_model/prediction/action_<i>` image per action,
`world_model/scores` (one per action, then a row per part of the score), metrics on
`/diagnostics` and as `world_model/metrics/<key>` Float64 topics. Interactive: proposals on
`world_model/proposal` (latched: transient local, so a tool that subscribes later still gets
the waiting one), decided through the `world_model/accept` service or an action index on
`world_model/override`.

A shell: it declares parameters, converts messages and hands them to NodeFlow (what the node
does, pure); learning runs on the LearningQueue's worker, inspection on the InspectionWorker's,
so callbacks only record and act. The learner runs without a replay ratio: a parameter file
that sets `updates_per_step` gets one warning at start-up (`node_config.unused_ratio`).
`close()` runs while the context is still valid (node_support.spin_node).
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
from devrobot_core.ros.image_bridge import frame_from_image
from devrobot_core.ros.node_support import declare_config, spin_node
from devrobot_world_model.learning.learner import FREE_RUNNING, LearnerConfig
from devrobot_world_model.model.world_model import CONFIG_CLASSES
from devrobot_world_model.node.inspection_publisher import InspectionPublisher
from devrobot_world_model.node.learning_queue import LearningQueue
from devrobot_world_model.node.metrics_sink import open_metrics_logger
from devrobot_world_model.node.node_config import (build_policy, unused_ratio,
                                                   WorldModelNodeConfig)
from devrobot_world_model.node.node_flow import NodeFlow, Outputs

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
# The waiting proposal, kept for late subscribers (`ros2 topic echo`, a GUI started later).
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class WorldModelNode(Node):
    """Feeds camera frames and motor states to NodeFlow; publishes what it sends out."""

    def __init__(self, node_name: str = 'world_model'):
        super().__init__(node_name)
        self.config = config = declare_config(self, WorldModelNodeConfig)
        # declared as the node uses it: no ratio, unless a parameter file says otherwise
        learner_config = declare_config(self, LearnerConfig,
                                        defaults={'updates_per_step': float(FREE_RUNNING)})
        model_configs = [declare_config(self, kind) for kind in CONFIG_CLASSES]
        log, self.classes = self.get_logger(), ros_message_classes()
        notice = unused_ratio(config, learner_config)
        if notice is not None:
            log.warning(notice)
        self.policy = LearningQueue(build_policy(config, learner_config, model_configs))
        if not config.observe_only:
            self.command_pub = self.create_publisher(MotorCommandMsg, 'motor/command', RELIABLE)
        if config.interactive:
            self.proposal_pub = self.create_publisher(MotorCommandMsg, 'world_model/proposal',
                                                      LATCHED)
        self.inspection = InspectionPublisher(self, len(config.commands()), self.classes)
        self.flow = NodeFlow(config, self.policy, Outputs(
            now_ns=lambda: self.get_clock().now().nanoseconds,
            send=lambda command: self.command_pub.publish(self.to_msg(command)),
            propose=lambda command: self.proposal_pub.publish(self.to_msg(command)),
            publish_metrics=lambda metrics: self.inspection.publish_metrics([metrics]),
            publish_inspection=self.inspection.publish_inspection,
            info=log.info, warning=log.warning),
            lambda: open_metrics_logger(config.run_folder(), learner_config))
        self.core, self.gate, self.inspector = self.flow.core, self.flow.gate, self.flow.inspector
        images = QoSProfile(depth=config.image_queue_depth, history=HistoryPolicy.KEEP_LAST,
                            reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(Image, 'camera/image_raw', self.on_image, images)
        self.create_subscription(MotorState, 'motor/state', self.on_state, RELIABLE)
        if config.interactive:
            self.create_service(Trigger, 'world_model/accept', self.on_accept)
            self.create_subscription(UInt8, 'world_model/override', self.on_override, 10)
        log.info(f'world model for {config.robot_type}: policy {learner_config.policy}, '
                 f'learning {config.learning}, checkpoints in {config.checkpoint_folder()}')
        resumed = self.flow.resume_line(config.checkpoint_folder())
        if resumed is not None:
            log.info(resumed)

    def to_msg(self, command) -> MotorCommandMsg:
        return build_motor_command(self.classes, command)

    def on_image(self, msg: Image) -> None:
        try:
            frame = frame_from_image(msg)
        except ValueError as error:
            self.flow.drop_frame(f'dropped a camera image: {error}')
            return
        self.flow.on_frame(frame)

    def on_state(self, msg: MotorState) -> None:
        try:
            outcome = motor_outcome_from_msg(msg)
        except ValueError as error:
            self.get_logger().warning(f'dropped a motor state: {error}')
            return
        self.flow.on_outcome(outcome)

    def on_accept(self, request, response):
        response.success, response.message = self.flow.accept()
        return response

    def on_override(self, msg: UInt8) -> None:
        self.flow.override(msg.data)

    def close(self) -> None:
        """Learn the last transitions, save the checkpoint (the learner's close); `finally`."""
        self.flow.close()


def main(args=None) -> int:
    return spin_node(WorldModelNode, args)


if __name__ == '__main__':
    sys.exit(main())
