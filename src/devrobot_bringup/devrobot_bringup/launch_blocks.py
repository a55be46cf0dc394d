"""The devrobot launch files' blocks: checks first, the world model, recording, replay, rviz.

Each launch file is a handful of these. A parent file calls a block with the values it fixes
instead of including another file that would declare them, so `ros2 launch ... --show-args`
lists only what a user may set. The rules the blocks keep:
- `check_arguments` comes before every process: a missing parameter file or a bad number stops
  the launch with one line and starts nothing (launch_ros would only warn and start the nodes
  on their defaults, and a process started before a failure can be left running);
- the world model gets `SAVE_TIMEOUT_S` between launch's SIGINT and its SIGTERM to learn its
  last transitions and save, and when it ends, so does the launch;
- when the driver or the bag player ends, the launch shuts down (every node gets SIGINT);
- rviz2 starts where it is installed; where it is not, `rviz:=true` is a warning, not a crash.
"""

from __future__ import annotations

import math
import os
import sys

from devrobot_bringup import recording
from devrobot_bringup.launch_helpers import (argument, bag_play_cmd, bag_record_cmd,
                                             DEFAULT_MAX_BAG_SIZE_MB, is_true,
                                             package_installed, ros_node, share_file,
                                             shutdown_action)

# launch's default is 5 s before SIGTERM and 5 more before SIGKILL; a CPU may need longer to
# learn the last transitions and write a checkpoint (node_support handles SIGTERM like SIGINT).
SAVE_TIMEOUT_S = 60.0
# The recorder stops this long after the nodes are told to (session_recorder), so what they
# publish while stopping (a driver's STOPPED state) is in the bag; launch gives it
# RECORDER_CLOSE_S after that before SIGTERM, to write and close the bag.
RECORDER_GRACE_S = 2.0
RECORDER_CLOSE_S = 30.0
BAG_DIR_HELP = ('Folder of the recording; empty: ~/.devrobot/saved/sessions/<robot>/'
                'session_<date>_<time>, under the disk budget.')


def _logger():
    import launch.logging
    return launch.logging.get_logger('devrobot')


def check_arguments(files=('params_file',), folders=(), numbers=None):
    """An action that refuses a bad argument before any process starts, with one line.

    `files` and `folders` name launch arguments holding paths that must exist (an empty
    folder argument is allowed: nothing to play); `numbers` maps launch arguments to their
    default when undeclared (None: required), each a finite number >= 0.
    """
    from launch.actions import OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def check(context):
        def value(name, default=None):
            return LaunchConfiguration(name, default=default).perform(context)

        for name in files:
            path = value(name)
            if not os.path.isfile(os.path.expanduser(path)):
                raise RuntimeError(f'{name}:={path}: no such file')
        for name in folders:
            path = value(name)
            if path and not os.path.isdir(os.path.expanduser(path)):
                raise RuntimeError(f'{name}:={path}: no such folder')
        for name, default in (numbers or {}).items():
            text = value(name, default)
            try:
                number = float(text)
            except ValueError:
                number = float('nan')
            if not math.isfinite(number) or number < 0:
                raise RuntimeError(f'{name}:={text}: expected a number >= 0')
        return []
    return OpaqueFunction(function=check)


def recording_numbers() -> dict:
    """The numeric arguments `record_session` reads, with their defaults."""
    return {'max_bag_size_mb': f'{DEFAULT_MAX_BAG_SIZE_MB:g}',
            'recording_max_disk_gb': f'{recording.DEFAULT_MAX_DISK_GB:g}'}


def check_backend_host():
    """An action refusing host:= without backend:=rpyc (the other backends would ignore it)."""
    from launch.actions import OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def check(context):
        host = LaunchConfiguration('host').perform(context)
        backend = LaunchConfiguration('backend').perform(context)
        if host and backend != 'rpyc':
            raise RuntimeError(f'host:={host} is for backend:=rpyc; backend:={backend} '
                               'ignores it (add backend:=rpyc)')
        return []
    return OpaqueFunction(function=check)


def world_model_node(params_file, observe_only='false', use_sim_time='false', learning='true',
                     condition=None):
    """The world model with one robot's parameters; string values or substitutions.

    The flags reach the node as BOOL parameters: launch_ros would pass a plain string as a
    STRING (refused by the node), and ParameterValue(value_type=bool) takes only a bool or a
    substitution.
    """
    from launch_ros.parameter_descriptions import ParameterValue

    def flag(value):
        if isinstance(value, str):
            return is_true(value)
        return ParameterValue(value, value_type=bool)
    flags = {'observe_only': observe_only, 'use_sim_time': use_sim_time, 'learning': learning}
    return ros_node('devrobot_world_model', 'world_model_node', 'world_model', [
        params_file, {name: flag(value) for name, value in flags.items()},
    ], condition=condition, shutdown_on_exit=True, sigterm_timeout_s=SAVE_TIMEOUT_S)


def jetbot_driver(params_file, host, backend):
    """The JetBot driver; `host` and `backend` typed as strings (a host like "1e3" stays one)."""
    from launch_ros.parameter_descriptions import ParameterValue
    overrides = {'host': ParameterValue(host, value_type=str),
                 'backend': ParameterValue(backend, value_type=str)}
    return ros_node('devrobot_jetbot', 'jetbot_node', 'jetbot_node', [params_file, overrides],
                    shutdown_on_exit=True)


def record_arguments():
    """What a user may set about recording.

    max_bag_size_mb is declared by record.launch.py alone, and read on any command line.
    """
    return [
        argument('record', 'false', 'Record the session topics with ros2 bag (mcap, zstd).',
                 choices=('true', 'false')),
        argument('bag_dir', '', BAG_DIR_HELP),
        argument('recording_max_disk_gb', f'{recording.DEFAULT_MAX_DISK_GB:g}',
                 'Delete the oldest default-folder sessions of this robot beyond this many GB '
                 '(0: never).'),
    ]


def record_session(robot, condition=None):
    """`ros2 bag record` of the session, planned when the launch runs, and its disk checks.

    `robot` (a string or substitution) names the default folder of sessions. Reads the launch
    arguments bag_dir, recording_max_disk_gb and max_bag_size_mb (defaults where undeclared).
    """
    from launch.actions import ExecuteProcess, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def start(context):
        size_mb = float(LaunchConfiguration('max_bag_size_mb', default=str(
            DEFAULT_MAX_BAG_SIZE_MB)).perform(context))
        plan = recording.plan_recording(
            LaunchConfiguration('bag_dir', default='').perform(context),
            robot if isinstance(robot, str) else robot.perform(context),
            float(LaunchConfiguration('recording_max_disk_gb', default=str(
                recording.DEFAULT_MAX_DISK_GB)).perform(context)),
            size_mb)
        _logger().info(f'recording to {plan.output}')
        return [ExecuteProcess(cmd=recorder_cmd(bag_record_cmd(str(plan.output), size_mb)),
                               output='screen', name='record',
                               sigterm_timeout=f'{RECORDER_CLOSE_S:g}'),
                disk_checks(plan)]
    return OpaqueFunction(function=start, condition=condition)


def recorder_cmd(record_cmd: list) -> list:
    """`record_cmd` run by session_recorder (with launch's Python: it needs no more)."""
    return [sys.executable, '-m', 'devrobot_bringup.session_recorder', '--grace-s',
            f'{RECORDER_GRACE_S:g}', '--', *record_cmd]


def disk_checks(plan):
    """Check the budget and the free space now, then every CHECK_INTERVAL_S until shutdown."""
    from launch.actions import OpaqueFunction, TimerAction

    def check(context):
        for message in plan.check():
            _logger().warning(message)
        return [TimerAction(period=recording.CHECK_INTERVAL_S,
                            actions=[OpaqueFunction(function=check)])]
    return OpaqueFunction(function=check)


def play_bag(bag: str = 'bag', rate: str = 'rate'):
    """`ros2 bag play` of the bag named by launch argument `bag`, unless it is empty.

    When the bag has been played the launch shuts down, so the world model saves and ends.
    """
    from launch.actions import ExecuteProcess, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    def start(context):
        path = LaunchConfiguration(bag).perform(context)
        if not path:
            return []  # the person plays a bag from another terminal
        cmd = bag_play_cmd(path, float(LaunchConfiguration(rate).perform(context)))
        return [ExecuteProcess(cmd=cmd, output='screen', name='play',
                               on_exit=shutdown_action('the bag was played'))]
    return OpaqueFunction(function=start)


def rviz(condition=None):
    """rviz2 with the devrobot layout; a warning instead where rviz2 is not installed."""
    from launch.actions import OpaqueFunction
    from launch_ros.actions import Node

    def start(context):
        if not package_installed('rviz2'):
            _logger().warning('rviz2 is not installed: continuing without it '
                              '(apt install ros-$ROS_DISTRO-rviz2)')
            return []
        return [Node(package='rviz2', executable='rviz2', name='rviz2',
                     arguments=['-d', share_file('rviz', 'devrobot.rviz')])]
    return OpaqueFunction(function=start, condition=condition)
