"""The world-model node alone, with one robot's parameters.

Run: `ros2 launch devrobot_bringup world_model.launch.py robot:=jetbot`

On a GPU workstation while the driver runs on the robot computer (same ROS_DOMAIN_ID, clocks
synchronised: docs/ros.md). The other launch files start the same node with `world_model_node`.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import check_arguments, world_model_node
from devrobot_bringup.launch_helpers import argument, share_file


def generate_launch_description():
    return LaunchDescription([
        argument('robot', 'sim', 'Robot whose parameters to load: config/<robot>.yaml.',
                 choices=('sim', 'jetbot')),
        argument('params_file', [share_file('config'), '/', LaunchConfiguration('robot'),
                                 '.yaml'], 'Parameter YAML; default: config/<robot>.yaml.'),
        argument('observe_only', 'false', 'Never publish motor commands (replay, watching).',
                 choices=('true', 'false')),
        argument('use_sim_time', 'false', 'Follow /clock (true with ros2 bag play --clock).',
                 choices=('true', 'false')),
        argument('learning', 'true', 'Train on the incoming transitions.',
                 choices=('true', 'false')),
        check_arguments(),
        world_model_node(LaunchConfiguration('params_file'),
                         LaunchConfiguration('observe_only'),
                         LaunchConfiguration('use_sim_time'), LaunchConfiguration('learning')),
    ])
