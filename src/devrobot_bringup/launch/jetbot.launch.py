"""A real JetBot and the world model that explores with it.

    ros2 launch devrobot_bringup jetbot.launch.py host:=192.168.1.42
    ros2 launch devrobot_bringup jetbot.launch.py host:=192.168.1.42 record:=true
    ros2 launch devrobot_bringup jetbot.launch.py backend:=onboard world_model:=false

The driver reaches the robot over RPyC (robot_service.py running on the JetBot, docs/jetbot.md)
or, on a robot computer that runs ROS 2 itself, drives the hardware directly (backend:=onboard).
Limits, ramp and action space come from config/jetbot.yaml.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import argument, if_true, include, ros_node, share_file


def generate_launch_description():
    from launch_ros.parameter_descriptions import ParameterValue
    params_file = LaunchConfiguration('params_file')
    # typed as str: a host name like "1e3" or an empty string must not turn into a number
    driver_overrides = {
        'host': ParameterValue(LaunchConfiguration('host'), value_type=str),
        'backend': ParameterValue(LaunchConfiguration('backend'), value_type=str),
    }
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
        ros_node('devrobot_jetbot', 'jetbot_node', 'jetbot_node',
                 [params_file, driver_overrides]),
        include('world_model.launch.py', condition=if_true('world_model'), robot='jetbot',
                params_file=params_file),
        include('record.launch.py', condition=if_true('record')),
    ])
