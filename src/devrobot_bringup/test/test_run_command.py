"""`devrobot run` end to end: a real simulator session recorded into a temporary folder."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from devrobot_bringup.cli import main
from devrobot_core import durable_files
from devrobot_core.bags.session_bag import DamagedBagError, read_session
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_core.testing.full_disk import FullDisk

REAL_WRITE_ALL = durable_files.write_all


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
                   '--secret-file', '', '--reconnect-attempts', '1', '--steps', '3', '--out',
                   str(out), '--no-progress'])
    error = capsys.readouterr().err.strip()
    assert status == 1
    assert 'unreachable' in error and '127.0.0.1:1' in error and '\n' not in error


def test_a_jetbot_run_without_the_shared_secret_names_the_command_that_makes_it(
        tmp_path, capsys, monkeypatch):
    pytest.importorskip('rpyc')
    monkeypatch.setenv('HOME', str(tmp_path))  # no ~/.devrobot_secret there
    status = main(['run', '--robot', 'jetbot', '--host', '127.0.0.1', '--steps', '3', '--out',
                   str(tmp_path / 'run'), '--no-progress'])
    error = capsys.readouterr().err.strip()
    assert status == 2 and '\n' not in error
    assert f'the secret file {tmp_path}/.devrobot_secret does not exist' in error
    assert 'devrobot jetbot-secret --host IP' in error


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


def bag_of_run(out, timeout_s=60):
    """The bag a running `devrobot run` records into, once its first chunk is on disk."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        files = list((out / 'bags').glob('*/*.mcap')) if (out / 'bags').exists() else []
        if files and files[0].stat().st_size > 0:
            return files[0].parent
        time.sleep(0.05)
    raise AssertionError(f'no bag appeared in {out}')


def answer_prompts(process, answers, timeout_s=120):
    """Accept `answers` proposed actions, then wait for the next prompt: that many steps ran."""
    seen, answered, deadline = 0, 0, time.monotonic() + timeout_s
    while seen <= answers and time.monotonic() < deadline:
        chunk = os.read(process.stdout.fileno(), 65536)
        assert chunk, process.stderr.read()
        seen += chunk.count(b'Proposed action')
        while answered < min(seen, answers):
            process.stdin.write(b'\n')
            process.stdin.flush()
            answered += 1
    assert seen > answers


def test_sigkill_loses_no_step_that_was_flushed_and_repair_restores_the_rest(tmp_path):
    out = tmp_path / 'run'
    process = subprocess.Popen(
        devrobot('run', '--policy', 'constant:1', '--steps', '1000', '--interactive',
                 '--bag-flush-bytes', '1', '--image-size', '32', '--out', str(out),
                 '--no-progress'),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    try:
        answer_prompts(process, 30)  # 30 steps done, each flushed before the next prompt
    finally:
        process.kill()
        process.communicate(timeout=60)
    bag = only_bag(out)
    with pytest.raises(DamagedBagError, match='devrobot repair'):
        read_session(bag)
    repaired = subprocess.run(devrobot('repair', str(bag)), capture_output=True, text=True,
                              timeout=120)
    assert repaired.returncode == 0, repaired.stderr
    # where rosbag2_py imports, read_session reindexed the killed bag first (as `ros2 bag
    # reindex` would), so repair finds a metadata.yaml listing the 30 commands it can read
    assert re.match(f'repaired bag {re.escape(str(bag))}: 30 (of 30 )?steps', repaired.stdout)
    _, frames, commands, outcomes = split_events(bag)
    assert (len(frames), len(commands), len(outcomes)) == (31, 30, 30)
    assert count_with_mcap_ros2(bag)['/motor/command'] == 30


def test_sigkill_at_full_speed_keeps_every_flushed_step(tmp_path):
    out = tmp_path / 'run'
    process = subprocess.Popen(
        devrobot('run', '--steps', '100000000', '--out', str(out), '--no-progress'),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        bag = bag_of_run(out)
        time.sleep(1.0)
    finally:
        process.kill()
        process.communicate(timeout=60)
    _, before, _ = [len(kind) for kind in split_events_partial(bag)]
    assert before > 0
    assert main(['repair', str(bag)]) == 0
    _, frames, commands, outcomes = split_events(bag)
    assert len(commands) == before == len(outcomes) == len(frames) - 1


def split_events_partial(bag):
    events = list(read_session(bag, allow_partial=True)[1])
    return ([e for e in events if isinstance(e, Frame)],
            [e for e in events if isinstance(e, MotorCommand)],
            [e for e in events if isinstance(e, MotorOutcome)])


# Without the deferral 0.01 and 0.03 fail; 0.3 reaches the interpreter's teardown.
@pytest.mark.parametrize('gap_s', [0.003, 0.01, 0.03, 0.3])
def test_a_second_ctrl_c_while_shutting_down_leaves_a_whole_bag(tmp_path, gap_s):
    out = tmp_path / 'run'
    process = subprocess.Popen(
        devrobot('run', '--steps', '100000000', '--out', str(out), '--no-progress'),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bag = bag_of_run(out)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(gap_s)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    _, frames, commands, outcomes = split_events(bag)  # whole: no repair needed
    assert len(commands) > 0 and len(frames) == len(commands) + 1 == len(outcomes) + 1
    assert json.loads((out / 'stats.json').read_text())['steps'] == len(commands)


def test_a_full_disk_ends_the_run_with_one_line_and_keeps_the_old_stats(
        tmp_path, capsys, monkeypatch):
    out = tmp_path / 'run'
    out.mkdir()
    (out / 'stats.json').write_text('{"steps": 7}\n')  # a previous run's
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(6000))
    status = main(['run', '--steps', '1000', '--image-size', '32', '--bag-flush-bytes', '1',
                   '--out', str(out), '--no-progress'])
    error = capsys.readouterr().err.strip()
    assert status == 1 and '\n' not in error
    bag = only_bag(out)
    assert error.startswith(f'devrobot run: cannot finish bag {bag} (the disk is full): '
                            'it keeps its first ')
    assert f'then run `devrobot repair {bag}`; cannot save {out / "stats.json"}' in error
    assert (out / 'stats.json').read_text() == '{"steps": 7}\n'
    kept = int(error.split('it keeps its first ')[1].split()[0])
    monkeypatch.setattr(durable_files, 'write_all', REAL_WRITE_ALL)
    assert main(['repair', str(bag)]) == 0
    _, frames, commands, outcomes = split_events(bag)
    assert (len(frames), len(commands), len(outcomes)) == (kept + 1, kept, kept)


@pytest.mark.parametrize('argv,message', [
    (['--bag-flush-interval-s', '0'], 'bag_flush_interval_s'),
    (['--bag-flush-interval-s', 'nan'], 'bag-flush-interval-s'),
    (['--bag-flush-bytes', '0'], 'bag_flush_bytes'),
])
def test_bad_flush_budgets_are_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    try:
        status = main(['run', '--out', str(tmp_path / 'run'), '--no-progress', *argv])
    except SystemExit as stop:  # refused by the flag's own type, as argparse does
        status = stop.code
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert message in error and '\n' not in error
    assert not (tmp_path / 'run' / 'bags').exists()


def test_stats_json_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from devrobot_bringup.run_command import write_stats
    from devrobot_core.session_stats import SessionStats
    stats = SessionStats(2)
    stats.record(1, 0.1)
    assert write_stats(tmp_path, stats) == ''
    assert json.loads((tmp_path / 'stats.json').read_text())['steps'] == 1
    stats.record(0, 0.1)
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(10))
    assert 'cannot save' in write_stats(tmp_path, stats)
    assert json.loads((tmp_path / 'stats.json').read_text())['steps'] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ['stats.json']
