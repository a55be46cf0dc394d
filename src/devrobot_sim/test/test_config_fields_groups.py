"""Config dataclasses as grouped flags: `--SECTION.NAME`, flat hidden aliases, file keys."""

import argparse
from dataclasses import dataclass

import pytest

from devrobot_core.config_fields import (add_config_group, config_from_arguments, nested_flag,
                                         parameter_keys, parameter_values, ParameterKey,
                                         register_options, setting)
from devrobot_sim.toroidal_dot import ToroidalDotConfig


@dataclass
class Part:
    """A part whose fields share the prefix its flags drop."""

    part_rate_hz: float = setting(2.0, 'A rate.')
    part_count: int = setting(3, 'A count.')
    part_enabled: bool = setting(False, 'A switch.')
    part_speeds: list[float] = setting([0.0, 0.12], 'A list.')


def parser_with_part(**options):
    parser = argparse.ArgumentParser(prog='x')
    add_config_group(parser, Part, 'part', 'part_node', strip='part_', **options)
    return parser


def parse(argv):
    return config_from_arguments(Part, parser_with_part().parse_args(argv))


def test_nested_flag_names():
    assert nested_flag('cnn', 'cnn_channels', 'cnn_') == '--cnn.channels'
    assert nested_flag('sim', 'dot_radius') == '--sim.dot-radius'
    assert nested_flag('', 'steps') == '--steps'
    assert nested_flag('recording', 'disk_check_interval_s', 'recording_') == \
        '--recording.disk-check-interval-s'


def test_nested_and_flat_names_give_the_same_config():
    nested = parse(['--part.rate-hz', '5', '--part.count', '4', '--part.enabled',
                    '--part.speeds', '1', '2'])
    flat = parse(['--part-rate-hz', '5', '--part-count', '4', '--part-enabled',
                  '--part-speeds', '1', '2'])
    assert nested == flat == Part(5.0, 4, True, [1.0, 2.0])
    assert parse(['--no-part.enabled']).part_enabled is False
    assert parse(['--no-part-enabled']).part_enabled is False
    assert parse([]) == Part()


def test_help_shows_the_group_and_nested_flags_only():
    text = parser_with_part().format_help()
    assert 'part (Part):' in text and 'A part whose fields share the prefix' in text
    assert '--part.rate-hz X' in text and '--part.count N' in text
    assert '--part.speeds X [X ...]' in text and '--part.enabled, --no-part.enabled' in text
    assert '--part-rate-hz' not in text and '--part-count' not in text


def test_every_field_is_a_parameter_key_of_its_node():
    keys = parameter_keys(parser_with_part())
    assert keys[('part_node', 'part_rate_hz')] == ParameterKey('part_rate_hz', float, None)
    assert keys[('part_node', 'part_speeds')] == ParameterKey('part_speeds', list, float)
    assert len(keys) == 4


def test_skipped_fields_get_no_flag_and_no_key():
    parser = parser_with_part(skip=('part_count',))
    with pytest.raises(SystemExit):
        parser.parse_args(['--part.count', '1'])
    assert ('part_node', 'part_count') not in parameter_keys(parser)


def test_shared_fields_get_no_flag_but_their_key_sets_the_other_flag():
    parser = argparse.ArgumentParser()
    parser.add_argument('--part-count', dest='part_count', type=int)
    add_config_group(parser, Part, 'part', 'part_node', strip='part_', shared=('part_count',))
    assert parameter_keys(parser)[('part_node', 'part_count')].dest == 'part_count'
    assert '--part.count' not in parser.format_help()


def test_a_group_without_section_keeps_plain_flags():
    parser = argparse.ArgumentParser()
    add_config_group(parser, ToroidalDotConfig)
    config = config_from_arguments(ToroidalDotConfig, parser.parse_args(['--image-size', '32']))
    assert config.image_size == 32 and not parameter_keys(parser)


def test_register_options_takes_the_kind_from_the_option():
    parser = argparse.ArgumentParser()
    parser.add_argument('--bag', nargs='+')
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--until', action='store_true')
    parser.add_argument('--horizons', type=int, nargs='+')
    register_options(parser, 'cmd', ('bag', 'epochs', 'until', 'horizons'))
    keys = parameter_keys(parser)
    assert keys[('cmd', 'bag')] == ParameterKey('bag', list, str)
    assert keys[('cmd', 'epochs')] == ParameterKey('epochs', int, None)
    assert keys[('cmd', 'until')] == ParameterKey('until', bool, None)
    assert keys[('cmd', 'horizons')] == ParameterKey('horizons', list, int)


def test_parameter_values_keep_floats_floats():
    @dataclass
    class Loose:
        """A float field given an int default, as a config might be."""

        limit_gb: float = setting(10, 'A limit.')
        values: list[float] = setting([0, 1], 'A list.')
        name: str = setting('x', 'A name.')

    values = parameter_values(Loose(), skip=('name',))
    assert values == {'limit_gb': 10.0, 'values': [0.0, 1.0]}
    assert isinstance(values['limit_gb'], float)
    assert all(isinstance(v, float) for v in values['values'])
