"""Record the session topics with ros2 bag (mcap, zstd chunks, split by size).

Run: `ros2 launch devrobot_bringup record.launch.py robot:=jetbot`

Records a session driven from anywhere in the ROS graph into
~/.devrobot/saved/sessions/<robot>/ under the robot's disk budget (or into `bag_dir`).
sim.launch.py and jetbot.launch.py record the same way with record:=true.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import (BAG_DIR_HELP, check_arguments, record_session,
                                            recording_numbers)
from devrobot_bringup.launch_helpers import argument, DEFAULT_MAX_BAG_SIZE_MB
from devrobot_bringup.recording import DEFAULT_MAX_DISK_GB


def generate_launch_description():
    return LaunchDescription([
        argument('robot', 'sim', 'Robot recorded: names the folder of its sessions.',
                 choices=('sim', 'jetbot')),
        argument('bag_dir', '', BAG_DIR_HELP),
        argument('max_bag_size_mb', f'{DEFAULT_MAX_BAG_SIZE_MB:g}',
                 'Split the recording into files of at most this many megabytes.'),
        argument('recording_max_disk_gb', f'{DEFAULT_MAX_DISK_GB:g}',
                 "Delete the oldest of the robot's default-folder sessions beyond this many GB "
                 '(0: never).'),
        check_arguments(files=(), numbers=recording_numbers()),
        record_session(LaunchConfiguration('robot')),
    ])
