"""`--config FILE.yaml` for every `devrobot` command that takes config flags.

The file is a ROS 2 parameter YAML, the same the nodes read (`config/sim.yaml`, `jetbot.yaml`,
or a run folder's `config.yaml`). Each node section is checked against every parameter that
node declares (NODE_CONFIGS), then mapped onto the command's flags; the file's values become
the flags' defaults, so flags given on the command line win. A section `devrobot_<command>`
holds the settings of a command that no node has; another command's section is skipped, so one
run's `config.yaml` also serves `devrobot train` and `devrobot eval`.
"""

from __future__ import annotations

import argparse

from devrobot_core.config_fields import field_specs, parameter_keys
from devrobot_core.errors import UsageError
from devrobot_core.parameter_file import (file_defaults, JETBOT_NODE, read_parameter_file,
                                          SIM_NODE, WORLD_MODEL_NODE)

COMMAND_SECTION_PREFIX = 'devrobot_'
ROS_PARAMETERS = {'use_sim_time'}  # every rclpy node declares it; no command uses it


def _sim_configs():
    from devrobot_sim.timed_sim import SimNodeConfig
    from devrobot_sim.toroidal_dot import ToroidalDotConfig
    return (ToroidalDotConfig, SimNodeConfig)


def _jetbot_configs():
    from devrobot_jetbot.jetbot_config import JetBotConfig, JetBotNodeConfig
    return (JetBotConfig, JetBotNodeConfig)


def _world_model_configs():
    from devrobot_world_model.learning.learner import LearnerConfig
    from devrobot_world_model.node.node_config import WorldModelNodeConfig
    from devrobot_world_model.model.world_model import CONFIG_CLASSES
    return (WorldModelNodeConfig, LearnerConfig) + tuple(CONFIG_CLASSES)


# node name -> the config classes whose fields it declares as parameters (imported when needed)
NODE_CONFIGS = {SIM_NODE: _sim_configs, JETBOT_NODE: _jetbot_configs,
                WORLD_MODEL_NODE: _world_model_configs}


def node_parameters(node: str) -> set | None:
    """Every parameter `node` declares; None for a name that is no devrobot node."""
    configs = NODE_CONFIGS.get(node)
    if configs is None:
        return None
    try:
        classes = configs()
    except ImportError as error:
        raise UsageError(f'the {node} section needs a package that is not installed: '
                         f'{error}') from None
    return {spec.name for config_class in classes for spec in field_specs(config_class)} \
        | ROS_PARAMETERS


def command_section(command: str) -> str:
    """The section of a command's own settings: `devrobot_run`, `devrobot_train`, ..."""
    return COMMAND_SECTION_PREFIX + command.replace('-', '_')


def takes_config(parser: argparse.ArgumentParser) -> bool:
    """Whether any flag of `parser` can come from a parameter file."""
    return bool(parameter_keys(parser))


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        '--config', metavar='FILE.yaml',
        help='ROS 2 parameter YAML (node_name: ros__parameters: ...), e.g. '
        "src/devrobot_bringup/config/sim.yaml or a run's config.yaml: each node's parameters "
        'set the flags of the same names; flags given here win. Parameters of a node that '
        'this command does not use are skipped; unknown ones are an error.')


def apply_config_file(parser: argparse.ArgumentParser, argv: list, command: str,
                      commands: tuple, path: str) -> argparse.Namespace:
    """Parse `argv` again with the file's values as defaults; UsageError for a bad file."""
    own = command_section(command)
    others = {command_section(name) for name in commands} - {own}
    sections = {node: parameters for node, parameters in read_parameter_file(path).items()
                if node not in others}
    own_keys = {name for node, name in parameter_keys(parser) if node == own}

    def declared(node):
        return own_keys if node == own else node_parameters(node)
    parser.set_defaults(**file_defaults(parser, sections, declared, source=path))
    return parser.parse_args(argv)


def compact_usage(parser: argparse.ArgumentParser) -> str:
    """The usage line with the command's own options only; the grouped flags as [options]."""
    formatter = parser.formatter_class(prog=parser.prog)
    own = parser._positionals._group_actions + parser._optionals._group_actions
    formatter.add_usage(None, own, [], prefix='')
    return formatter.format_help().strip() + ' [options]'
