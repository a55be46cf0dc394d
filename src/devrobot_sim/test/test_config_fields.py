"""Config dataclasses as CLI flags and as ROS-parameter lookups."""

import argparse
from dataclasses import dataclass

import pytest

from devrobot_core.config_fields import (add_config_arguments, config_from_arguments,
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
    add_config_arguments(parser, Example)
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
    add_config_arguments(parser, ToroidalDotConfig)
    with pytest.raises(ValueError):
        config_from_arguments(ToroidalDotConfig, parser.parse_args(['--dot-radius', '500']))
