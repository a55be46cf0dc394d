"""A real JetBot and the world model that explores with it.

    ros2 launch devrobot_bringup jetbot.launch.py host:=192.168.1.42
    ros2 launch devrobot_bringup jetbot.launch.py host:=192.168.1.42 record:=true
    ros2 launch devrobot_bringup jetbot.launch.py backend:=onboard world_model:=false

The driver reaches the robot over RPyC (robot_service.py running on the JetBot, docs/jetbot.md)
or, on a robot computer that runs ROS 2 itself, drives the hardware directly (backend:=onboard).
Limits, ramp and action space come from config/jetbot.yaml. A driver that loses the robot for
good ends with status 1, and the launch with it. With record:=true, bag_dir:=... and
recording_max_disk_gb:=... are read as in sim.launch.py.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import (check_arguments, check_backend_host,
                                            jetbot_driver, record_session, recording_numbers,
                                            world_model_node)
from devrobot_bringup.launch_helpers import argument, if_true, share_file


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        argument('host', '', "The JetBot's IP address or host name (rpyc backend)."),
        argument('backend', 'rpyc', 'rpyc: robot_service.py on the JetBot; onboard: this '
                 'computer is the robot; mock: no hardware.', choices=('rpyc', 'onboard', 'mock')),
        argument('world_model', 'true', 'Also start the world model (false: only the driver).',
                 choices=('true', 'false')),
        argument('record', 'false', 'Record the session topics with ros2 bag (mcap, zstd).',
                 choices=('true', 'false')),
        argument('params_file', share_file('config', 'jetbot.yaml'),
                 'Parameters of the JetBot driver and the world model.'),
        check_arguments(numbers=recording_numbers()),
        check_backend_host(),
        jetbot_driver(params_file, LaunchConfiguration('host'), LaunchConfiguration('backend')),
        world_model_node(params_file, condition=if_true('world_model')),
        record_session('jetbot', condition=if_true('record')),
    ])
