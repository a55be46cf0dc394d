"""Building a WorldModel from configs or a checkpoint, and the checkpoint's model part.

A checkpoint stores the model's spec (every config as a plain dict, the image size, the number
of actions) beside its weights, so it is rebuilt from what it was trained with; a model built
from other configs is checked against the stored weights and refused with a clear message.

Configs are checked before anything is allocated: `check_model_spec` builds the model on torch's
`meta` device (shapes, no memory), so a bad flag is refused when the command line is parsed, and
a checkpoint's spec and weights are checked against each other before a real model is built.
What a learner's checkpoint holds beside the model is checked in `learner_checkpoint`.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch

from devrobot_core.errors import UsageError
from devrobot_core.motor import action_space_from_dicts, action_space_to_dicts
from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.learning.cpu_memory import physical_memory_bytes
from devrobot_world_model.learning.training import make_optimizer
from devrobot_world_model.model.world_model import ModelSpec, WorldModel

MODEL_FORMAT = 'devrobot_world_model/1'
# Bytes per parameter while training: fp32 weights, gradients and AdamW's two moments.
TRAINING_BYTES_PER_PARAMETER = 16
# The image size a model's flags are checked at while the real one is not known yet (a bag's or a
# camera's frames): the default frame size, rounded to the patch sizes given.
NOMINAL_IMAGE_SIZE = 224


class ModelSettingsError(UsageError, ValueError):
    """Model settings that cannot build a model (for this frame size, on this machine).

    A UsageError, so `devrobot` prints it as one line and exits 2, and a ValueError, as every
    other bad config value is.
    """


class FrameSizeError(UsageError, ValueError):
    """A frame of another size than the model was built (or trained) for."""


def model_spec(image_size: int, n_actions: int, configs: Sequence = ()) -> ModelSpec:
    """The spec of `configs` at this image size, checked (ModelSettingsError) before any use."""
    spec = ModelSpec.create(image_size, n_actions, configs)
    check_model_spec(spec)
    return spec


def nominal_image_size(configs: Sequence = ()) -> int:
    """A multiple of the chosen autoencoder's patch size near NOMINAL_IMAGE_SIZE."""
    spec = ModelSpec.create(NOMINAL_IMAGE_SIZE, 1, configs)
    part = spec.parts[spec.model.autoencoder]
    patch = part.cnn_patch_size if spec.model.autoencoder == 'cnn' else part.vit_patch_size
    return max(1, round(NOMINAL_IMAGE_SIZE / patch)) * patch


def check_model_spec(spec: ModelSpec) -> WorldModel:
    """Build the model on the `meta` device (no memory); ModelSettingsError if it cannot be.

    Also refuses a model whose training state (weights, gradients, optimizer moments) would not
    fit in this machine's memory. Returns the meta model (its shapes are what a checkpoint's
    weights are checked against).
    """
    try:
        with torch.device('meta'):
            model = WorldModel(spec)
    except Exception as error:  # noqa: B902 timm asserts, torch raises RuntimeError, we ValueError
        raise ModelSettingsError(f'the model settings cannot build a model for '
                                 f'{spec.image_size} px frames: '
                                 f'{checkpoint_io.first_line(error)}') from None
    parameters = sum(p.numel() for p in model.parameters())
    needed, available = parameters * TRAINING_BYTES_PER_PARAMETER, physical_memory_bytes()
    if available is not None and needed > available:
        raise ModelSettingsError(f'the model settings give {parameters:,} parameters: '
                                 f'{needed / 2**30:.1f} GiB to train, more than the '
                                 f'{available / 2**30:.1f} GiB of memory here')
    return model


def check_frame(pixels, image_size: int) -> None:
    """Raise FrameSizeError unless `pixels` is a uint8 frame `[image_size, image_size, 3]`."""
    shape, dtype = getattr(pixels, 'shape', None), getattr(pixels, 'dtype', None)
    if shape != (image_size, image_size, 3) or dtype != np.uint8:
        raise FrameSizeError(f'a {_describe_frame(shape, dtype)} frame arrived; the model takes '
                             f'uint8 [{image_size}, {image_size}, 3] (rgb8) frames: use frames '
                             'of one size, and a new checkpoint folder for another size')


def _describe_frame(shape, dtype) -> str:
    return f'{dtype} {list(shape)}' if shape is not None else 'non-array'


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
    spec, _ = model_checkpoint(payload)
    model = build_model(spec)
    checkpoint_io.load_state_dict_checked(model, payload['model'], 'model')
    model.eval()
    return model, action_space_from_dicts(payload['action_space'])


# -- what a checkpoint must hold --------------------------------------------------------------

def model_checkpoint(payload) -> tuple:
    """Check the model part of a loaded checkpoint; return (its spec, the meta model).

    Kind, spec, action space and every weight's name, shape and finiteness are checked before
    a real model is built; CheckpointError names the first problem.
    """
    bad = checkpoint_io.CheckpointError
    if not isinstance(payload, dict) or payload.get('kind') != MODEL_FORMAT:
        kind = payload.get('kind') if isinstance(payload, dict) else None
        raise bad(f'not a world-model checkpoint (kind {kind!r})')
    checkpoint_io.check_keys(payload, ('spec', 'action_space', 'model'), 'checkpoint')
    try:
        spec = ModelSpec.from_dict(payload['spec'])
        meta_model = check_model_spec(spec)
    except (TypeError, ValueError) as error:
        raise bad(f'the stored model config is unusable: {error}') from None
    try:
        stored_space = payload['action_space']
        if not isinstance(stored_space, list) or not all(isinstance(d, dict)
                                                         for d in stored_space):
            raise TypeError('not a list of dicts')
        space = action_space_from_dicts(stored_space)
    except (KeyError, TypeError, ValueError) as error:
        raise bad(f'the stored action space is unusable ({error})') from None
    if len(space) != spec.n_actions:
        raise bad(f'the stored action space has {len(space)} commands but the model '
                  f'{spec.n_actions} actions')
    checkpoint_io.check_state_dict(meta_model, payload['model'], 'model')
    for key, tensor in payload['model'].items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise bad(f'model: {key!r} holds NaN or infinite values')
    return spec, meta_model


def learner_checkpoint(payload) -> None:
    """Check everything a Learner's checkpoint holds, before anything is allocated from it.

    The model part (`model_checkpoint`), then the optimizer state against the model's
    parameters, the counters, the replay (dense tensors of one length, no longer than the stored
    replay capacity, frames of the model's size, actions within its action space), the random
    generator states and, where present, the policy's falling shares, the actor's lagging
    weights (state dicts of the model) and the held-back transitions of learning progress.
    CheckpointError names the first problem; `load_checkpoint(check=...)` then tries the backup.
    """
    spec, meta_model = model_checkpoint(payload)
    checkpoint_io.check_keys(payload, ('optimizer', 'counters', 'learner_config', 'replay', 'rng',
                                       'policy_rng'), 'checkpoint')
    _check_optimizer(payload['optimizer'], meta_model)
    _check_counters(payload['counters'], spec)
    learner_config = payload['learner_config']
    if not isinstance(learner_config, dict):
        raise checkpoint_io.CheckpointError('learner_config is not a dict')
    _check_replay(payload['replay'], spec, learner_config.get('replay_capacity'))
    checkpoint_io.check_rng_state(payload['rng'], 'rng')
    checkpoint_io.check_numpy_rng_state(payload['policy_rng'], 'policy_rng')
    if 'policy_falling' in payload:
        falling = payload['policy_falling']
        if not isinstance(falling, list) or len(falling) != spec.n_actions or not all(
                checkpoint_io.is_finite_number(v) and 0 <= v <= 1 for v in falling):
            raise checkpoint_io.CheckpointError(
                f'policy_falling is not a list of {spec.n_actions} shares in [0, 1]')
    actor_weights = payload.get('actor_weights', [])
    if not isinstance(actor_weights, list):
        raise checkpoint_io.CheckpointError(
            f'actor_weights is a {type(actor_weights).__name__}, not a list')
    for index, state in enumerate(actor_weights):
        checkpoint_io.check_state_dict(meta_model, state, f'actor_weights[{index}]')
    if 'held_back' in payload:
        _check_held_back(payload['held_back'], spec)


def _check_held_back(state, spec: ModelSpec) -> None:
    """`HeldBackSet.state_dict`: per action a count seen and its kept transitions.

    At most the spec's `progress_held_back` transitions per action, each two frames of the
    model's size and the replay view it was taken at.
    """
    bad = checkpoint_io.CheckpointError
    checkpoint_io.check_keys(state, ('seen', 'entries'), 'held_back')
    seen, entries, n = state['seen'], state['entries'], spec.n_actions
    if not isinstance(seen, list) or len(seen) != n or not all(
            _is_count(count) for count in seen):
        raise bad(f'held_back seen is not a list of {n} counts >= 0')
    if not isinstance(entries, list) or len(entries) != n or not all(
            isinstance(kept, list) for kept in entries):
        raise bad(f'held_back entries are not a list of {n} lists')
    progress = spec.parts.get('progress')
    most = progress.progress_held_back if progress is not None else 0
    frame = (spec.image_size, spec.image_size, 3)
    for action, kept in enumerate(entries):
        if len(kept) > most:
            raise bad(f'held_back holds {len(kept)} transitions of action {action}, more than '
                      f'progress_held_back ({most})')
        for index, entry in enumerate(kept):
            where = f'held_back entries[{action}][{index}]'
            checkpoint_io.check_keys(entry, ('frame', 'next_frame', 'view'), where)
            for key in ('frame', 'next_frame'):
                checkpoint_io.check_tensor(entry[key], f'{where} {key}', torch.uint8, frame)
            if not _is_count(entry['view']):
                raise bad(f'{where} view {entry["view"]!r} is not an int >= 0')


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_optimizer(state, meta_model) -> None:
    """The AdamW state of `make_optimizer`: its two groups, and moments shaped like the weights."""
    bad = checkpoint_io.CheckpointError
    expected = make_optimizer(meta_model, 1e-3, 1e-3, 0.0)
    checkpoint_io.check_keys(state, ('state', 'param_groups'), 'optimizer')
    groups, moments = state['param_groups'], state['state']
    if not isinstance(groups, list) or len(groups) != len(expected.param_groups) or not all(
            isinstance(g, dict) and isinstance(g.get('params'), list) for g in groups):
        raise bad(f'optimizer: expected {len(expected.param_groups)} parameter groups')
    shapes = {}
    for index, (group, wanted) in enumerate(zip(groups, expected.param_groups)):
        if len(group['params']) != len(wanted['params']):
            raise bad(f'optimizer: group {index} has {len(group["params"])} parameters, the '
                      f'model {len(wanted["params"])}')
        shapes.update({key: tuple(p.shape) for key, p in zip(group['params'], wanted['params'])})
        for name in ('lr', 'initial_lr', 'weight_decay', 'eps'):
            value = group.get(name, 0.0)
            if not checkpoint_io.is_finite_number(value) or value < 0:
                raise bad(f'optimizer: group {index} has {name} {value!r}')
        betas = group.get('betas', (0.9, 0.999))
        if not isinstance(betas, (tuple, list)) or len(betas) != 2 or not all(
                checkpoint_io.is_finite_number(b) and 0 <= b < 1 for b in betas):
            raise bad(f'optimizer: group {index} has betas {betas!r}')
        for name, default in wanted.items():  # switches (amsgrad, foreach...): bool or None
            if isinstance(default, bool) and not isinstance(group.get(name, default),
                                                            (bool, type(None))):
                raise bad(f'optimizer: group {index} has {name} {group[name]!r}')
    if not isinstance(moments, dict):
        raise bad('optimizer: its state is not a dict')
    for key, entry in moments.items():
        if key not in shapes or not isinstance(entry, dict):
            raise bad(f'optimizer: state for an unknown parameter {key!r}')
        for name in ('exp_avg', 'exp_avg_sq'):
            checkpoint_io.check_tensor(entry.get(name), f'optimizer state {key} {name}',
                                       shape=shapes[key])
    try:
        expected.load_state_dict(state)  # on meta tensors: whatever else torch checks, free
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise bad(f'optimizer: {checkpoint_io.first_line(error)}') from None


def _check_counters(counters, spec: ModelSpec) -> None:
    """Check the learner's and trainer's counters, and the hierarchy's where present.

    The hierarchy's are `level_streaks`, `level_updates` and `level_tested_view`; a checkpoint
    of an older level strategy has its own, which are not used.
    """
    bad = checkpoint_io.CheckpointError
    names = ('steps', 'updates', 'skipped')
    checkpoint_io.check_keys(counters, names + ('update_credit', 'last_recon_loss'), 'counters')
    for name in names + tuple(k for k in ('level_tested_view',) if k in counters):
        value = counters[name]
        if not _is_count(value):
            raise bad(f'counters: {name} is {value!r}, not a count')
    if not checkpoint_io.is_finite_number(counters['update_credit']):
        raise bad(f"counters: update_credit is {counters['update_credit']!r}")
    loss = counters['last_recon_loss']  # inf before the first update
    if not isinstance(loss, (int, float)) or isinstance(loss, bool) or loss != loss:
        raise bad(f'counters: last_recon_loss is {loss!r}')
    for name in ('level_streaks', 'level_updates'):  # level -> a count
        per_level = counters.get(name, {})
        if not isinstance(per_level, dict) or not all(
                isinstance(k, str) and k.isdigit() and int(k) < spec.model.hierarchy_levels
                and _is_count(v)
                for k, v in per_level.items()):
            raise bad(f'counters: {name} is {per_level!r}')


def _check_replay(replay, spec: ModelSpec, stored_capacity) -> None:
    """Four dense tensors of one length; checked by shape, so a huge claim costs nothing."""
    bad = checkpoint_io.CheckpointError
    checkpoint_io.check_keys(replay, ('frames', 'actions', 'next_frames', 'follows'), 'replay')
    actions = checkpoint_io.check_tensor(replay['actions'], 'replay actions', torch.int64)
    count = actions.shape[0] if actions.dim() == 1 else -1
    if count < 0:
        raise bad(f'replay actions have shape {list(actions.shape)}, not [N]')
    if not isinstance(stored_capacity, int) or not count <= stored_capacity:
        raise bad(f'the replay holds {count} transitions, more than its replay_capacity '
                  f'{stored_capacity!r}')
    frame = (count, spec.image_size, spec.image_size, 3)
    checkpoint_io.check_tensor(replay['frames'], 'replay frames', torch.uint8, frame)
    checkpoint_io.check_tensor(replay['next_frames'], 'replay next_frames', torch.uint8, frame)
    checkpoint_io.check_tensor(replay['follows'], 'replay follows', torch.bool, (count,))
    if count and not (0 <= int(actions.min()) and int(actions.max()) < spec.n_actions):
        raise bad(f'replay actions outside [0, {spec.n_actions})')


def describe(spec: ModelSpec) -> dict:
    """A short plain summary for logs and `bench`."""
    return {'autoencoder': spec.model.autoencoder, 'predictor': spec.model.predictor,
            'image_size': spec.image_size, 'n_actions': spec.n_actions,
            'model_config': dataclasses.asdict(spec.model)}
