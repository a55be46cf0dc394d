"""Learn from a recorded session: the world model in observe-only mode on the bag's clock.

Run: `ros2 launch devrobot_bringup replay.launch.py bag:=/path/to/session robot:=jetbot`

No driver is started, so the bag's `motor/command` messages can never move a robot. When the
bag has been played, the launch ends and the world model saves. With an empty `bag`, play one
yourself: `ros2 bag play /path/to/session --clock`.
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration

from devrobot_bringup.launch_blocks import check_arguments, play_bag, world_model_node
from devrobot_bringup.launch_helpers import argument, share_file


def generate_launch_description():
    return LaunchDescription([
        argument('bag', '', 'Session bag folder to play; empty: play it from another shell.'),
        argument('robot', 'sim', 'Robot that recorded the bag: loads config/<robot>.yaml.',
                 choices=('sim', 'jetbot')),
        argument('rate', '1.0', 'Playback speed factor.'),
        argument('learning', 'true', 'Train on the replayed transitions.',
                 choices=('true', 'false')),
        check_arguments(files=(), folders=('bag',), numbers={'rate': None}),
        world_model_node([share_file('config'), '/', LaunchConfiguration('robot'), '.yaml'],
                         observe_only='true', use_sim_time='true',
                         learning=LaunchConfiguration('learning')),
        play_bag('bag', 'rate'),
    ])
