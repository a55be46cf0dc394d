"""Scenario: train the world model from a recorded session bag, with no robot attached.

Run: `ros2 launch launch/replay_training.launch.py bag:=/path/to/session robot:=jetbot`

The bag is played with --clock and the world model follows its time in observe-only mode, so
the bag's motor commands move nothing; when the bag has been played, everything ends and the
model is saved. For faster-than-real-time training from bags use `devrobot train` instead
(docs/ros.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import argument, include


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='Session bag folder to learn from (required).'),
        argument('robot', 'sim', 'Robot that recorded the bag.', choices=('sim', 'jetbot')),
        argument('rate', '1.0', 'Playback speed factor.'),
        include('replay.launch.py', bag=LaunchConfiguration('bag'),
                robot=LaunchConfiguration('robot'), rate=LaunchConfiguration('rate')),
    ])
