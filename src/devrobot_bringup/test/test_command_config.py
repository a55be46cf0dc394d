"""Grouped flags, `--config FILE.yaml` and the saved `config.yaml` of the devrobot commands."""

from pathlib import Path

import pytest
import yaml

from devrobot_core.testing import rclpy_double

from devrobot_bringup.cli import command_parser_for, main, SUBCOMMANDS
from devrobot_bringup.command_config import (apply_config_file, NODE_CONFIGS,
                                             node_parameters)
from devrobot_core.config_fields import config_from_arguments
from devrobot_core.parameter_file import read_parameter_file
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.commands.cli_support import learning_configs

CONFIG = Path(__file__).resolve().parents[1] / 'config'
TINY_SIM = ['--sim.image-size', '16', '--sim.dot-radius', '1', '--sim.move-pixels', '3']
TINY_MODEL = ['--cnn.patch-size', '4', '--cnn.channels', '8', '--cnn.encoder-blocks', '1',
              '--cnn.decoder-blocks', '1', '--transformer.dim', '8', '--transformer.depth', '1',
              '--transformer.heads', '2', '--learner.batch-size', '2',
              '--learner.warmup-transitions', '2', '--learner.augment-shift-px', '2']
# the same flags by their flat names, as scripts written before the groups spell them
FLAT_MODEL = ['--cnn-patch-size', '4', '--cnn-channels', '8', '--cnn-encoder-blocks', '1',
              '--cnn-decoder-blocks', '1', '--tf-dim', '8', '--tf-depth', '1', '--tf-heads', '2',
              '--batch-size', '2', '--warmup-transitions', '2', '--augment-shift-px', '2']


def parse(name, argv):
    return command_parser_for(name)[1].parse_args(argv)


def parse_with_file(name, argv, path):
    _, parser = command_parser_for(name)
    return apply_config_file(parser, argv, name, tuple(SUBCOMMANDS), str(path))


def help_text(name, capsys):
    with pytest.raises(SystemExit) as stop:
        main([name, '--help'])
    assert stop.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize('name, groups', [
    ('run', ['RunConfig:', 'sim (ToroidalDotConfig):', 'recording (SessionStorageConfig):',
             'jetbot (JetBotConfig):', 'learner (LearnerConfig):', 'model (WorldModelConfig):',
             'cnn (CnnAutoencoderConfig):', 'vit (VitAutoencoderConfig):',
             'transformer (TransformerPredictorConfig):', 'lstm (LstmPredictorConfig):']),
    ('train', ['plateau (PlateauConfig):', 'learner (LearnerConfig):', 'cnn (']),
    ('eval', ['sim (ToroidalDotConfig):']),
    ('bench', ['sim (ToroidalDotConfig):', 'learner (LearnerConfig):', 'lstm (']),
    ('live-view', ['jetbot (JetBotConfig):']),
])
def test_help_lists_flags_by_component(capsys, name, groups):
    text = help_text(name, capsys)
    for group in groups:
        assert f'\n{group}' in text, group
    assert '--config FILE.yaml' in text
    usage = text[:text.index('\n\n')]
    assert usage.count('\n') < 4 and '[options]' in usage  # not one item per flag
    if name in ('run', 'train', 'bench'):
        assert '--cnn.channels N' in text and '--learner.batch-size N' in text
        assert '--cnn-channels' not in text and '--batch-size' not in text  # hidden aliases


def test_a_command_without_config_flags_takes_no_config(capsys):
    assert '--config' not in help_text('import-session', capsys)


def test_nested_and_flat_names_give_the_same_configs():
    nested = parse('run', ['--learn', '--sim.seed', '3'] + TINY_SIM + TINY_MODEL)
    flat = parse('run', ['--learn', '--seed', '3', '--image-size', '16', '--dot-radius', '1',
                         '--move-pixels', '3'] + FLAT_MODEL)
    assert learning_configs(nested) == learning_configs(flat)
    assert config_from_arguments(ToroidalDotConfig, nested) == \
        config_from_arguments(ToroidalDotConfig, flat) == \
        ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3, seed=3)
    learner, models = learning_configs(nested)
    assert learner.batch_size == 2 and models[1].cnn_channels == 8 and models[3].tf_dim == 8


def test_the_bringup_files_configure_the_commands():
    args = parse_with_file('run', [], CONFIG / 'sim.yaml')
    assert (args.image_size, args.move_pixels, args.policy) == (224, 27, 'uncertainty')
    assert (args.autoencoder, args.cnn_circular_padding) == ('cnn', True)
    # sim.yaml leaves the replay ratio unset (the node would warn): the run's default applies
    assert learning_configs(args)[0].updates_per_step == 1.0
    jetbot = parse_with_file('run', ['--robot', 'jetbot'], CONFIG / 'jetbot.yaml')
    assert (jetbot.max_speed, jetbot.ramp_steps, jetbot.augment_wrap) == (0.5, 4, False)
    assert jetbot.action_space == [0.0, 0.0, 0.2, 0.0, 0.12, 0.2]
    required = {'train': ['--bag', 'b', '--out', 'o'], 'eval': ['--checkpoint', 'c'],
                'bench': []}
    for name, argv in required.items():
        args = parse_with_file(name, argv, CONFIG / 'sim.yaml')
        assert name == 'train' or args.image_size == 224
        assert name == 'eval' or args.autoencoder == 'cnn'


def test_flags_on_the_command_line_beat_the_file(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('sim_node:\n  ros__parameters:\n    image_size: 32\n    dot_radius: 2\n'
                    'world_model:\n  ros__parameters:\n    batch_size: 8\n    tf_dim: 16\n'
                    'devrobot_run:\n  ros__parameters:\n    steps: 7\n    learn: true\n')
    args = parse_with_file('run', ['--sim.image-size', '16', '--batch-size', '4',
                                   '--no-learn'], path)
    assert (args.image_size, args.dot_radius) == (16, 2)
    assert (args.batch_size, args.tf_dim) == (4, 16)
    assert (args.steps, args.learn) == (7, False)


def test_an_unknown_key_is_one_line_and_exit_status_2(tmp_path, capsys):
    path = tmp_path / 'params.yaml'
    path.write_text('world_model:\n  ros__parameters:\n    batchsize: 8\n')
    assert main(['run', '--config', str(path), '--out', str(tmp_path / 'run')]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"devrobot run: error: {path}: world_model has no parameter "
                            "'batchsize'; did you mean 'batch_size'?\n")
    assert not (tmp_path / 'run').exists()


def test_a_value_of_the_wrong_type_is_one_line_and_exit_status_2(tmp_path, capsys):
    path = tmp_path / 'params.yaml'
    path.write_text('devrobot_run:\n  ros__parameters:\n    steps: ten\n')
    assert main(['run', '--config', str(path)]) == 2
    assert capsys.readouterr().err.count('\n') == 1


def test_another_commands_section_is_skipped(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('devrobot_train:\n  ros__parameters:\n    epochs: 3\n'
                    'devrobot_run:\n  ros__parameters:\n    steps: 7\n')
    assert parse_with_file('run', [], path).steps == 7
    assert parse_with_file('train', ['--out', 'o'], path).epochs == 3


def saved(folder):
    return read_parameter_file(folder / 'config.yaml')


def test_a_learning_run_saves_its_configuration_and_the_file_repeats_it(tmp_path, capsys):
    first = tmp_path / 'first'
    argv = ['run', '--learn', '--steps', '4', '--eval-states', '4', '--no-progress',
            '--sim.seed', '2'] + TINY_SIM + TINY_MODEL
    assert main(argv + ['--out', str(first)]) == 0
    assert f'configuration: {first / "config.yaml"}' in capsys.readouterr().out
    sections = saved(first)
    assert set(sections) == {'devrobot_run', 'sim_node', 'world_model'}
    assert sections['sim_node']['image_size'] == 16 and sections['sim_node']['seed'] == 2
    assert sections['world_model']['seed'] == 2  # one seed for the world and the learner
    assert sections['world_model']['cnn_channels'] == 8
    assert sections['world_model']['policy'] == sections['devrobot_run']['policy'] == \
        'uncertainty'
    assert 'out' not in sections['devrobot_run']
    for node in ('sim_node', 'world_model'):  # what a node would be given, it declares
        assert set(sections[node]) <= node_parameters(node)

    second = tmp_path / 'second'
    assert main(['run', '--config', str(first / 'config.yaml'), '--out', str(second)]) == 0
    assert saved(second) == sections
    capsys.readouterr()
    assert main(['eval', '--config', str(first / 'config.yaml'), '--checkpoint',
                 str(second / 'checkpoints'), '--states', '2', '--horizons', '1',
                 '--json']) == 0  # the run's image size fits its checkpoint
    assert '"image_size": 16' in capsys.readouterr().out

    assert main(['run', '--config', str(first / 'config.yaml'), '--out', str(second),
                 '--steps', '2']) == 0  # resumed with another setting: both kept
    assert saved(second)['devrobot_run']['steps'] == 2
    assert read_parameter_file(second / 'config.1.yaml') == sections


def test_train_saves_its_configuration_and_the_file_repeats_it(tmp_path, capsys):
    recorded = tmp_path / 'recorded'
    assert main(['run', '--steps', '6', '--no-progress', '--out', str(recorded)] +
                TINY_SIM) == 0
    bag = next((recorded / 'bags').iterdir())
    first, second = tmp_path / 'first', tmp_path / 'second'
    assert main(['train', '--bag', str(bag), '--out', str(first), '--epochs', '2',
                 '--json'] + TINY_MODEL) == 0
    sections = saved(first)
    assert sections['devrobot_train'] == {
        'bag': [str(bag.resolve())], 'epochs': 2, 'filter_action': '', 'until_plateau': False,
        'patience': 5, 'min_delta': 1e-4, 'min_epochs': 3, 'max_epochs': 100}
    assert sections['world_model']['batch_size'] == 2
    assert set(sections['world_model']) <= node_parameters('world_model')
    assert main(['train', '--config', str(first / 'config.yaml'), '--out', str(second),
                 '--json']) == 0
    assert saved(second) == sections
    assert '"transitions": 12' in capsys.readouterr().out.splitlines()[-1]  # 2 epochs of 6


def test_train_without_bags_is_a_usage_error(tmp_path, capsys):
    assert main(['train', '--out', str(tmp_path / 'run')]) == 2
    assert '--bag is required' in capsys.readouterr().err


class _NoLearner:
    def select(self, pixels):
        return 0, {}


def start_shell(monkeypatch, node_name, params_file=None):
    """A node shell started in the rclpy double (with `params_file` loaded, when given)."""
    ros = rclpy_double.install(monkeypatch)
    if params_file is not None:
        ros.load_params_file(params_file)
    shells = {'sim_node': ('devrobot_sim.sim_node', 'SimNode'),
              'world_model': ('devrobot_world_model.node.world_model_node', 'WorldModelNode'),
              'jetbot_node': ('devrobot_jetbot.jetbot_node', 'JetBotNode')}
    module_name, class_name = shells[node_name]
    module = rclpy_double.import_fresh(monkeypatch, module_name)
    if hasattr(module, 'build_policy'):
        monkeypatch.setattr(module, 'build_policy', lambda *configs: _NoLearner())
    import rclpy
    rclpy.init()
    if node_name == 'jetbot_node':
        ros.overrides.setdefault('jetbot_node', {})['backend'] = 'mock'
    return getattr(module, class_name)()


def declared_by_shell(monkeypatch, node_name):
    """The parameter names a node shell declares."""
    node = start_shell(monkeypatch, node_name)
    try:
        return set(node._parameters.values)
    finally:
        if hasattr(node, 'close'):
            node.close()


@pytest.mark.parametrize('node_name', sorted(NODE_CONFIGS))
def test_the_node_table_matches_what_each_node_declares(monkeypatch, node_name):
    assert node_parameters(node_name) == declared_by_shell(monkeypatch, node_name)


def test_every_key_of_the_bringup_files_is_a_node_parameter():
    for path in CONFIG.glob('*.yaml'):
        document = yaml.safe_load(path.read_text())
        for node, parameters in read_parameter_file(path).items():
            assert parameters == document[node]['ros__parameters']
            assert set(parameters) <= node_parameters(node), (path.name, node)


def test_a_saved_configuration_starts_the_nodes(tmp_path, monkeypatch):
    from devrobot_bringup import run_command
    from devrobot_core.parameter_file import save_run_config
    from devrobot_sim.sim_robot import SimRobot
    args = parse('run', ['--learn', '--learner.lr-floor', '1', '--model.latent-weight', '0'] +
                 TINY_SIM + TINY_MODEL)
    config = config_from_arguments(run_command.RunConfig, args)
    robot = SimRobot(config_from_arguments(ToroidalDotConfig, args))
    sections = run_command.resolved_sections(config, robot, run_command.storage_config(args),
                                             run_command.learning_setup(config, robot, args))
    path = save_run_config(tmp_path, sections)
    for node_name in ('sim_node', 'world_model'):
        node = start_shell(monkeypatch, node_name, path)  # a wrong type would raise here
        for name, value in sections[node_name].items():
            assert node.get_parameter(name).value == value, (node_name, name)
    assert sections['world_model']['lr_floor'] == 1.0  # given as 1, written as a float
