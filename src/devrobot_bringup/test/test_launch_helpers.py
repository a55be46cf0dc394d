"""The launch helpers' command lines (the ros2bag flags are those of the jazzy/humble CLI)."""

import pytest

from devrobot_bringup.launch_helpers import (bag_play_cmd, bag_record_cmd, play_bag,
                                             record_session, SESSION_TOPICS)


def test_record_writes_mcap_with_zstd_chunks_split_by_size():
    cmd = bag_record_cmd('sessions/today', 512)
    assert cmd[:3] == ['ros2', 'bag', 'record']
    assert cmd[cmd.index('-s') + 1] == 'mcap'
    assert cmd[cmd.index('--storage-preset-profile') + 1] == 'zstd_fast'
    assert cmd[cmd.index('--max-bag-size') + 1] == str(512 * 1024 * 1024)
    assert cmd[cmd.index('-o') + 1] == 'sessions/today'
    assert cmd[-3:] == list(SESSION_TOPICS)


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


def test_record_and_play_read_their_arguments_when_the_launch_runs(monkeypatch):
    import launch_double
    launch_double.install(monkeypatch)
    record, = record_session().function({'bag_dir': 'sessions/a', 'max_bag_size_mb': '8'})
    assert record.kwargs['cmd'] == bag_record_cmd('sessions/a', 8.0)
    play, = play_bag().function({'bag': '/b', 'rate': '2.0'})
    assert play.kwargs['cmd'] == bag_play_cmd('/b', 2.0)
    assert play_bag().function({'bag': '', 'rate': '1.0'}) == []  # played by hand
