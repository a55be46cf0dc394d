"""ROS 2 node: the JetBot driver (camera images, ramped self-stopping timed motor commands).

Topics (relative, so a namespace or remapping places them):
- sub `motor/command` (devrobot_interfaces/MotorCommand): validated, clamped and run at once on
  the driver's own thread; a newer command preempts the running one.
- pub `motor/state` (devrobot_interfaces/MotorState): one per command: completed, preempted,
  rejected (with the reason), or stopped (link lost, shutdown).
- pub `camera/image_raw` (sensor_msgs/Image, rgb8) at `camera_rate_hz`, and right after each
  completed command (after its state), so every command has a frame of its outcome. Images are
  stamped when they were requested: one stamped after a command's end was taken after it.
Parameters: the fields of JetBotConfig and JetBotNodeConfig. A robot that stays unreachable
shuts the node down with one clear error; the motors stop on every way out.
"""

from __future__ import annotations

import sys

from devrobot_interfaces.msg import MotorCommand as MotorCommandMsg
from devrobot_interfaces.msg import MotorState
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from devrobot_core.clock import WallClock
from devrobot_core.conversions import (build_image, build_motor_state, motor_command_from_msg,
                                       ros_message_classes)
from devrobot_core.errors import UsageError
from devrobot_core.motor import MotorStatus
from devrobot_core.ros.node_support import declare_config, spin_node

from devrobot_jetbot.backend import RobotUnreachableError
from devrobot_jetbot.jetbot_config import JetBotConfig, JetBotNodeConfig
from devrobot_jetbot.jetbot_robot import make_backend
from devrobot_jetbot.motor_control import MotorController
from devrobot_jetbot.motor_driver import MotorDriver

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class JetBotNode(Node):
    """Publishes the JetBot's camera and executes timed motor commands."""

    def __init__(self, node_name: str = 'jetbot_node', backend=None):
        super().__init__(node_name)
        self.config = declare_config(self, JetBotConfig)
        self.node_config = declare_config(self, JetBotNodeConfig)
        clock = WallClock()  # motors run in real time, whatever clock the graph uses
        self.backend = backend if backend is not None else make_backend(self.config, clock)
        self.classes = ros_message_classes()
        self.image_pub = self.create_publisher(Image, 'camera/image_raw', RELIABLE)
        self.state_pub = self.create_publisher(MotorState, 'motor/state', RELIABLE)
        self.driver = MotorDriver(MotorController(self.config), self.backend, clock,
                                  self.config.lease_grace_s, self.config.resend_interval_s,
                                  on_outcome=self.publish_state, on_fatal=self.on_fatal)
        self.backend.connect()
        self.backend.apply_motors(0.0, 0.0, self.config.lease_grace_s)
        self.driver.start()
        self.create_subscription(MotorCommandMsg, 'motor/command', self.on_command, RELIABLE)
        self.create_timer(1.0 / self.node_config.camera_rate_hz, self.on_camera_tick)
        self.get_logger().info(
            f'JetBot over {self.config.backend} {self.config.host}:{self.config.port}; '
            f'images at {self.node_config.camera_rate_hz} Hz; speeds within '
            f'{self.config.max_speed}, holds within {self.config.max_duration_s} s')

    def on_command(self, msg: MotorCommandMsg) -> None:
        self.driver.submit(motor_command_from_msg(msg))

    def on_camera_tick(self) -> None:
        stamp_ns = self.get_clock().now().nanoseconds
        try:
            pixels = self.backend.read_frame()
        except RobotUnreachableError as error:
            self.on_fatal(error)
            return
        except Exception as error:  # noqa: B902 lost link, corrupt JPEG, camera fault: skip it
            self.get_logger().warning(f'camera frame lost: {error}')
            return
        self.image_pub.publish(build_image(self.classes, pixels, stamp_ns,
                                           self.node_config.frame_id))

    def publish_state(self, outcome) -> None:
        """Called on the driver's thread; a failed publish must not kill the driver."""
        try:
            self.state_pub.publish(build_motor_state(self.classes, outcome))
        except Exception as error:  # noqa: B902 the context may be shut down already (Ctrl-C)
            self.get_logger().warning(f'could not publish a motor state: {error}')
            return
        if outcome.reason:
            self.get_logger().info(f'command {outcome.status.name.lower()}: {outcome.reason}')
        if outcome.status == MotorStatus.COMPLETED:
            self.on_camera_tick()  # the frame that shows what the command did

    def on_fatal(self, error: BaseException) -> None:
        """The robot is gone (or the driver broke): stop everything and end the node."""
        self.get_logger().error(f'stopping the JetBot driver: {error}')
        self.driver.stop(f'driver failed: {error}')
        rclpy.try_shutdown()

    def close(self) -> None:
        """Stop the motors (a running command ends as STOPPED) and release the backend."""
        try:
            self.driver.shutdown('driver node shutting down')
        finally:
            self.backend.close()


def main(args=None) -> int:
    try:
        return spin_node(JetBotNode, args)
    except UsageError as error:  # e.g. no host for the rpyc backend
        print(f'jetbot_node: error: {error}', file=sys.stderr, flush=True)
        return 2
    except RobotUnreachableError as error:
        print(f'jetbot_node: error: {error}', file=sys.stderr, flush=True)
        return 1


if __name__ == '__main__':
    sys.exit(main())
