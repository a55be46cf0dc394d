"""Scenario, workstation half: the world model (on the GPU) for a robot elsewhere on the network.

Run: `ros2 launch launch/gpu_workstation.launch.py robot:=jetbot record:=true rviz:=true`

Start the robot half on the robot computer with launch/robot_computer.launch.py; both machines
need the same ROS_DOMAIN_ID and must reach each other (docs/ros.md). Recording happens here,
where the disk is, not on the robot.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import argument, if_true, include, rviz


def generate_launch_description():
    return LaunchDescription([
        argument('robot', 'jetbot', 'Robot driven: loads config/<robot>.yaml.',
                 choices=('sim', 'jetbot')),
        argument('record', 'true', 'Record the session topics.', choices=('true', 'false')),
        argument('bag_dir', '', 'Folder of the recording; empty: rosbag2_<date>-<time>.'),
        argument('rviz', 'true', 'Show camera, reconstruction and predictions.',
                 choices=('true', 'false')),
        include('world_model.launch.py', robot=LaunchConfiguration('robot')),
        include('record.launch.py', condition=if_true('record'),
                bag_dir=LaunchConfiguration('bag_dir')),
        rviz(condition=if_true('rviz')),
    ])
