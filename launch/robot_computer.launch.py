"""Scenario, robot half: only the JetBot driver, on the robot's ROS computer (no torch there).

Run: `ros2 launch launch/robot_computer.launch.py` on the robot's own computer (the onboard
backend: CSI camera and motor board), or `backend:=rpyc host:=192.168.1.42` for a computer
beside the robot (robot_service.py running on the JetBot).

The world model runs on a GPU workstation (launch/gpu_workstation.launch.py); keep both clocks
in sync (chrony: docs/ros.md), or the driver rejects every command as stale. If the network or
the workstation goes away, the driver's stale-command check and timed commands stop the motors
by themselves; if the robot goes away, the driver ends with status 1 and the launch with it.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import check_arguments, check_backend_host, jetbot_driver
from devrobot_bringup.launch_helpers import argument, share_file


def generate_launch_description():
    return LaunchDescription([
        argument('backend', 'onboard', 'onboard: this computer drives the camera and motors; '
                 'rpyc: a robot running the devrobot service at host:=IP.',
                 choices=('onboard', 'rpyc')),
        argument('host', '', "The JetBot's IP address or host name (backend:=rpyc)."),
        argument('params_file', share_file('config', 'jetbot.yaml'),
                 'Parameters of the JetBot driver.'),
        check_arguments(),
        check_backend_host(),
        jetbot_driver(LaunchConfiguration('params_file'), LaunchConfiguration('host'),
                      LaunchConfiguration('backend')),
    ])
