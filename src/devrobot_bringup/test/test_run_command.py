"""`devrobot run` end to end: a real simulator session recorded into a temporary folder."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from devrobot_bringup.cli import main
from devrobot_core.bags.session_bag import read_session
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome


def devrobot(*argv):
    return [sys.executable, '-m', 'devrobot_bringup.cli', *argv]


def split_events(bag):
    info, events = read_session(bag)
    events = list(events)
    frames = [e for e in events if isinstance(e, Frame)]
    commands = [e for e in events if isinstance(e, MotorCommand)]
    outcomes = [e for e in events if isinstance(e, MotorOutcome)]
    return info, frames, commands, outcomes


def count_with_mcap_ros2(bag):
    """Decode every message with Foxglove's decoder: a second, independent opinion."""
    mcap_reader = pytest.importorskip('mcap.reader')
    decoder = pytest.importorskip('mcap_ros2.decoder')
    counts = {}
    for path in bag.glob('*.mcap'):
        with open(path, 'rb') as stream:
            reader = mcap_reader.make_reader(stream, decoder_factories=[decoder.DecoderFactory()])
            for _, channel, _, message in reader.iter_decoded_messages():
                assert message is not None
                counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts


def only_bag(out):
    bags = sorted((out / 'bags').iterdir())
    assert len(bags) == 1
    return bags[0]


def test_alternate_policy_splits_actions_evenly_and_records_every_step(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--robot', 'sim', '--policy', 'sequence:alternate', '--steps', '100',
                 '--out', str(out), '--no-progress']) == 0
    stats = json.loads((out / 'stats.json').read_text())
    assert stats['action_counts'] == [50, 50]
    assert stats['action_distribution'] == [0.5, 0.5]
    assert set(stats['step_time_s']) == {'mean', 'median', 'min', 'max', 'std'}
    printed = capsys.readouterr().out
    bag = only_bag(out)
    assert '50.0%' in printed and printed.splitlines()[-1] == f'session bag: {bag}'
    assert count_with_mcap_ros2(bag) == {'/camera/image_raw': 101, '/motor/command': 100,
                                         '/motor/state': 100, '/session/info': 1}
    info, frames, commands, outcomes = split_events(bag)
    assert (len(frames), len(commands), len(outcomes)) == (101, 100, 100)
    assert info.robot_type == 'toroidal_dot'
    move_pixels = info.config['robot']['move_pixels']
    for before, command, after in zip(frames, commands, frames[1:]):
        shift = move_pixels if command.right > 0 else 0
        assert np.array_equal(after.pixels, np.roll(before.pixels, shift, axis=1))


@pytest.mark.parametrize('argv,message', [
    (['--policy', 'bogus'], 'unknown policy'),
    (['--steps', '0'], '--steps must be positive'),
    (['--steps', '-3'], '--steps must be positive'),
    (['--robot', 'tank'], 'unknown robot'),
    (['--dot-radius', '999'], 'dot_radius'),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    assert main(['run', '--out', str(tmp_path / 'run'), '--no-progress', *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and '\n' not in error


def test_unwritable_output_folder_is_refused(tmp_path, capsys):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    assert main(['run', '--out', str(blocker / 'run'), '--no-progress']) == 2
    assert 'cannot write the output folder' in capsys.readouterr().err


def test_ctrl_c_leaves_a_bag_that_reads_back_to_its_last_full_step(tmp_path):
    out = tmp_path / 'run'
    process = subprocess.Popen(
        devrobot('run', '--steps', '100000000', '--out', str(out), '--no-progress'),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / 'bags').exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # let it record some steps
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert 'interrupted' in err
    _, frames, commands, outcomes = split_events(only_bag(out))
    assert len(commands) > 0
    assert len(frames) == len(commands) + 1 == len(outcomes) + 1
    stats = json.loads((out / 'stats.json').read_text())
    assert stats['steps'] == len(commands)


def test_interactive_prompt_through_stdin(tmp_path):
    out = tmp_path / 'run'
    result = subprocess.run(
        devrobot('run', '--policy', 'constant:0', '--steps', '10', '--interactive',
                 '--out', str(out), '--no-progress'),
        input='\n1\nnonsense\n1\nstop\n', capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('Proposed action 0') == 5  # asked again after 'nonsense'
    assert "Not an action: 'nonsense'" in result.stdout
    stats = json.loads((out / 'stats.json').read_text())
    assert stats['action_counts'] == [1, 2]
    _, frames, commands, _ = split_events(only_bag(out))
    assert [c.right > 0 for c in commands] == [False, True, True]


def test_unreachable_jetbot_is_one_clear_line_and_no_bag_of_steps(tmp_path, capsys):
    pytest.importorskip('rpyc')
    out = tmp_path / 'run'
    status = main(['run', '--robot', 'jetbot', '--host', '127.0.0.1', '--port', '1',
                   '--reconnect-attempts', '1', '--steps', '3', '--out', str(out),
                   '--no-progress'])
    error = capsys.readouterr().err.strip()
    assert status == 1
    assert 'unreachable' in error and '127.0.0.1:1' in error and '\n' not in error


def test_two_runs_in_the_same_second_get_two_bags(tmp_path):
    out = tmp_path / 'run'
    for _ in range(2):
        assert main(['run', '--steps', '2', '--out', str(out), '--no-progress']) == 0
    assert len(list((out / 'bags').iterdir())) == 2


def test_recorded_policy_replays_a_session(tmp_path):
    first, second = tmp_path / 'first', tmp_path / 'second'
    assert main(['run', '--policy', 'sequence:1,1,0', '--steps', '6', '--out', str(first),
                 '--no-progress']) == 0
    bag = only_bag(first)
    assert main(['run', '--policy', f'recorded:{bag}', '--steps', '6', '--out', str(second),
                 '--no-progress']) == 0
    _, _, replayed, _ = split_events(only_bag(second))
    assert [c.right > 0 for c in replayed] == [True, True, False] * 2


def test_old_sessions_are_deleted_past_the_disk_budget(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--steps', '3', '--out', str(out), '--no-progress']) == 0
    old = only_bag(out)
    for path in [old, *old.rglob('*')]:
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert main(['run', '--steps', '3', '--out', str(out), '--no-progress',
                 '--recording-max-disk-gb', '0.0000001']) == 0
    remaining = list((out / 'bags').iterdir())
    assert len(remaining) == 1 and remaining[0] != old
    assert str(old) in capsys.readouterr().err
