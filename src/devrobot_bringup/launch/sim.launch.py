"""The simulated toroidal-dot robot and the world model that explores it.

Run: `ros2 launch devrobot_bringup sim.launch.py rviz:=true record:=true`
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import (argument, if_true, include, record_arguments,
                                             ros_node, rviz, share_file)


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        argument('params_file', share_file('config', 'sim.yaml'),
                 'Parameters of the simulator and the world model.'),
        argument('rviz', 'false', 'Show camera, reconstruction and predictions in rviz2.',
                 choices=('true', 'false')),
        *record_arguments(),
        ros_node('devrobot_sim', 'sim_node', 'sim_node', [params_file]),
        include('world_model.launch.py', robot='sim', params_file=params_file),
        include('record.launch.py', condition=if_true('record'),
                bag_dir=LaunchConfiguration('bag_dir'),
                max_bag_size_mb=LaunchConfiguration('max_bag_size_mb')),
        rviz(condition=if_true('rviz')),
    ])
