"""Scenario, robot half: only the JetBot driver, on the robot's ROS computer (no torch there).

Run: `ros2 launch launch/robot_computer.launch.py host:=192.168.1.42` (or `backend:=onboard`
on a computer that drives the motors itself); jetbot.launch.py's arguments pass through.

The world model runs on a GPU workstation (launch/gpu_workstation.launch.py). If the network
or the workstation goes away, the driver's stale-command check and timed commands stop the
motors by themselves.
"""

from launch import LaunchDescription

from devrobot_bringup.launch_helpers import include


def generate_launch_description():
    return LaunchDescription([
        include('jetbot.launch.py', world_model='false'),
    ])
