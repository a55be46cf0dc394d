"""Does a trained world model use the action? `devrobot eval --introspect`, on held-out states.

Histories are drawn from the toroidal-dot world as the evaluation protocol draws its states:
from `seed`, each start a fresh random dot position, followed by `history` random actions of the
model's action space (the last one the candidate whose outcome is predicted). On them:
- the attention metrics of a transformer predictor (`attention_metrics`: APA, ALF, TTAR, RI@16,
  entropy; `attn/...` the mean over layers, `attn/layer<i>/...` each layer);
- `sens/diversity`, `sens/relative_diversity`: how far apart the predictions for the candidate
  actions are;
- `cf/shuffle_change`, `cf/zero_change`: how much the prediction moves when the actions are
  shuffled, or all set to action 0 (the counterfactual tests);
- `grad/action_share`: the share of the gradient norm of one training loss on these transitions
  that reaches the action pathway (the action embedding and FiLM layers).
A model that ignores its actions scores 0 on the last four.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.evaluation.attention_metrics import (action_gradient_share,
                                                               introspect_world_model)
from devrobot_world_model.model.pixel_losses import to_unit_images


def held_out_histories(sim_config: ToroidalDotConfig, action_space, history: int, states: int,
                       seed: int) -> tuple:
    """(frames uint8 `[B, T, H, W, 3]`, actions `[B, T]`, next frames uint8 `[B, H, W, 3]`).

    Actions index `action_space` (the model's); only the commands the world knows are drawn.
    """
    world = ToroidalDotWorld(dataclasses.replace(sim_config, seed=seed))
    effects = [world.effect_of(command) for command in action_space]
    known = [index for index, effect in enumerate(effects) if effect is not None]
    if not known:
        raise ValueError('none of the model\'s commands is a command of the simulator')
    rng = np.random.default_rng(seed)
    actions = np.asarray(known)[rng.integers(0, len(known), (states, history))]
    frames, next_frames = [], []
    for row in actions:
        world.reset()
        sequence = []
        for action in row:
            sequence.append(world.render())
            world.apply(effects[action])
        frames.append(np.stack(sequence))
        next_frames.append(world.render())
    return np.stack(frames), actions, np.stack(next_frames)


def introspect(world_model, action_space, sim_config: ToroidalDotConfig, states: int = 64,
               seed: int = 0) -> dict:
    """Every measurement of the module doc for `world_model` (a WorldModel), as plain data."""
    history = world_model.history
    frames, actions, next_frames = held_out_histories(sim_config, action_space, history,
                                                      states, seed)
    device = next(world_model.parameters()).device
    frames = to_unit_images(torch.from_numpy(frames).to(device).flatten(0, 1))  # [B*T, 3, H, W]
    next_frames = to_unit_images(torch.from_numpy(next_frames).to(device))  # [B, 3, H, W]
    actions = torch.from_numpy(actions).to(device)  # [B, T]
    was_training = world_model.training
    world_model.eval()
    try:
        with torch.no_grad():
            latents = world_model.encode(frames).unflatten(0, (states, history))  # [B, T, N, D]
        generator = torch.Generator(device=device).manual_seed(seed)
        metrics = introspect_world_model(world_model, latents, actions, generator)
        metrics['grad/action_share'] = gradient_share(
            world_model, frames.unflatten(0, (states, history)), actions, next_frames)
    finally:
        world_model.train(was_training)
    return {'states': states, 'history': history, 'seed': seed,
            'predictor': world_model.config.predictor,
            'attention': any(key.startswith('attn/') for key in metrics), 'metrics': metrics}


def gradient_share(world_model, frames: torch.Tensor, actions: torch.Tensor,
                   next_frames: torch.Tensor) -> float:
    """`action_gradient_share` after one backward pass of the training loss; grads cleared."""
    world_model.zero_grad(set_to_none=True)
    try:
        with torch.enable_grad():
            total, _, _ = world_model.forward_loss(frames, actions, next_frames)
            total.backward()
        return action_gradient_share(world_model)
    finally:
        world_model.zero_grad(set_to_none=True)
