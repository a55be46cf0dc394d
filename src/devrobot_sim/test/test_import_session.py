"""Importing a session folder of the original system, built here in its documented layout."""

import argparse
import json

import numpy as np
import pytest

from devrobot_core.bags import import_session_command
from devrobot_core.bags.import_session_command import import_session
from devrobot_core.bags.session_bag import read_session
from devrobot_core.errors import UsageError
from devrobot_core.motor import Frame
from devrobot_core.transitions import transitions_from_events
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld

Image = pytest.importorskip('PIL.Image', reason='importing sessions needs Pillow')

T0 = 1758490893.52


def write_session(folder, script, robot_type='ToroidalDotRobot', shard_size=5,
                  action_space=({'action': 0}, {'action': 1}), truncate_last_line=False):
    """Write `script` (a list of ('obs', t) / ('act', t, data) / ('obs-missing', t)) as a session.

    Returns {step: pixels} of the observations written, for comparison.
    """
    world = ToroidalDotWorld(ToroidalDotConfig(image_size=32, dot_radius=3, move_pixels=5))
    (folder / 'frames').mkdir(parents=True)
    lines, pixels_by_step = [], {}
    for step, item in enumerate(script):
        if item[0] == 'act':
            lines.append({'step': step, 'type': 'action', 'data': item[2], 'timestamp': item[1]})
            if item[2].get('action') == 1 or item[2].get('motor_right'):
                world.apply(world.effects[1])
            continue
        frame_path = f'frames/frame_{step:06d}.jpg'
        lines.append({'step': step, 'type': 'observation', 'data': {'frame_path': frame_path},
                      'timestamp': item[1]})
        if item[0] == 'obs':
            Image.fromarray(world.render()).save(folder / frame_path, quality=85)
            pixels_by_step[step] = np.asarray(Image.open(folder / frame_path).convert('RGB'))
    shards = [lines[i:i + shard_size] for i in range(0, len(lines), shard_size)]
    for index, shard in enumerate(shards):
        text = ''.join(json.dumps(line) + '\n' for line in shard)
        if truncate_last_line and index == len(shards) - 1:
            text += '{"step": 999, "type": "obs'
        (folder / f'events_shard_{index:03d}.jsonl').write_text(text)
    meta = {'session_name': folder.name, 'start_time': '2025-09-21T14:21:33', 'shard_size':
            shard_size, 'max_disk_gb': 10.0, 'total_shards': len(shards),
            'action_space': list(action_space), 'robot_type': robot_type}
    (folder / 'session_meta.json').write_text(json.dumps(meta))
    return pixels_by_step


def timeline(pattern, start=T0):
    """Script from a pattern like 'o a1 o a0': observations, then actions 0.09 s later."""
    script, t = [], start
    for token in pattern.split():
        if token[0] == 'o':
            script.append(('obs' if token == 'o' else 'obs-missing', round(t, 3)))
            t += 0.09
        else:
            script.append(('act', round(t, 3), {'action': int(token[1])}))
            t += 0.21
    return script


def original_reader_transitions(script):
    """The original's rule where it is unambiguous: observation, action, observation in a row."""
    return [(step - 1, step, step + 1) for step, item in enumerate(script)
            if item[0] == 'act' and 0 < step < len(script) - 1
            and script[step - 1][0] == 'obs' and script[step + 1][0] == 'obs']


def test_import_yields_the_original_transitions(tmp_path):
    # a missing observation between two actions (camera failed: no line at all: 'a1 a1'), a
    # listed observation whose jpg is missing ('om'), and a trailing action
    script = timeline('o a1 o a0 o a1 a1 o a0 om a1 o a1 o a1')
    pixels = write_session(tmp_path / 'session_20250921_142133', script)
    report = import_session(tmp_path / 'session_20250921_142133', tmp_path / 'bag')
    assert report.missing_frames == 1 and report.actions == 8
    info, events = read_session(tmp_path / 'bag')
    assert info.robot_type == 'toroidal_dot'
    assert info.config['original_robot_type'] == 'ToroidalDotRobot'
    transitions = list(transitions_from_events(events))
    expected = original_reader_transitions(script)
    assert len(transitions) == len(expected) == report.transitions == 3
    stay, move = info.action_space
    for transition, (before, action, after) in zip(transitions, expected):
        np.testing.assert_array_equal(transition.frame.pixels, pixels[before])
        np.testing.assert_array_equal(transition.next_frame.pixels, pixels[after])
        wanted = move if script[action][2]['action'] == 1 else stay
        assert transition.outcome.command.same_action(wanted)
        assert transition.outcome.start_ns == round(script[action][1] * 1e9)


def test_jetbot_session_maps_motor_dicts_and_survives_an_interrupted_writer(tmp_path):
    forward = {'motor_left': 0, 'motor_right': 0.12, 'duration': 0.2}
    stop = {'motor_left': 0, 'motor_right': 0, 'duration': 0.2}
    script = [('obs', T0), ('act', T0 + 0.1, forward), ('obs', T0 + 0.2),  # logged too early
              ('act', T0 + 0.4, stop), ('obs', T0 + 0.7)]
    write_session(tmp_path / 's', script, robot_type='JetBotInterface',
                  action_space=(stop, forward), truncate_last_line=True)
    report = import_session(tmp_path / 's', tmp_path / 'bag')
    assert report.truncated_lines == 1 and report.shifted_stamps == 1
    info, events = read_session(tmp_path / 'bag')
    assert info.robot_type == 'jetbot'
    assert [(c.left, c.right, c.duration_s) for c in info.action_space] == \
        [(0, 0, 0.2), (0, 0.12, 0.2)]
    frames = [e for e in read_session(tmp_path / 'bag')[1] if isinstance(e, Frame)]
    # the early observation was moved to the end of the forward command
    assert frames[1].stamp_ns == round((T0 + 0.1) * 1e9) + 200_000_000
    assert len(list(transitions_from_events(events))) == 2


def test_cli_main_prints_a_summary(tmp_path, capsys):
    write_session(tmp_path / 's', timeline('o a1 o'))
    parser = argparse.ArgumentParser()
    import_session_command.add_arguments(parser)
    args = parser.parse_args([str(tmp_path / 's'), '--out', str(tmp_path / 'bag')])
    assert import_session_command.main(args) == 0
    assert '2 frames and 1 actions' in capsys.readouterr().out


def test_bad_input_is_a_usage_error_and_keeps_existing_output(tmp_path):
    with pytest.raises(UsageError, match='no session folder'):
        import_session(tmp_path / 'nothing', tmp_path / 'bag')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(UsageError, match='no session_meta.json'):
        import_session(tmp_path / 'empty', tmp_path / 'bag')
    write_session(tmp_path / 's', timeline('o a1 o'))
    (tmp_path / 'existing').mkdir()
    (tmp_path / 'existing' / 'keep.txt').write_text('mine')
    with pytest.raises(UsageError, match='already exists'):
        import_session(tmp_path / 's', tmp_path / 'existing')
    assert (tmp_path / 'existing' / 'keep.txt').read_text() == 'mine'


def test_unknown_action_is_named_and_leaves_no_partial_bag(tmp_path):
    write_session(tmp_path / 's', [('obs', T0), ('act', T0 + 0.1, {'action': 7}),
                                   ('obs', T0 + 0.4)])
    with pytest.raises(UsageError, match="'action': 7"):
        import_session(tmp_path / 's', tmp_path / 'bag')
    assert not (tmp_path / 'bag').exists()


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    write_session(tmp_path / 's', timeline('o a1 o a1 o a1 o'), shard_size=3)
    shard = tmp_path / 's' / 'events_shard_000.jsonl'
    shard.write_text('not json\n' + shard.read_text())
    with pytest.raises(UsageError, match='events_shard_000.jsonl:1'):
        import_session(tmp_path / 's', tmp_path / 'bag')
