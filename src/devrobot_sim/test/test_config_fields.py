"""Config dataclasses as CLI flags and as ROS-parameter lookups."""

import argparse
from dataclasses import dataclass

import pytest

from devrobot_core.config_fields import (add_config_group, check_at_least,
                                         config_from_arguments, config_from_dict,
                                         config_from_lookup, field_specs, setting)
from devrobot_sim.toroidal_dot import ToroidalDotConfig


@dataclass
class Example:
    """A config with every supported kind of field."""

    rate_hz: float = setting(2.0, 'A rate.')
    count: int = setting(3, 'A count.')
    name: str = setting('x', 'A name.')
    enabled: bool = setting(False, 'A switch.')
    speeds: list[float] = setting([0.0, 0.12], 'A list.')


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_group(parser, Example)
    return config_from_arguments(Example, parser.parse_args(argv))


def test_unset_flags_keep_defaults():
    assert parse([]) == Example()


def test_flags_set_fields():
    config = parse(['--rate-hz', '5', '--count', '4', '--name', 'y', '--enabled',
                    '--speeds', '1', '2', '3'])
    assert config == Example(5.0, 4, 'y', True, [1.0, 2.0, 3.0])
    assert parse(['--no-enabled']).enabled is False


def test_every_field_has_help():
    for cls in (Example, ToroidalDotConfig):
        assert all(spec.help for spec in field_specs(cls))


def test_lookup_builds_config_and_coerces_numbers():
    values = {'rate_hz': 4, 'speeds': [1, 2]}
    config = config_from_lookup(Example, values.get)
    assert config.rate_hz == 4.0 and isinstance(config.rate_hz, float)
    assert config.speeds == [1.0, 2.0] and config.count == 3


def test_list_defaults_are_not_shared():
    a, b = Example(), Example()
    a.speeds.append(1.0)
    assert b.speeds == [0.0, 0.12]


def test_invalid_values_are_refused_by_the_config():
    parser = argparse.ArgumentParser()
    add_config_group(parser, ToroidalDotConfig)
    with pytest.raises(ValueError):
        config_from_arguments(ToroidalDotConfig, parser.parse_args(['--dot-radius', '500']))


@pytest.mark.parametrize('flag', ['nan', 'inf', '-inf', '1e999', 'NaN'])
def test_non_finite_floats_are_refused_where_the_flag_is_parsed(flag, capsys):
    with pytest.raises(SystemExit) as caught:
        parse([f'--rate-hz={flag}'])  # '=': argparse reads a bare '-inf' as an option
    assert caught.value.code == 2
    assert f"argument --rate-hz: {flag!r} is not a finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(['--speeds', '0.1', flag.replace('-inf', '1e999')])


def test_lookups_refuse_non_finite_floats_and_values_of_another_kind():
    with pytest.raises(ValueError, match='rate_hz must be a finite number, got nan'):
        config_from_lookup(Example, {'rate_hz': float('nan')}.get)
    with pytest.raises(ValueError, match='speeds must be a finite number, got inf'):
        config_from_lookup(Example, {'speeds': [0.0, float('inf')]}.get)
    with pytest.raises(ValueError, match="rate_hz: 'fast' is not a float"):
        config_from_lookup(Example, {'rate_hz': 'fast'}.get)
    with pytest.raises(ValueError, match='duration_s must be a finite number'):
        config_from_arguments(ToroidalDotConfig, argparse.Namespace(), duration_s=float('inf'))


def test_stored_dicts_are_checked_key_by_key_and_type_by_type():
    assert config_from_dict(Example, {'rate_hz': 3, 'speeds': [1, 2.5]}) == \
        Example(3, speeds=[1, 2.5])
    for data, message in [([1], 'expected a dict'),
                          ({'bogus': 1}, "unknown setting 'bogus'"),
                          ({'count': '3'}, 'Example.count: expected int'),
                          ({'count': True}, 'Example.count: expected int'),
                          ({'enabled': 1}, 'Example.enabled: expected bool'),
                          ({'speeds': 0.5}, 'Example.speeds: expected list'),
                          ({'speeds': ['a']}, 'Example.speeds: expected list'),
                          ({'rate_hz': float('nan')}, 'rate_hz must be a finite number')]:
        with pytest.raises(ValueError, match=message):
            config_from_dict(Example, data)


def test_check_at_least_names_the_first_field_below_the_minimum():
    check_at_least(Example(count=1), 1, 'count')
    with pytest.raises(ValueError, match='count must be at least 1, got 0'):
        check_at_least(Example(count=0), 1, 'count')


def test_image_size_is_bounded_with_its_reason():
    with pytest.raises(ValueError, match=r'image_size must be in \[8, 1024\] px, got 100000 '
                       r'\(a frame is image_size² x 3 bytes'):
        ToroidalDotConfig(image_size=100_000)
