"""The launch helpers' command lines (the ros2bag flags of the humble to lyrical CLIs)."""

import pytest

from devrobot_bringup.launch_blocks import play_bag
from devrobot_bringup.launch_helpers import (bag_play_cmd, bag_record_cmd, is_true,
                                             SESSION_TOPICS)


def test_record_writes_mcap_with_zstd_chunks_split_by_size():
    cmd = bag_record_cmd('sessions/today', 512)
    assert cmd[:3] == ['ros2', 'bag', 'record']
    assert cmd[cmd.index('-s') + 1] == 'mcap'
    assert cmd[cmd.index('--storage-preset-profile') + 1] == 'zstd_fast'
    assert cmd[cmd.index('--max-bag-size') + 1] == str(512 * 1024 * 1024)
    assert cmd[cmd.index('-o') + 1] == 'sessions/today'
    assert cmd[-3:] == list(SESSION_TOPICS)


# How each distro's `ros2 bag record` takes topics (ros2bag/verb/record.py of its branch or
# release): Humble positional only, Jazzy and Kilted both, Lyrical and rolling --topics only.
RECORD_TOPICS_CLI = {'humble': {'positional'}, 'jazzy': {'positional', '--topics'},
                     'kilted': {'positional', '--topics'}, 'lyrical': {'--topics'},
                     'rolling': {'--topics'}}


@pytest.mark.parametrize('distro', sorted(RECORD_TOPICS_CLI))
def test_record_gives_topics_the_way_the_distros_cli_takes_them(distro, monkeypatch):
    monkeypatch.setenv('ROS_DISTRO', distro)
    cmd = bag_record_cmd('sessions/today', 512)
    if '--topics' in cmd:
        form, topics = '--topics', cmd[cmd.index('--topics') + 1:]
    else:
        form, topics = 'positional', cmd[cmd.index('-o') + 2:]
    assert form in RECORD_TOPICS_CLI[distro]
    assert topics == list(SESSION_TOPICS)
    assert bag_record_cmd('x', 1, distro=distro) == bag_record_cmd('x', 1)


def test_record_without_output_lets_rosbag2_name_the_folder():
    assert '-o' not in bag_record_cmd('', 0)
    assert bag_record_cmd('', 0)[bag_record_cmd('', 0).index('--max-bag-size') + 1] == '0'


@pytest.mark.parametrize('size', [-1.0, float('nan'), float('inf')])
def test_record_refuses_a_nonsense_size(size):
    with pytest.raises(ValueError):
        bag_record_cmd('x', size)


def test_play_puts_the_bag_before_clock():
    cmd = bag_play_cmd('/data/session', 2.0, 3.0)
    assert cmd[:4] == ['ros2', 'bag', 'play', '/data/session']
    assert cmd.index('--clock') > cmd.index('/data/session')
    assert cmd[cmd.index('--rate') + 1] == '2' and cmd[cmd.index('--delay') + 1] == '3'


@pytest.mark.parametrize('bag, rate, delay', [('', 1.0, 0.0), ('b', 0.0, 0.0),
                                              ('b', 1.0, -1.0)])
def test_play_refuses_bad_values(bag, rate, delay):
    with pytest.raises(ValueError):
        bag_play_cmd(bag, rate, delay)


def test_play_without_a_delay_leaves_the_flag_out():
    cmd = bag_play_cmd('/data/session', 1.0, 0.0)
    assert '--delay' not in cmd  # ros2 bag play refuses --delay 0


@pytest.mark.parametrize('text', ['true', ' True ', 'TRUE', '1'])
def test_what_if_condition_takes_as_true(text):
    assert is_true(text) is True


@pytest.mark.parametrize('text', ['false', 'False', '0', ' 0 '])
def test_what_if_condition_takes_as_false(text):
    assert is_true(text) is False


@pytest.mark.parametrize('text', ['yes', 'on', '', 'no', '2', 'truee'])
def test_what_if_condition_refuses_is_refused(text):
    with pytest.raises(ValueError, match='true, false, 1 or 0'):
        is_true(text)


def test_play_reads_its_arguments_when_the_launch_runs_and_ends_the_launch(monkeypatch):
    import launch_double
    launch_double.install(monkeypatch)
    play, = play_bag().function({'bag': '/b', 'rate': '2.0'})
    assert play.kwargs['cmd'] == bag_play_cmd('/b', 2.0)
    assert isinstance(play.kwargs['on_exit'], launch_double.Shutdown)
    assert play_bag().function({'bag': '', 'rate': '1.0'}) == []  # played by hand
