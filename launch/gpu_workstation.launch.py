"""Scenario, workstation half: the world model (on the GPU) for a robot elsewhere on the network.

Run: `ros2 launch launch/gpu_workstation.launch.py robot:=jetbot record:=true rviz:=true`

Start the robot half on the robot computer with launch/robot_computer.launch.py; both machines
need the same ROS_DOMAIN_ID, must reach each other and keep their clocks in sync (chrony:
docs/ros.md). Recording happens here, where the disk is, not on the robot. rviz2 starts where
it is installed.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import (check_arguments, record_arguments, record_session,
                                            recording_numbers, rviz, world_model_node)
from devrobot_bringup.launch_helpers import argument, if_true, share_file


def generate_launch_description():
    robot = LaunchConfiguration('robot')
    return LaunchDescription([
        argument('robot', 'jetbot', 'Robot driven: loads config/<robot>.yaml.',
                 choices=('sim', 'jetbot')),
        argument('rviz', 'true', 'Show camera, reconstruction and predictions (where rviz2 is '
                 'installed).', choices=('true', 'false')),
        *record_arguments(),
        check_arguments(files=(), numbers=recording_numbers()),
        world_model_node([share_file('config'), '/', robot, '.yaml']),
        record_session(robot, condition=if_true('record')),
        rviz(condition=if_true('rviz')),
    ])
