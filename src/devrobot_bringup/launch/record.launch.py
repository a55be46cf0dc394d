"""Record the session topics with ros2 bag (mcap, zstd chunks, split by size).

Run: `ros2 launch devrobot_bringup record.launch.py bag_dir:=sessions/today`

Included (with record:=true) by sim.launch.py and jetbot.launch.py; on its own it records a
session driven from anywhere in the ROS graph.
"""

from launch import LaunchDescription

from devrobot_bringup.launch_helpers import record_arguments, record_session


def generate_launch_description():
    arguments = [a for a in record_arguments() if a.name != 'record']
    return LaunchDescription(arguments + [record_session()])
