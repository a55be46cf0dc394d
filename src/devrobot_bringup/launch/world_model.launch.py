"""The world-model node alone, with one robot's parameters.

Run: `ros2 launch devrobot_bringup world_model.launch.py robot:=jetbot`

Included by sim.launch.py, replay.launch.py and jetbot.launch.py, and run on its own on a GPU
workstation while the driver runs on the robot computer (same ROS_DOMAIN_ID).
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_helpers import argument, ros_node, share_file


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
        ros_node('devrobot_world_model', 'world_model_node', 'world_model', [
            LaunchConfiguration('params_file'),
            {'observe_only': LaunchConfiguration('observe_only'),
             'use_sim_time': LaunchConfiguration('use_sim_time'),
             'learning': LaunchConfiguration('learning')},
        ]),
    ])
