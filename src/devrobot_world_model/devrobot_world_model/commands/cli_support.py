"""Command-line flags for the learner and model configs, shared by `train` and `bench`."""

from __future__ import annotations

import argparse

from devrobot_core.config_fields import add_config_arguments, config_from_arguments
from devrobot_core.errors import UsageError
from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.model.world_model import CONFIG_CLASSES


def add_learning_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per field of LearnerConfig and of every model config."""
    for config_class in (LearnerConfig,) + CONFIG_CLASSES:
        add_config_arguments(parser, config_class, skip=skip)


def learning_configs(args: argparse.Namespace, **learner_overrides) -> tuple:
    """(LearnerConfig, [model configs]) from parsed flags; bad values are a UsageError."""
    try:
        learner = config_from_arguments(LearnerConfig, args, **learner_overrides)
        models = [config_from_arguments(kind, args) for kind in CONFIG_CLASSES]
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return learner, models
