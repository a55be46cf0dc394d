"""Building a WorldModel from configs or a checkpoint, and the checkpoint's model part.

A checkpoint stores the model's spec (every config as a plain dict, the image size, the number
of actions) beside its weights, so it is rebuilt from what it was trained with; a model built
from other configs is checked against the stored weights and refused with a clear message.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from devrobot_core.motor import action_space_from_dicts, action_space_to_dicts
from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.model.world_model import ModelSpec, WorldModel

MODEL_FORMAT = 'devrobot_world_model/1'


def model_spec(image_size: int, n_actions: int, configs: Sequence = ()) -> ModelSpec:
    return ModelSpec.create(image_size, n_actions, configs)


def build_model(spec: ModelSpec) -> WorldModel:
    return WorldModel(spec)


def checkpoint_payload(model: WorldModel, optimizer, action_space: Sequence, counters: dict,
                       learner_config: dict) -> dict:
    """The plain-data part of a checkpoint that describes and holds the model."""
    return checkpoint_io.plain_data({
        'kind': MODEL_FORMAT,
        'spec': model.spec.to_dict(),
        'action_space': action_space_to_dicts(action_space),
        'model': checkpoint_io.uncompiled(model).state_dict(),
        'optimizer': optimizer.state_dict(),
        'counters': counters,
        'learner_config': learner_config,
    })


def check_action_space(payload: dict, action_space: Sequence) -> None:
    """Raise CheckpointError when the checkpoint was trained on other commands."""
    stored = action_space_from_dicts(payload['action_space'])
    same = len(stored) == len(action_space) and all(
        a.same_action(b) for a, b in zip(stored, action_space))
    if not same:
        raise checkpoint_io.CheckpointError(
            f'the checkpoint was trained on the action space {action_space_to_dicts(stored)}, '
            f'not {action_space_to_dicts(action_space)}; use another checkpoint folder')


def model_from_payload(payload: dict) -> tuple:
    """(WorldModel with the stored weights, its action space) from a loaded checkpoint."""
    if payload.get('kind') != MODEL_FORMAT:
        raise checkpoint_io.CheckpointError(
            f"not a world-model checkpoint (kind {payload.get('kind')!r})")
    try:
        spec = ModelSpec.from_dict(payload['spec'])
    except (KeyError, TypeError, ValueError) as error:
        raise checkpoint_io.CheckpointError(f'the stored model config is unusable: {error}')
    model = build_model(spec)
    checkpoint_io.load_state_dict_checked(model, payload['model'], 'model')
    model.eval()
    return model, action_space_from_dicts(payload['action_space'])


def describe(spec: ModelSpec) -> dict:
    """A short plain summary for logs and `bench`."""
    return {'autoencoder': spec.model.autoencoder, 'predictor': spec.model.predictor,
            'image_size': spec.image_size, 'n_actions': spec.n_actions,
            'model_config': dataclasses.asdict(spec.model)}
