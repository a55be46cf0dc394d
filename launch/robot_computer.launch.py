"""Scenario, robot half: only the JetBot driver, on the robot's ROS computer (no torch there).

Run: `ros2 launch launch/robot_computer.launch.py` on the robot's own computer (the onboard
backend: CSI camera and motor board), or `backend:=rpyc host:=192.168.1.42` for a computer
beside the robot; jetbot.launch.py's other arguments pass through.

The world model runs on a GPU workstation (launch/gpu_workstation.launch.py). If the network
or the workstation goes away, the driver's stale-command check and timed commands stop the
motors by themselves.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import include


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument(
            'backend', default_value='onboard', choices=['onboard', 'rpyc'],
            description='onboard: this computer drives the camera and motors; rpyc: a robot '
                        'running the devrobot service at host:=IP.'),
        include('jetbot.launch.py', world_model='false', backend=LaunchConfiguration('backend')),
    ])
