"""`devrobot live-view` and `devrobot try-action` against the mock backend and a dead port."""

import argparse
import json

from devrobot_core.errors import UsageError
from devrobot_jetbot import live_view_command, try_action_command
import pytest


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def test_try_action_saves_before_after_difference_and_outcome(tmp_path, capsys):
    out = tmp_path / 'try1'
    args = parse(try_action_command, ['--backend', 'mock', '--right', '0.5', '--duration',
                                      '0.1', '--settle-s', '0', '--out', str(out)])
    assert try_action_command.main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(try_action_command.OUTPUT_FILES)
    record = json.loads((out / 'outcome.json').read_text())
    assert record['status'] == 'COMPLETED' and record['applied']['right'] == 0.5
    assert record['changed_fraction'] > 0  # the mock's bar moved
    assert 'COMPLETED' in capsys.readouterr().err


def test_try_action_never_overwrites_an_earlier_try(tmp_path):
    out = tmp_path / 'try1'
    out.mkdir()
    (out / 'before.png').write_bytes(b'precious')
    args = parse(try_action_command, ['--backend', 'mock', '--out', str(out)])
    with pytest.raises(UsageError, match='nothing was overwritten'):
        try_action_command.main(args)
    assert (out / 'before.png').read_bytes() == b'precious'


def test_try_action_reports_a_rejected_command_with_status_1(tmp_path):
    args = parse(try_action_command, ['--backend', 'mock', '--duration', 'nan',
                                      '--settle-s', '0', '--out', str(tmp_path / 't')])
    assert try_action_command.main(args) == 1
    record = json.loads((tmp_path / 't' / 'outcome.json').read_text())
    assert record['status'] == 'REJECTED_INVALID' and 'finite' in record['reason']


def test_commands_end_with_one_clear_line_when_the_robot_is_unreachable(
        tmp_path, closed_port, capsys):
    argv = ['--host', '127.0.0.1', '--port', str(closed_port), '--reconnect-attempts', '1']
    assert try_action_command.main(parse(try_action_command,
                                         argv + ['--out', str(tmp_path / 't')])) == 1
    assert live_view_command.main(parse(live_view_command,
                                        argv + ['--headless', '--out', str(tmp_path)])) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all('is unreachable' in line for line in errors)


def test_a_missing_host_or_bad_limit_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match='--host'):
        try_action_command.main(parse(try_action_command, ['--out', str(tmp_path / 't')]))
    with pytest.raises(UsageError, match='max_speed'):
        live_view_command.main(parse(live_view_command, [
            '--backend', 'mock', '--max-speed', '3', '--headless', '--out', str(tmp_path)]))


def test_headless_live_view_saves_frames_and_numbers_on(tmp_path):
    argv = ['--backend', 'mock', '--headless', '--out', str(tmp_path), '--frames', '3',
            '--rate-hz', '200']
    assert live_view_command.main(parse(live_view_command, argv)) == 0
    assert live_view_command.main(parse(live_view_command, argv)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'frame_{i:05d}.png' for i in range(6)]
