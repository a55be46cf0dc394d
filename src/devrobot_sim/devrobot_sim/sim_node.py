"""ROS 2 node: the toroidal-dot world as a robot driver (camera images, timed motor commands).

Topics (relative, so a namespace or remapping places them):
- sub `motor/command` (devrobot_interfaces/MotorCommand): starts the command at once; a newer
  command preempts the running one.
- pub `motor/state` (devrobot_interfaces/MotorState): one per command: completed, preempted,
  rejected (with the reason), or stopped at shutdown.
- pub `camera/image_raw` (sensor_msgs/Image, rgb8): right after each completed command (after
  its state, so a listener waiting for the robot to be free sees the state first), and at
  `idle_rate_hz` while no command runs.
Parameters: the fields of ToroidalDotConfig and SimNodeConfig. Images and states use reliable
QoS, as REP 2003 asks of drivers. The node's clock honours `use_sim_time`.
"""

from __future__ import annotations

import sys

from devrobot_interfaces.msg import MotorCommand as MotorCommandMsg
from devrobot_interfaces.msg import MotorState
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from devrobot_core.conversions import (build_image, build_motor_state, motor_command_from_msg,
                                       ros_message_classes)
from devrobot_core.ros.node_support import declare_config, spin_node
from devrobot_sim.timed_sim import SimNodeConfig, TimedSimulation
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld

NS_PER_S = 1_000_000_000
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class SimNode(Node):
    """Executes timed commands in the simulated world and publishes what the camera sees."""

    def __init__(self, node_name: str = 'sim_node'):
        super().__init__(node_name)
        world_config = declare_config(self, ToroidalDotConfig)
        self.config = declare_config(self, SimNodeConfig)
        self.sim = TimedSimulation(ToroidalDotWorld(world_config))
        self.classes = ros_message_classes()
        self.image_pub = self.create_publisher(Image, 'camera/image_raw', RELIABLE)
        self.state_pub = self.create_publisher(MotorState, 'motor/state', RELIABLE)
        self.create_subscription(MotorCommandMsg, 'motor/command', self.on_command, RELIABLE)
        self.command_timer = None
        if self.config.idle_rate_hz > 0:
            self.create_timer(1.0 / self.config.idle_rate_hz, self.on_idle_tick)
        self.get_logger().info(
            f'toroidal-dot world {world_config.image_size} px, '
            f'{len(self.sim.world.action_space)} actions; idle images at '
            f'{self.config.idle_rate_hz} Hz')

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def on_command(self, msg: MotorCommandMsg) -> None:
        for outcome in self.sim.submit(motor_command_from_msg(msg), self.now_ns()):
            self.publish_state(outcome)
        self.schedule_completion()

    def schedule_completion(self) -> None:
        """One timer per running command, due when its duration has passed."""
        if self.command_timer is not None:
            self.destroy_timer(self.command_timer)
            self.command_timer = None
        if self.sim.due_ns is not None:
            delay_s = max(self.sim.due_ns - self.now_ns(), 1) / NS_PER_S
            self.command_timer = self.create_timer(delay_s, self.on_command_done)

    def on_command_done(self) -> None:
        self.command_timer.cancel()  # one-shot; destroyed when the next command is scheduled
        outcome = self.sim.complete(self.now_ns())
        if outcome is not None:
            self.publish_state(outcome)
            self.publish_image(outcome.end_ns)

    def on_idle_tick(self) -> None:
        if not self.sim.busy:
            self.publish_image(self.now_ns())

    def publish_image(self, stamp_ns: int) -> None:
        self.image_pub.publish(build_image(self.classes, self.sim.world.render(), stamp_ns,
                                           self.config.frame_id))

    def publish_state(self, outcome) -> None:
        self.state_pub.publish(build_motor_state(self.classes, outcome))
        if outcome.reason:
            self.get_logger().info(f'command {outcome.status.name.lower()}: {outcome.reason}')

    def close(self) -> None:
        """Report a command cut short by shutdown as STOPPED."""
        outcome = self.sim.stop(self.now_ns(), 'simulator shutting down')
        if outcome is None:
            return
        try:
            self.publish_state(outcome)
        except Exception as error:  # noqa: B902 the context may be shut down already (Ctrl-C)
            self.get_logger().warning(f'could not publish the stopped command: {error}')


def main(args=None) -> int:
    return spin_node(SimNode, args)


if __name__ == '__main__':
    sys.exit(main())
