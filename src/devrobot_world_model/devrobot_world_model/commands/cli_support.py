"""Command-line flags for the learner and model configs, shared by `run`, `train` and `bench`.

One group per config class, named as the part it configures: `--learner.batch-size`,
`--model.autoencoder`, `--cnn.channels`, `--vit.dim`, `--transformer.depth`, `--lstm.hidden`
(the flat field names, `--batch-size`, `--cnn-channels`, stay as hidden aliases). In a parameter
file they are the parameters of the `world_model` node.
"""

from __future__ import annotations

import argparse

from devrobot_core.config_fields import (add_config_group, config_from_arguments, field_specs,
                                         parameter_values)
from devrobot_core.errors import UsageError
from devrobot_core.parameter_file import WORLD_MODEL_NODE
from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.model.world_model import CONFIG_CLASSES, PART_CONFIGS, WorldModelConfig


def learning_sections() -> list:
    """(config class, flag section, field prefix the flags drop) for every learning config."""
    names = {LearnerConfig: 'learner', WorldModelConfig: 'model'}
    names.update({kind: part for part, kind in PART_CONFIGS.items()})
    sections = []
    for config_class in (LearnerConfig,) + tuple(CONFIG_CLASSES):
        section = names.get(config_class) or config_class.__name__.removesuffix('Config').lower()
        sections.append((config_class, section, _common_prefix(config_class)))
    return sections


def _common_prefix(config_class: type) -> str:
    """`cnn_` when every field starts with it (`cnn_channels` -> `--cnn.channels`), else ''."""
    prefixes = {spec.name.partition('_')[0] + '_' for spec in field_specs(config_class)}
    return prefixes.pop() if len(prefixes) == 1 else ''


def add_learning_arguments(parser: argparse.ArgumentParser, skip: tuple = (),
                           shared: tuple = ()) -> None:
    """One group of flags per learning config; `skip` and `shared` as in add_config_group."""
    for config_class, section, strip in learning_sections():
        add_config_group(parser, config_class, section, WORLD_MODEL_NODE, strip, skip, shared)


def learning_configs(args: argparse.Namespace, **learner_overrides) -> tuple:
    """(LearnerConfig, [model configs]) from parsed flags; bad values are a UsageError."""
    try:
        learner = config_from_arguments(LearnerConfig, args, **learner_overrides)
        models = [config_from_arguments(kind, args) for kind in CONFIG_CLASSES]
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return learner, models


def learning_parameters(learner_config, model_configs) -> dict:
    """The world_model node's parameters these configs give, for a saved configuration."""
    values = parameter_values(learner_config)
    for config in model_configs:
        values.update(parameter_values(config))
    return values
