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
from devrobot_core.motor import MAX_IMAGE_SIDE_PX
from devrobot_core.parameter_file import WORLD_MODEL_NODE
from devrobot_world_model.learning.cpu_memory import physical_memory_bytes
from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.learning.replay_buffer import check_replay_fits
from devrobot_world_model.model.model_io import model_spec, nominal_image_size
from devrobot_world_model.model.predictors import history_length
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


def learning_configs(args: argparse.Namespace, image_size: int | None = None,
                     n_actions: int = 2, **learner_overrides) -> tuple:
    """(LearnerConfig, [model configs]) from parsed flags; bad values are a UsageError.

    The model they describe is built on torch's meta device (no memory) at `image_size`, or,
    while the frames' size is not known yet, at a nominal size every patch size divides: a flag
    that cannot build a model is refused here, before a bag is opened or a robot moves. With
    `image_size` the replay buffer is also checked to fit in memory, and the learner is set to
    build its model for frames of that size.
    """
    if image_size is not None:
        learner_overrides['image_size'] = image_size
    try:
        learner = config_from_arguments(LearnerConfig, args, **learner_overrides)
        models = [config_from_arguments(kind, args) for kind in CONFIG_CLASSES]
        check_learning_configs(learner, models, image_size, n_actions)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return learner, models


def learning_parameters(learner_config, model_configs) -> dict:
    """The world_model node's parameters these configs give, for a saved configuration."""
    values = parameter_values(learner_config)
    for config in model_configs:
        values.update(parameter_values(config))
    return values


def check_learning_configs(learner: LearnerConfig, models: list, image_size: int | None,
                           n_actions: int) -> None:
    """Raise ValueError (ModelSettingsError) when these configs cannot learn from such frames.

    With `image_size`: frames within MAX_IMAGE_SIDE_PX, and the replay buffer and one
    minibatch (uint8 frames and their float copies) within this machine's memory.
    """
    if image_size is not None and not 1 <= image_size <= MAX_IMAGE_SIDE_PX:
        raise ValueError(f'frames of {image_size} px: the world model takes frames of at most '
                         f'{MAX_IMAGE_SIDE_PX} px (it is sized for 224)')
    spec = model_spec(image_size or nominal_image_size(models), n_actions, models)
    if not image_size:
        return
    check_replay_fits(learner.replay_capacity, (image_size, image_size, 3))
    history = history_length(spec.model.predictor, spec.parts[spec.model.predictor])
    frame_bytes = 3 * image_size * image_size * (1 + 4)  # uint8, then float32 on the device
    needed = learner.batch_size * (history + 1) * frame_bytes
    available = physical_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(f'a minibatch of {learner.batch_size} transitions of {image_size} px '
                         f'frames needs {needed / 2**30:.1f} GiB, more than the '
                         f'{available / 2**30:.1f} GiB of memory here; lower batch_size')
