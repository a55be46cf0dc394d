"""The simulated toroidal-dot robot and the world model that explores it.

Run: `ros2 launch devrobot_bringup sim.launch.py rviz:=true record:=true`

When either node ends, the launch ends; Ctrl-C lets the simulator report a command cut short
as STOPPED and the world model learn its last transitions and save.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import (check_arguments, record_arguments, record_session,
                                            recording_numbers, rviz, world_model_node)
from devrobot_bringup.launch_helpers import argument, if_true, ros_node, share_file


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        argument('params_file', share_file('config', 'sim.yaml'),
                 'Parameters of the simulator and the world model.'),
        argument('rviz', 'false', 'Show camera, reconstruction and predictions in rviz2.',
                 choices=('true', 'false')),
        *record_arguments(),
        check_arguments(numbers=recording_numbers()),
        ros_node('devrobot_sim', 'sim_node', 'sim_node', [params_file], shutdown_on_exit=True),
        world_model_node(params_file),
        record_session('sim', condition=if_true('record')),
        rviz(condition=if_true('rviz')),
    ])
