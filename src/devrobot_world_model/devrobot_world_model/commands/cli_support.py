"""Command-line flags for the learner and model configs, shared by `run`, `train` and `bench`."""

from __future__ import annotations

import argparse

from devrobot_core.config_fields import add_config_arguments, config_from_arguments
from devrobot_core.errors import UsageError
from devrobot_core.motor import MAX_IMAGE_SIDE_PX
from devrobot_world_model.learning.cpu_memory import physical_memory_bytes
from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.learning.replay_buffer import check_replay_fits
from devrobot_world_model.model.model_io import model_spec, nominal_image_size
from devrobot_world_model.model.predictors import history_length
from devrobot_world_model.model.world_model import CONFIG_CLASSES


def add_learning_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per field of LearnerConfig and of every model config."""
    for config_class in (LearnerConfig,) + CONFIG_CLASSES:
        add_config_arguments(parser, config_class, skip=skip)


def learning_configs(args: argparse.Namespace, image_size: int | None = None,
                     n_actions: int = 2, **learner_overrides) -> tuple:
    """(LearnerConfig, [model configs]) from parsed flags; bad values are a UsageError.

    The model they describe is built on torch's meta device (no memory) at `image_size`, or,
    while the frames' size is not known yet, at a nominal size every patch size divides: a flag
    that cannot build a model is refused here, before a bag is opened or a robot moves. With
    `image_size` the replay buffer is also checked to fit in memory.
    """
    try:
        learner = config_from_arguments(LearnerConfig, args, **learner_overrides)
        models = [config_from_arguments(kind, args) for kind in CONFIG_CLASSES]
        check_learning_configs(learner, models, image_size, n_actions)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return learner, models


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
