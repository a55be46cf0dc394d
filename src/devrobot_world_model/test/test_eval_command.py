"""`devrobot eval` on a fake loaded model: JSON and table output, and its usage errors."""

import argparse
import json

import numpy as np
import pytest

import devrobot_world_model
from devrobot_core.errors import UsageError
from devrobot_core.motor import MotorCommand, Transition
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.commands import eval_command
from devrobot_world_model.learning.learner import Learner, LearnerConfig
from tiny_models import tiny_configs

SMALL_FLAGS = ['--states', '16', '--image-size', '64', '--dot-radius', '3',
               '--move-pixels', '9', '--horizons', '1', '3']


class OracleModel:
    """What `load()` returns, knowing the world exactly: a move is a roll of 9 px."""

    def __init__(self, action_space=None, image_size=None):
        self.action_space = action_space or [MotorCommand(0.0, 0.0, 0.2),
                                             MotorCommand(0.0, 0.12, 0.2)]
        self.image_size = image_size
        self.loaded_from = None

    def predict(self, frames, commands):
        moves = np.array([c.right > 0 for c in commands])[:, None, None, None]
        return np.where(moves, np.roll(frames, 9, axis=2), frames)


def parse(argv):
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A checkpoint folder that the fake `load` turns into an OracleModel."""
    folder = tmp_path / 'checkpoints'
    folder.mkdir()
    models = {}

    def load(path, device='cpu'):
        models[str(path)] = model = models.get('next', OracleModel())
        model.loaded_from, model.device = path, device
        return model

    monkeypatch.setattr(devrobot_world_model, 'load', load, raising=False)
    return folder, models


def test_json_output_scores_the_model_beside_both_baselines(checkpoint, capsys):
    folder, _ = checkpoint
    assert eval_command.main(parse(['--checkpoint', str(folder), '--json'] + SMALL_FLAGS)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['model']['per_action']['move']['r2'] == pytest.approx(1.0)
    assert result['model']['action_discrimination'] == 1.0
    assert result['baselines']['copy']['per_action']['stay']['r2'] == pytest.approx(1.0)
    assert result['baselines']['copy']['per_action']['move']['r2'] < -0.9
    assert set(result['model']['open_loop']) == {'horizon_1', 'horizon_3'}
    assert result['protocol']['sim']['move_pixels'] == 9


def test_table_output_names_every_column(checkpoint, capsys):
    folder, _ = checkpoint
    eval_command.main(parse(['--checkpoint', str(folder)] + SMALL_FLAGS))
    table = capsys.readouterr().out
    assert 'action-blind' in table and 'move: R²' in table
    assert 'action discrimination' in table and 'open loop 3 steps' in table
    model, copy, blind = next(line for line in table.splitlines()
                              if line.startswith('move: R²')).split()[2:]
    assert model == '1.000' and float(copy) < -0.9 and 0.3 < float(blind) < 0.7


def test_image_size_defaults_to_the_models(checkpoint, capsys):
    folder, models = checkpoint
    models['next'] = OracleModel(image_size=64)
    flags = ['--states', '4', '--dot-radius', '3', '--move-pixels', '9', '--horizons', '1']
    eval_command.main(parse(['--checkpoint', str(folder), '--json'] + flags))
    assert json.loads(capsys.readouterr().out)['protocol']['sim']['image_size'] == 64


def test_missing_checkpoint_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match='no checkpoint at'):
        eval_command.main(parse(['--checkpoint', str(tmp_path / 'missing')]))


def test_missing_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    cli = pytest.importorskip('devrobot_bringup.cli')
    assert cli.main(['eval', '--checkpoint', str(tmp_path / 'missing')]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith('devrobot eval: error: no checkpoint at') and '\n' not in error


def test_unreadable_checkpoint_is_a_usage_error(checkpoint, monkeypatch):
    folder, _ = checkpoint

    def broken(path, device='cpu'):
        raise ValueError('not a checkpoint')

    monkeypatch.setattr(devrobot_world_model, 'load', broken)
    with pytest.raises(UsageError, match='cannot load the checkpoint.*not a checkpoint'):
        eval_command.main(parse(['--checkpoint', str(folder)] + SMALL_FLAGS))


def test_model_without_the_sim_commands_is_a_usage_error(checkpoint):
    folder, models = checkpoint
    models['next'] = OracleModel(action_space=[MotorCommand(0.0, 0.0, 0.2)])
    with pytest.raises(UsageError, match='not trained on the simulator command'):
        eval_command.main(parse(['--checkpoint', str(folder)] + SMALL_FLAGS))


def test_wrong_image_size_is_a_usage_error(checkpoint):
    folder, models = checkpoint

    class Shrinking(OracleModel):
        def predict(self, frames, commands):
            return frames[:, ::2, ::2]

    models['next'] = Shrinking()
    with pytest.raises(UsageError, match='image-size'):
        eval_command.main(parse(['--checkpoint', str(folder)] + SMALL_FLAGS))


def test_image_size_other_than_the_models_is_a_usage_error(checkpoint):
    folder, models = checkpoint
    models['next'] = OracleModel(image_size=32)
    with pytest.raises(UsageError, match='trained on 32x32 images, not --sim.image-size 64'):
        eval_command.main(parse(['--checkpoint', str(folder)] + SMALL_FLAGS))


def test_a_real_tiny_checkpoint_is_scored_and_a_corrupt_one_refused(tmp_path, capsys):
    from devrobot_sim.toroidal_dot import ToroidalDotConfig
    from tiny_models import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / 'checkpoints',
                          ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    flags = ['--states', '4', '--dot-radius', '1', '--move-pixels', '3', '--horizons', '2']
    folder = tmp_path / 'checkpoints'
    assert eval_command.main(parse(['--checkpoint', str(folder), '--json'] + flags)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['protocol']['sim']['image_size'] == 16
    assert set(result['model']['per_action']) == {'stay', 'move'}
    (folder / 'checkpoint.pt').write_bytes(b'truncated')
    with pytest.raises(UsageError, match='no usable checkpoint'):
        eval_command.main(parse(['--checkpoint', str(folder)] + flags))


def test_the_device_goes_to_load(checkpoint, capsys):
    folder, models = checkpoint
    assert eval_command.main(parse(['--checkpoint', str(folder), '--device', 'cpu']
                                   + SMALL_FLAGS)) == 0
    assert models[str(folder)].device == 'cpu'


def test_an_unknown_device_is_a_usage_error(tmp_path):
    robot = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    learner = Learner(robot.action_space, LearnerConfig(image_size=16), tiny_configs(),
                      checkpoint_dir=tmp_path / 'checkpoints')
    frame = robot.read()  # a learner that has seen no frame saves nothing
    learner.observe(Transition(frame, robot.send(robot.action_space[0]), robot.read()))
    learner.close()
    with pytest.raises(UsageError, match="cannot load the checkpoint.*device 'tpu'"):
        eval_command.main(parse(['--checkpoint', str(tmp_path / 'checkpoints'), '--device',
                                 'tpu'] + SMALL_FLAGS))


def test_horizons_are_scored_direct_composed_and_rolled_out(tmp_path, capsys):
    from devrobot_world_model.learning.hierarchy import HierarchyConfig
    robot = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    configs = tiny_configs(hierarchy_levels=3) + [HierarchyConfig(level_codes=4)]
    learner = Learner(robot.action_space, LearnerConfig(checkpoint_every=0, image_size=16),
                      configs, checkpoint_dir=tmp_path / 'checkpoints')
    learner.model.level_created_at[1] = 7  # level 1 (2 steps) exists, level 2 not yet
    frame = robot.read()  # a learner that has seen no frame saves nothing
    learner.observe(Transition(frame, robot.send(robot.action_space[0]), robot.read()))
    learner.close()
    flags = ['--states', '4', '--dot-radius', '1', '--move-pixels', '3', '--horizons', '1',
             '--level-horizons', '1', '2', '3', '4']
    folder = str(tmp_path / 'checkpoints')
    assert eval_command.main(parse(['--checkpoint', folder, '--json'] + flags)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result['levels']['created_at_step'] == [0, 7, -1]
    assert set(result['levels']['codes']) == {'level_1'}  # the created levels' codes
    horizons = result['horizons']
    assert set(horizons) == {'horizon_1', 'horizon_2', 'horizon_3', 'horizon_4'}
    assert horizons['horizon_2']['direct']['calls'] == 1
    assert horizons['horizon_4']['direct'] is None  # level 2 not created
    assert horizons['horizon_3']['composed']['calls'] == 2  # 2 + 1
    assert horizons['horizon_4']['composed']['calls'] == 2  # 2 + 2
    assert horizons['horizon_4']['rollout']['calls'] == 4
    assert horizons['horizon_4']['rollout-latent']['calls'] == 4
    assert horizons['horizon_3']['composed-latent']['calls'] == 2
    for key in ('r2', 'position_error_px_median', 'pixel_mse'):
        assert key in horizons['horizon_4']['rollout'] and key in horizons['horizon_4'][
            'rollout-latent']
    assert eval_command.main(parse(['--checkpoint', folder] + flags)) == 0
    table = capsys.readouterr().out
    assert 'levels created at steps: 1 steps: 0, 2 steps: 7, 4 steps: not yet' in table
    assert '4 steps' in table and 'composed-latent' in table and 'NMI' in table
    assert eval_command.main(parse(['--checkpoint', folder, '--json', '--level-horizons']
                                   + flags[:-5])) == 0
    assert 'horizons' not in json.loads(capsys.readouterr().out)
