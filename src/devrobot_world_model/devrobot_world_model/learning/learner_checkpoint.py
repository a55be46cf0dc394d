"""The learner's checkpoint: everything a run needs to continue exactly where it stopped.

One file (`checkpoint_io` writes it atomically, with a backup) of plain data:
- the model's spec and weights and the optimizer's state (`model_io.checkpoint_payload`);
- `counters`: steps and skipped transitions (the learner's), updates, update credit, the last
  reconstruction loss and the hierarchy levels (the trainer's);
- `replay`: the newest `checkpoint_replay` transitions; `rng`: Python's, torch's and the
  replay's generators; `policy_rng`: the policy's; `policy_falling`: the policy's falling
  shares (a checkpoint from before them starts them at 1);
- `held_back`: the transitions kept out of training to measure learning progress;
- `actor_weights`: with a lag, the weights the actor uses for its next `lag` steps (it acts
  with weights older than the model's), so a resumed run acts as the uninterrupted one would.
Checkpoints written before the trainer ran in the background have no `actor_weights`; they
load as if the actor had caught up with the model. Every part is checked
(`model_io.learner_checkpoint`) before anything is built from it, when loading and before
writing; a file that fails the check falls back to the backup.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.model.model_io import (
    check_action_space, checkpoint_payload, learner_checkpoint, model_spec)
from devrobot_world_model.model.world_model import ModelSpec, OPTIONAL_PARTS


class ImageSizeError(checkpoint_io.CheckpointError):
    """A checkpoint trained on frames of another size than the learner is asked to take."""

    def __init__(self, trained: int, asked: int):
        super().__init__(f'the checkpoint was trained on {trained} px frames, not {asked} px '
                         '(image_size); use its size or another checkpoint folder')
        self.trained, self.asked = trained, asked


def find(folder) -> dict | None:
    """The checkpoint in `folder` as plain data, or None when there is none (a fresh run)."""
    if folder is None or not checkpoint_io.has_checkpoint(folder):
        return None
    return checkpoint_io.load_checkpoint(folder, check=learner_checkpoint)


def spec_for(payload: dict | None, image_size: int, n_actions: int,
             model_configs=()) -> ModelSpec:
    """The model to build: from the configs given, or the checkpoint's when none are.

    A checkpoint trained on frames of another size than `image_size` is refused
    (ImageSizeError).
    """
    if payload is None:
        return model_spec(image_size, n_actions, model_configs)
    stored = int(payload['spec']['image_size'])
    if stored != image_size:
        raise ImageSizeError(stored, image_size)
    if model_configs:
        spec = model_spec(stored, n_actions, model_configs)
        # A part the checkpoint predates (the ensemble, say) stays out: the stored weights
        # have none.
        for name in OPTIONAL_PARTS:
            if name not in payload['spec']['parts']:
                spec.parts.pop(name, None)
        return spec
    return ModelSpec.from_dict(payload['spec'])


def restore(learner, payload: dict, learning_rates: tuple = (None, None)) -> dict:
    """Put a checkpoint's state into a freshly built learner (before its trainer starts).

    `learning_rates`: explicit (autoencoder, predictor) rates that beat the stored ones. Returns
    what the caller hands on: `actor_weights` (state dicts) and `policy` (the policy's state).
    """
    trainer = learner.trainer
    check_action_space(payload, learner.action_space)
    checkpoint_io.load_state_dict_checked(trainer.model, payload['model'], 'model')
    trainer.optimizer.load_state_dict(payload['optimizer'])
    for group, explicit in zip(trainer.optimizer.param_groups, learning_rates):
        if explicit is not None:
            group['lr'] = group['initial_lr'] = explicit
    counters = payload['counters']
    learner.steps, learner.skipped = int(counters['steps']), int(counters['skipped'])
    trainer.load_counters(counters)
    learner.replay.extend({k: np.asarray(v) for k, v in payload['replay'].items()})
    checkpoint_io.restore_rng_state(payload['rng'], learner.replay.rng)
    if learner.held_back is not None and 'held_back' in payload:
        learner.held_back.load_state_dict(payload['held_back'])
    return {'actor_weights': payload.get('actor_weights', []),
            'policy': {'rng': payload['policy_rng'], 'falling': payload.get('policy_falling')}}


def save(learner, folder) -> pathlib.Path:
    """Write the learner's checkpoint while its trainer is quiet; returns the file's path."""
    trainer = learner.trainer
    with learner.background.quiet():
        counters = {'steps': learner.steps, 'skipped': learner.skipped, **trainer.counters()}
        payload = checkpoint_payload(trainer.model, trainer.optimizer, learner.action_space,
                                     counters, dataclasses.asdict(learner.config))
        payload['replay'] = checkpoint_io.plain_data(
            learner.replay.recent(learner.config.checkpoint_replay))
        payload['rng'] = checkpoint_io.capture_rng_state(learner.replay.rng)
        policy = learner.policy.state_dict()
        payload['policy_rng'] = checkpoint_io.plain_data(policy['rng'])
        payload['policy_falling'] = policy['falling']
        payload['actor_weights'] = checkpoint_io.plain_data(
            learner.background.actor_state_dicts())
        if learner.held_back is not None:
            payload['held_back'] = checkpoint_io.plain_data(learner.held_back.state_dict())
    return checkpoint_io.save_checkpoint(folder, payload, learner_checkpoint)
