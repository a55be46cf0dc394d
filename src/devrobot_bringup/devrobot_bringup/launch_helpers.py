"""Generic pieces of the devrobot launch files: command lines, arguments, nodes, includes.

The command lines (`ros2 bag record`, `ros2 bag play`) and truth values are plain functions,
tested without ROS. The functions returning launch actions import `launch` and `launch_ros` when
called, so this module imports anywhere; every call they make exists on Humble, Jazzy and
Lyrical (checked against their branches: no EqualsSubstitution, no IfElseSubstitution). The
devrobot-specific blocks built from these are in `launch_blocks`.
"""

from __future__ import annotations

import math
import os

PACKAGE = 'devrobot_bringup'
# What a session bag holds: the offline trainer and the replay learn from exactly these.
SESSION_TOPICS = ('/camera/image_raw', '/motor/command', '/motor/state')
DEFAULT_MAX_BAG_SIZE_MB = 1024.0
# MCAP's own zstd chunk compression (rosbag2_storage_mcap preset): unlike rosbag2's file
# compression (`--compression-mode file`, which writes `.mcap.zstd`), the chunks stay readable
# by Foxglove, `ros2 bag play` and the offline trainer without decompressing a copy first.
MCAP_PRESET = 'zstd_fast'
# Distros whose `ros2 bag record` takes topics as positional arguments only (no --topics);
# Jazzy and Kilted take both, Lyrical and newer --topics only.
POSITIONAL_TOPICS_DISTROS = ('foxy', 'galactic', 'humble', 'iron')
# launch's VALID_TRUE_EXPRESSIONS and VALID_FALSE_EXPRESSIONS (humble, jazzy and rolling alike)
TRUE_WORDS = ('true', '1')
FALSE_WORDS = ('false', '0')


def bag_record_cmd(output: str = '', max_bag_size_mb: float = DEFAULT_MAX_BAG_SIZE_MB,
                   topics=SESSION_TOPICS, distro: str | None = None) -> list:
    """`ros2 bag record` of the session topics: mcap, zstd chunks, split every N megabytes.

    An empty `output` lets rosbag2 name the folder `rosbag2_<date>-<time>` in the current
    directory. `distro` (default: $ROS_DISTRO) decides how topics are given: positional on
    Humble, which has no `--topics`; `--topics` elsewhere (Lyrical has no positional topics).
    """
    if not math.isfinite(max_bag_size_mb) or max_bag_size_mb < 0:
        raise ValueError(f'max_bag_size_mb must be >= 0 (0: one file), got {max_bag_size_mb}')
    if not topics:
        raise ValueError('no topics to record')
    cmd = ['ros2', 'bag', 'record', '-s', 'mcap', '--storage-preset-profile', MCAP_PRESET,
           '--max-bag-size', str(int(max_bag_size_mb * 1024 * 1024))]
    if output:
        cmd += ['-o', output]
    distro = os.environ.get('ROS_DISTRO', '') if distro is None else distro
    if distro.strip().lower() in POSITIONAL_TOPICS_DISTROS:
        return cmd + list(topics)
    return cmd + ['--topics', *topics]


def bag_play_cmd(bag: str, rate: float = 1.0, delay_s: float = 5.0) -> list:
    """`ros2 bag play BAG --clock`: publishes /clock so use_sim_time nodes follow the bag.

    `delay_s` gives the world model time to start (torch loads in seconds) before the first
    image; 0 leaves `--delay` out (`ros2 bag play` refuses `--delay 0`). The bag comes first:
    `--clock` takes an optional frequency and would swallow it.
    """
    if not bag:
        raise ValueError('no bag to play')
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f'rate must be positive, got {rate}')
    if not math.isfinite(delay_s) or delay_s < 0:
        raise ValueError(f'delay_s must be >= 0, got {delay_s}')
    delay = ['--delay', f'{delay_s:g}'] if delay_s > 0 else []
    return ['ros2', 'bag', 'play', bag, '--clock', '--rate', f'{rate:g}', *delay,
            '--disable-keyboard-controls']


def is_true(text: str) -> bool:
    """A launch argument's truth, exactly as launch's IfCondition reads it.

    'true' and '1' are true, 'false' and '0' false, after stripping and ignoring case; any
    other text is refused with ValueError (IfCondition raises InvalidConditionExpressionError).
    """
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f'{text!r} is not a truth value: expected true, false, 1 or 0')


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


def ros_node(package: str, executable: str, name: str, parameters: list, condition=None,
             shutdown_on_exit: bool = False, sigterm_timeout_s: float | None = None):
    """A node with its parameters, logging to the screen.

    `shutdown_on_exit`: when it ends (a driver that lost its robot, a crash) the whole launch
    shuts down rather than leave the other nodes waiting. `sigterm_timeout_s`: how long after
    launch's SIGINT it may take before SIGTERM (a save at shutdown).
    """
    from launch_ros.actions import Node
    extra = {}
    if shutdown_on_exit:
        extra['on_exit'] = shutdown_action(f'{name} ended')
    if sigterm_timeout_s is not None:
        extra['sigterm_timeout'] = f'{sigterm_timeout_s:g}'
    return Node(package=package, executable=executable, name=name, parameters=parameters,
                output='screen', emulate_tty=True, condition=condition, **extra)


def shutdown_action(reason: str):
    """The Shutdown action: every process gets SIGINT, as at a Ctrl-C."""
    from launch.actions import Shutdown
    return Shutdown(reason=reason)


def package_installed(package: str) -> bool:
    """Whether the ament index knows `package` (rviz2 is absent on headless installs)."""
    try:
        from ament_index_python.packages import get_package_prefix
        get_package_prefix(package)
    except (ImportError, LookupError, ValueError):  # PackageNotFoundError is a KeyError
        return False
    return True
