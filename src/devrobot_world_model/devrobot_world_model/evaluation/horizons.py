"""Horizons: how well a model predicts k steps ahead, five ways, against the dot world's truth.

Independent of any model: a model is a function

    sequence_fn(frames: uint8 [B, H, W, 3], actions: int [B, k], method) -> (frames, calls)

that returns the predicted frames after the k actions and the predictor calls it took, or None
when it cannot use `method`: 'direct' (one call of the level whose span is k), 'composed' (the
levels it has, largest first: 13 = 8 + 4 + 1) or 'rollout' (level 0 k times), the frames
decoded and encoded again between calls; 'composed-latent' and 'rollout-latent' carry the
predicted latents from call to call instead. The truth is the simulator's: after k steps the
dot has moved `move_pixels` times the number of moves.

`evaluate_horizons` scores each method at each horizon (R², pixel MSE and the median and p90
error of the decoded dot position, as `evaluation.py`), from `states` dot positions and random
action sequences drawn from `seed`. `code_nmi` measures how well a level's discrete codes tell
the number of moves in a sequence (normalised mutual information, arithmetic mean of the
entropies: 1 when codes and counts determine each other).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Sequence

import numpy as np

from devrobot_sim.toroidal_dot import Effect, ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.evaluation.evaluation import decode_dot_positions, FrameScores

SequenceFn = Callable[[np.ndarray, np.ndarray, str], 'tuple | None']
METHODS = ('direct', 'composed', 'rollout', 'composed-latent', 'rollout-latent')
DEFAULT_HORIZONS = (1, 2, 4, 8, 16)
MAX_ENUMERATED = 4096  # sequences per level for the codes' NMI; longer ones are sampled


def _render(world: ToroidalDotWorld, x: int, y: int, effects: Sequence[Effect]) -> tuple:
    """(frame, (x, y)) after `effects` from a clean world with the dot at (x, y)."""
    world.reset()
    world.dot_x, world.dot_y = int(x), int(y)
    for effect in effects:
        world.apply(effect)
    return world.render(), (world.dot_x, world.dot_y)


def evaluate_horizons(sequence_fn: SequenceFn, sim_config: ToroidalDotConfig,
                      states: int = 256, seed: int = 0,
                      horizons: Sequence[int] = DEFAULT_HORIZONS, batch_size: int = 64) -> dict:
    """Score every method at every horizon.

    Returns `horizon_{k}` -> method -> r2, pixel_mse, position errors and `calls` per
    prediction, or None where the model has no such method.
    """
    if states < 1 or batch_size < 1 or not horizons or min(horizons) < 1:
        raise ValueError('states, batch_size and every horizon must be at least 1')
    world = ToroidalDotWorld(dataclasses.replace(sim_config, seed=seed))
    corner = sim_config.distractor_size if sim_config.distractor else 0
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, sim_config.image_size, (states, 2))
    sequences = rng.integers(0, len(world.effects), (states, max(horizons)))
    result = {}
    for horizon in horizons:
        scores = {method: FrameScores() for method in METHODS}
        calls = {method: 0 for method in METHODS}
        for first in range(0, states, batch_size):
            batch, actions = starts[first:first + batch_size], sequences[
                first:first + batch_size, :horizon]
            frames = np.stack([_render(world, x, y, [])[0] for x, y in batch])
            truths = [_render(world, x, y, [world.effects[a] for a in row])
                      for (x, y), row in zip(batch, actions)]
            targets, positions = np.stack([t[0] for t in truths]), np.array([t[1] for t in truths])
            for method in METHODS:
                if scores[method] is None:
                    continue
                answer = sequence_fn(frames, actions, method)
                if answer is None:
                    scores[method] = None
                    continue
                predicted, used = answer
                calls[method] += used * len(batch)
                scores[method].update(np.asarray(predicted), targets,
                                      decode_dot_positions(np.asarray(predicted), corner),
                                      positions)
        result[f'horizon_{horizon}'] = {
            method: None if scores[method] is None else dict(
                scores[method].summary(), calls=calls[method] / states)
            for method in METHODS}
    return result


def normalised_mutual_information(a, b) -> float:
    """NMI of two labelings: I(a; b) / mean(H(a), H(b)); 1.0 when both are constant."""
    a, b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1), joint.sum(axis=0)
    nonzero = joint > 0
    information = float((joint[nonzero] * np.log(
        joint[nonzero] / np.outer(pa, pb)[nonzero])).sum())
    entropies = [-float((p[p > 0] * np.log(p[p > 0])).sum()) for p in (pa, pb)]
    mean = sum(entropies) / 2
    return 1.0 if mean == 0 else information / mean


def level_sequences(n_actions: int, span: int, seed: int = 0) -> np.ndarray:
    """Every action sequence of `span` steps, or MAX_ENUMERATED random ones: `[S, span]`."""
    if n_actions ** span <= MAX_ENUMERATED:
        return np.array(list(itertools.product(range(n_actions), repeat=span)), dtype=np.int64)
    return np.random.default_rng(seed).integers(0, n_actions, (MAX_ENUMERATED, span))


def code_nmi(code_fn: Callable, levels: int, n_actions: int, move_action: int) -> dict:
    """How well each level's codes tell the number of moves in its sequences.

    Returns `level_{L}` -> span, NMI of the codes with the number of moves, codes used, for the
    levels >= 1 with a codebook (`code_fn(level, sequences)` returns the codes or None).
    """
    result = {}
    for level in range(1, levels):
        sequences = level_sequences(n_actions, 2 ** level, seed=level)
        codes = code_fn(level, sequences)
        if codes is None:
            continue
        moves = (sequences == move_action).sum(axis=1)
        result[f'level_{level}'] = {
            'span': 2 ** level, 'sequences': len(sequences),
            'nmi_moves': normalised_mutual_information(codes, moves),
            'codes_used': int(len(np.unique(codes)))}
    return result
