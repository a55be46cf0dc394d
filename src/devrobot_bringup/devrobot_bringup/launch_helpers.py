"""Building blocks of the devrobot launch files, shared by every robot's bringup.

The command lines (`ros2 bag record`, `ros2 bag play`) and the file locations are plain
functions, tested without ROS. The functions returning launch actions import `launch` and
`launch_ros` when called, so this module imports anywhere; every call they make is valid on
Jazzy and Humble (checked against both branches: no EqualsSubstitution, no IfElseSubstitution).
"""

from __future__ import annotations

import math

PACKAGE = 'devrobot_bringup'
# What a session bag holds: the offline trainer and the replay learn from exactly these.
SESSION_TOPICS = ('/camera/image_raw', '/motor/command', '/motor/state')
DEFAULT_MAX_BAG_SIZE_MB = 1024.0
# MCAP's own zstd chunk compression (rosbag2_storage_mcap preset): unlike rosbag2's file
# compression (`--compression-mode file`, which writes `.mcap.zstd`), the chunks stay readable
# by Foxglove, `ros2 bag play` and the offline trainer without decompressing a copy first.
MCAP_PRESET = 'zstd_fast'


def bag_record_cmd(output: str = '', max_bag_size_mb: float = DEFAULT_MAX_BAG_SIZE_MB,
                   topics=SESSION_TOPICS) -> list:
    """`ros2 bag record` of the session topics: mcap, zstd chunks, split every N megabytes.

    An empty `output` lets rosbag2 name the folder `rosbag2_<date>-<time>` in the current
    directory. Topics are positional: Jazzy also offers `--topics`, Humble does not.
    """
    if not math.isfinite(max_bag_size_mb) or max_bag_size_mb < 0:
        raise ValueError(f'max_bag_size_mb must be >= 0 (0: one file), got {max_bag_size_mb}')
    if not topics:
        raise ValueError('no topics to record')
    cmd = ['ros2', 'bag', 'record', '-s', 'mcap', '--storage-preset-profile', MCAP_PRESET,
           '--max-bag-size', str(int(max_bag_size_mb * 1024 * 1024))]
    if output:
        cmd += ['-o', output]
    return cmd + list(topics)


def bag_play_cmd(bag: str, rate: float = 1.0, delay_s: float = 5.0) -> list:
    """`ros2 bag play BAG --clock`: publishes /clock so use_sim_time nodes follow the bag.

    `delay_s` gives the world model time to start (torch loads in seconds) before the first
    image. The bag comes first: `--clock` takes an optional frequency and would swallow it.
    """
    if not bag:
        raise ValueError('no bag to play')
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f'rate must be positive, got {rate}')
    if not math.isfinite(delay_s) or delay_s < 0:
        raise ValueError(f'delay_s must be >= 0, got {delay_s}')
    return ['ros2', 'bag', 'play', bag, '--clock', '--rate', f'{rate:g}', '--delay',
            f'{delay_s:g}', '--disable-keyboard-controls']


# ---------------------------------------------------------------- launch actions


def share_file(*parts):
    """A path substitution under this package's share folder, e.g. ('config', 'sim.yaml')."""
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare
    return PathJoinSubstitution([FindPackageShare(PACKAGE)] + list(parts))


def argument(name: str, default: str, description: str, choices=None):
    from launch.actions import DeclareLaunchArgument
    if choices is None:
        return DeclareLaunchArgument(name, default_value=default, description=description)
    return DeclareLaunchArgument(name, default_value=default, description=description,
                                 choices=list(choices))


def if_true(name: str):
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration
    return IfCondition(LaunchConfiguration(name))


def include(launch_file: str, condition=None, **arguments):
    """Include one of this package's launch files with string or substitution arguments."""
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(share_file('launch', launch_file)),
        launch_arguments=list(arguments.items()), condition=condition)


def ros_node(package: str, executable: str, name: str, parameters: list, condition=None):
    """A node with its parameters, logging to the screen."""
    from launch_ros.actions import Node
    return Node(package=package, executable=executable, name=name, parameters=parameters,
                output='screen', emulate_tty=True, condition=condition)


def record_session(condition=None, output: str = 'bag_dir',
                   max_bag_size_mb: str = 'max_bag_size_mb'):
    """`ros2 bag record` of the session, its arguments read when the launch runs.

    `output` and `max_bag_size_mb` name the launch arguments holding those values.
    """
    from launch.actions import ExecuteProcess, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def start(context):
        cmd = bag_record_cmd(LaunchConfiguration(output).perform(context),
                             float(LaunchConfiguration(max_bag_size_mb).perform(context)))
        return [ExecuteProcess(cmd=cmd, output='screen', name='record')]
    return OpaqueFunction(function=start, condition=condition)


def record_arguments():
    """The launch arguments `record_session` reads."""
    return [
        argument('record', 'false', 'Record the session topics with ros2 bag (mcap, zstd).',
                 choices=('true', 'false')),
        argument('bag_dir', '', 'Folder of the recording; empty: rosbag2_<date>-<time> in '
                 'the current directory.'),
        argument('max_bag_size_mb', str(DEFAULT_MAX_BAG_SIZE_MB),
                 'Split the recording into files of at most this many megabytes.'),
    ]


def play_bag(bag: str = 'bag', rate: str = 'rate'):
    """`ros2 bag play` of the bag named by launch argument `bag`, unless it is empty."""
    from launch.actions import ExecuteProcess, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def start(context):
        path = LaunchConfiguration(bag).perform(context)
        if not path:
            return []  # the person plays a bag from another terminal
        cmd = bag_play_cmd(path, float(LaunchConfiguration(rate).perform(context)))
        return [ExecuteProcess(cmd=cmd, output='screen', name='play')]
    return OpaqueFunction(function=start)


def rviz(condition=None):
    from launch_ros.actions import Node
    return Node(package='rviz2', executable='rviz2', name='rviz2',
                arguments=['-d', share_file('rviz', 'devrobot.rviz')], condition=condition)
