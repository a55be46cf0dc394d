"""Parameter YAMLs: read, checked against the nodes' parameters, mapped onto flags, written."""

import argparse

import pytest

from devrobot_core.config_fields import add_config_group, config_from_arguments, register_options
from devrobot_core.errors import UsageError
from devrobot_core.parameter_file import (file_defaults, read_parameter_file, save_run_config,
                                          SIM_NODE, write_parameter_file)
from devrobot_sim.toroidal_dot import ToroidalDotConfig

SIM_PARAMETERS = {'image_size', 'dot_radius', 'move_pixels', 'seed', 'move_speed',
                  'duration_s', 'distractor', 'distractor_size', 'idle_rate_hz', 'frame_id'}


def write(tmp_path, text):
    path = tmp_path / 'params.yaml'
    path.write_text(text)
    return path


def sim_parser():
    parser = argparse.ArgumentParser()
    add_config_group(parser, ToroidalDotConfig, 'sim', SIM_NODE)
    return parser


def declared(node):
    return SIM_PARAMETERS if node == SIM_NODE else None


def defaults_from(sections, parser=None):
    return file_defaults(parser or sim_parser(), sections, declared, source='f.yaml')


def test_reads_sections_and_flattens_nested_names(tmp_path):
    path = write(tmp_path, 'sim_node:\n  ros__parameters:\n    image_size: 32\n'
                           '    nested: {a: 1.0}\n')
    assert read_parameter_file(path) == {'sim_node': {'image_size': 32, 'nested.a': 1.0}}


@pytest.mark.parametrize('text, message', [
    ('sim_node: [\n', 'not valid YAML'),
    ('', 'holds no node sections'),
    ('- 1\n', 'holds no node sections'),
    ('sim_node:\n  image_size: 32\n', 'must hold exactly ros__parameters'),
    ('sim_node:\n  ros__parameters: 3\n', 'must hold exactly ros__parameters'),
])
def test_malformed_files_are_one_usage_error(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        read_parameter_file(write(tmp_path, text))


def test_a_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match='cannot read'):
        read_parameter_file(tmp_path / 'missing.yaml')


def test_values_map_onto_flags_and_node_only_parameters_are_skipped():
    values = defaults_from({SIM_NODE: {'image_size': 32, 'move_speed': 0.5,
                                       'idle_rate_hz': 3.0}})
    assert values == {'image_size': 32, 'move_speed': 0.5}


def test_file_values_are_defaults_that_flags_override():
    parser = sim_parser()
    parser.set_defaults(**defaults_from({SIM_NODE: {'image_size': 32, 'dot_radius': 2}},
                                        parser))
    config = config_from_arguments(ToroidalDotConfig,
                                   parser.parse_args(['--sim.dot-radius', '3']))
    assert (config.image_size, config.dot_radius) == (32, 3)


def test_an_unknown_parameter_names_the_node_and_a_close_match():
    with pytest.raises(UsageError, match="f.yaml: sim_node has no parameter 'dot_radus'; "
                                         "did you mean 'dot_radius'"):
        defaults_from({SIM_NODE: {'dot_radus': 2}})


def test_an_unknown_section_is_refused():
    with pytest.raises(UsageError, match="unknown section 'simnode'"):
        defaults_from({'simnode': {'image_size': 32}})


@pytest.mark.parametrize('name, value, message', [
    ('move_speed', 1, 'integer where a float is expected; write 1.0'),
    ('move_speed', 'fast', 'must be a float'),
    ('move_speed', float('nan'), 'finite'),
    ('image_size', 3.0, 'must be an integer'),
    ('image_size', True, 'must be an integer'),
    ('distractor', 'yes', 'must be true or false'),
])
def test_values_of_the_wrong_type_are_refused(name, value, message):
    with pytest.raises(UsageError, match=f'sim_node.{name}.*{message}'):
        defaults_from({SIM_NODE: {name: value}})


def test_an_exponent_float_that_yaml_reads_as_text_is_a_float(tmp_path):
    path = write(tmp_path, 'sim_node:\n  ros__parameters:\n    move_speed: 5e-2\n')
    assert defaults_from(read_parameter_file(path)) == {'move_speed': 0.05}


def test_list_items_are_checked():
    parser = argparse.ArgumentParser()
    parser.add_argument('--speeds', dest='speeds', nargs='+', type=float)
    register_options(parser, SIM_NODE, ('speeds',))

    def speeds(value):
        return file_defaults(parser, {SIM_NODE: {'speeds': value}}, lambda node: {'speeds'})
    assert speeds([0.0, 0.5]) == {'speeds': [0.0, 0.5]}
    with pytest.raises(UsageError, match='integer where a float'):
        speeds([0.0, 1])
    with pytest.raises(UsageError, match='non-empty list'):
        speeds(0.5)


def test_two_sections_that_set_one_flag_must_agree():
    parser = sim_parser()
    add_config_group(parser, ToroidalDotConfig, 'other', 'other_node', shared=('seed',),
                     skip=tuple(n for n in SIM_PARAMETERS if n != 'seed'))

    def declared_both(node):
        return SIM_PARAMETERS

    same = file_defaults(parser, {SIM_NODE: {'seed': 1}, 'other_node': {'seed': 1}},
                         declared_both)
    assert same == {'seed': 1}
    with pytest.raises(UsageError, match='sim_node.seed and other_node.seed'):
        file_defaults(parser, {SIM_NODE: {'seed': 1}, 'other_node': {'seed': 2}},
                      declared_both)


def test_written_file_reads_back_with_floats_as_floats(tmp_path):
    sections = {SIM_NODE: {'image_size': 32, 'move_speed': 1.0, 'duration_s': 1e-5,
                           'frame_id': '', 'distractor': False},
                'world_model': {'action_space': [0.0, 0.0, 0.2]}}
    path = write_parameter_file(tmp_path / 'config.yaml', sections, 'a header\nline two')
    text = path.read_text()
    assert text.startswith('# a header\n# line two\n')
    assert 'move_speed: 1.0\n' in text and 'action_space: [0.0, 0.0, 0.2]' in text
    assert read_parameter_file(path) == sections
    assert not list(tmp_path.glob('*.tmp'))


def test_save_run_config_keeps_an_earlier_different_one(tmp_path):
    first = {SIM_NODE: {'image_size': 32}}
    second = {SIM_NODE: {'image_size': 64}}
    save_run_config(tmp_path, first)
    save_run_config(tmp_path, first)  # the same settings: nothing to keep
    assert sorted(p.name for p in tmp_path.iterdir()) == ['config.yaml']
    save_run_config(tmp_path, second)
    save_run_config(tmp_path, first)
    assert read_parameter_file(tmp_path / 'config.yaml') == first
    assert read_parameter_file(tmp_path / 'config.1.yaml') == first
    assert read_parameter_file(tmp_path / 'config.2.yaml') == second
