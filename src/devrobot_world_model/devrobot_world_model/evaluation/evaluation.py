"""The held-out protocol: how well a next-frame predictor knows the toroidal-dot world.

Independent of any model: a predictor is a plain function

    predict_fn(frames: uint8 [B, H, W, 3], action_indices: int [B]) -> uint8 [B, H, W, 3]

where `action_indices` index the simulator's action space (stay, move[, noise]). `evaluate`
draws `states` dot positions from `seed`, renders each, asks for the next frame under every
action and scores the answers against the simulator:

- per action: R² in pixel space over the state set (1 - SSE / SST, SST around the per-pixel
  mean over the states), pixel MSE (values scaled to [0, 1]), and the error of the dot position
  decoded from the predicted frame (median and p90, pixels, toroidal distance);
- action discrimination: the fraction of states where the dot decoded from the "move"
  prediction sits within 2 px of `move_pixels` to the right of the one decoded from the "stay"
  prediction;
- open loop: from each state a random action sequence is played, the predictions are fed back
  as the next input, and R², MSE and position error are reported at each horizon.

`evaluate_with_baselines` adds the copy-current-frame and the action-blind baselines, scored on
the same states. See docs/evaluation.md for how to read the figures.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

from devrobot_sim.toroidal_dot import Effect, ToroidalDotConfig, ToroidalDotWorld

PredictFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
DISCRIMINATION_TOLERANCE_PX = 2.0
DEFAULT_HORIZONS = (1, 5, 10)


class PredictionShapeError(ValueError):
    """A predictor returned frames of another shape or type than the ones it was given."""


# -- decoding the dot -----------------------------------------------------------------------

def decode_dot_positions(frames: np.ndarray, exclude_corner_px: int = 0) -> np.ndarray:
    """Dot position `(x, y)` in pixels per frame, float `[B, 2]`; NaN where no dot is visible.

    The position is the intensity-weighted circular mean on the torus: each pixel votes with
    its brightness above the frame's median (the background) for the angles 2πx/W and 2πy/H.
    A uniform haze cancels out, and a dot split by the image edge is found in one piece.
    `exclude_corner_px` ignores the top-left square where the distractor's noise lives.
    """
    # [B, H, W] in [0, 1]; adding the channels one by one is much faster than mean(axis=-1)
    gray = (frames[..., 0].astype(np.float32) + frames[..., 1] + frames[..., 2]) / (3 * 255.0)
    batch, height, width = gray.shape
    background = np.median(gray.reshape(batch, -1), axis=1)[:, None, None]
    weights = np.clip(gray - background, 0.0, None)
    if exclude_corner_px:
        weights[:, :exclude_corner_px, :exclude_corner_px] = 0.0
    positions = np.full((batch, 2), np.nan)
    total = weights.sum(axis=(1, 2))
    for axis, size, column in ((1, width, 0), (2, height, 1)):
        profile = weights.sum(axis=axis)  # [B, size]: summed over the other axis
        angles = 2.0 * np.pi * np.arange(size) / size
        sines, cosines = profile @ np.sin(angles), profile @ np.cos(angles)
        mean_angle = np.arctan2(sines, cosines) % (2.0 * np.pi)
        visible = (total > 1e-6) & (np.hypot(sines, cosines) > 1e-3 * total)
        positions[visible, column] = mean_angle[visible] * size / (2.0 * np.pi)
    return positions


def toroidal_offsets(a: np.ndarray, b: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """`a - b` per axis, wrapped into [-size/2, size/2) (positions `[B, 2]`, size (W, H))."""
    size = np.asarray(size, dtype=np.float64)
    return (a - b + size / 2.0) % size - size / 2.0


def position_errors(predicted: np.ndarray, true: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Toroidal distance in pixels; a missing dot counts as the largest possible distance."""
    distances = np.hypot(*toroidal_offsets(predicted, true, size).T)
    return np.where(np.isnan(distances), math.hypot(size[0] / 2, size[1] / 2), distances)


# -- accumulating scores over batches -------------------------------------------------------

class FrameScores:
    """R², MSE and dot-position errors of predicted frames, accumulated batch by batch.

    R² = 1 - SSE / SST with SST taken around the per-pixel mean of the targets over every
    state seen, so 0 means "no better than the average frame" and 1 means exact. Sums are kept
    in integers of uint8 units (exact), and scaled to [0, 1] values at the end.
    """

    def __init__(self):
        self.squared_error = 0
        self.count = 0
        self.target_sum = None  # per pixel, int64
        self.target_square_sum = None
        self.errors_px = []
        self.missing = 0

    def update(self, predicted: np.ndarray, target: np.ndarray,
               predicted_positions: np.ndarray, true_positions: np.ndarray) -> None:
        difference = (predicted.astype(np.int64) - target).ravel()
        self.squared_error += int(np.dot(difference, difference))
        target = target.astype(np.int64)
        if self.target_sum is None:
            self.target_sum = np.zeros(target.shape[1:], dtype=np.int64)
            self.target_square_sum = np.zeros(target.shape[1:], dtype=np.int64)
        self.target_sum += target.sum(axis=0)
        self.target_square_sum += (target * target).sum(axis=0)
        self.count += target.shape[0]
        size = (target.shape[2], target.shape[1])
        self.errors_px.extend(position_errors(predicted_positions, true_positions, size))
        self.missing += int(np.isnan(predicted_positions).any(axis=1).sum())

    def summary(self) -> dict:
        sums = self.target_sum.astype(np.float64)
        total = float((self.target_square_sum - sums * sums / self.count).sum())
        errors = np.asarray(self.errors_px)
        return {'r2': 1.0 - self.squared_error / total if total > 0 else math.nan,
                'pixel_mse': self.squared_error / (self.count * self.target_sum.size * 255 ** 2),
                'position_error_px_median': round(float(np.median(errors)), 6),
                'position_error_px_p90': round(float(np.percentile(errors, 90)), 6),
                'dot_missing_fraction': self.missing / self.count}


# -- the protocol ---------------------------------------------------------------------------

def action_names(world: ToroidalDotWorld) -> list:
    """`stay`, `move`[, `noise`]: the effect of each command of the world's action space."""
    return [effect.value for effect in world.effects]


def _render(world: ToroidalDotWorld, x: int, y: int, effects: Sequence[Effect]) -> tuple:
    """Frames after each of `effects` from a clean world with the dot at (x, y), and positions."""
    world.reset()  # clears the noise patch; the position is then set by hand
    world.dot_x, world.dot_y = int(x), int(y)
    frames, positions = [], []
    for effect in effects:
        world.apply(effect)
        frames.append(world.render())
        positions.append((world.dot_x, world.dot_y))
    return frames, positions


def _checked(predicted, frames: np.ndarray) -> np.ndarray:
    predicted = np.asarray(predicted)
    if predicted.shape != frames.shape or predicted.dtype != np.uint8:
        raise PredictionShapeError(
            f'the predictor returned {predicted.dtype} {list(predicted.shape)} for frames of '
            f'uint8 {list(frames.shape)}; does the image size match the model?')
    return predicted


def evaluate(predict_fn: PredictFn, sim_config: ToroidalDotConfig, states: int = 512,
             seed: int = 0, horizons: Sequence[int] = DEFAULT_HORIZONS,
             batch_size: int = 64, exclude_corner: bool = False) -> dict:
    """Score `predict_fn` on `states` held-out states drawn from `seed` (see the module doc).

    Returns plain data: `per_action` (name -> r2, pixel_mse, position errors, dot missing
    fraction), `r2_min` over actions, `action_discrimination`, and `open_loop`
    (`horizon_{h}` -> the same frame scores, over random action sequences). With
    `exclude_corner` (and a distractor), the per-action pixel scores leave the distractor's
    corner out of both prediction and target.
    """
    if states < 1 or batch_size < 1 or not horizons or min(horizons) < 1:
        raise ValueError('states, batch_size and every horizon must be at least 1')
    world = ToroidalDotWorld(dataclasses.replace(sim_config, seed=seed))
    names = action_names(world)
    corner = sim_config.distractor_size if sim_config.distractor else 0
    size = (sim_config.image_size, sim_config.image_size)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, sim_config.image_size, (states, 2))  # (x, y) per state
    longest = max(horizons)
    sequences = rng.integers(0, len(names), (states, longest))
    stay, move = names.index(Effect.STAY.value), names.index(Effect.MOVE.value)

    per_action = {name: FrameScores() for name in names}
    open_loop = {h: FrameScores() for h in horizons}
    discriminated = 0
    for first in range(0, states, batch_size):
        batch = starts[first:first + batch_size]
        count = len(batch)
        frames = np.stack([_render(world, x, y, [Effect.STAY])[0][0] for x, y in batch])
        decoded = {}
        for index, effect in enumerate(world.effects):
            targets, truths = zip(*(_render(world, x, y, [effect]) for x, y in batch))
            targets, truths = np.stack([t[0] for t in targets]), np.array([t[0] for t in truths])
            predicted = _checked(predict_fn(frames, np.full(count, index)), frames)
            decoded[index] = decode_dot_positions(predicted, corner)
            if exclude_corner and corner:  # the distractor's corner counts for no action
                predicted, targets = without_corner(predicted, corner), without_corner(
                    targets, corner)
            per_action[names[index]].update(predicted, targets, decoded[index], truths)
        shift = toroidal_offsets(decoded[move], decoded[stay], size)
        miss = np.hypot(shift[:, 0] - sim_config.move_pixels, shift[:, 1])
        discriminated += int((miss <= DISCRIMINATION_TOLERANCE_PX).sum())  # NaN never counts

        actions = sequences[first:first + count]
        rollouts = [_render(world, x, y, [world.effects[a] for a in row])
                    for (x, y), row in zip(batch, actions)]
        current = frames
        for step in range(longest):
            current = _checked(predict_fn(current, actions[:, step]), frames)
            if step + 1 in open_loop:
                targets = np.stack([r[0][step] for r in rollouts])
                truths = np.array([r[1][step] for r in rollouts])
                open_loop[step + 1].update(current, targets,
                                           decode_dot_positions(current, corner), truths)

    summaries = {name: scores.summary() for name, scores in per_action.items()}
    return {'per_action': summaries,
            'r2_min': min(s['r2'] for s in summaries.values()),
            'action_discrimination': discriminated / states,
            'open_loop': {f'horizon_{h}': scores.summary() for h, scores in open_loop.items()}}


def without_corner(frames: np.ndarray, side: int) -> np.ndarray:
    """A copy of uint8 `[B, H, W, 3]` frames with the top-left `side` square black."""
    frames = frames.copy()
    frames[:, :side, :side] = 0
    return frames


# -- baselines ------------------------------------------------------------------------------

def copy_predictor(frames: np.ndarray, action_indices: np.ndarray) -> np.ndarray:
    """Predict that nothing changes: R² 1 on "stay", about -1 on "move"."""
    return frames.copy()


def action_blind_predictor(move_pixels: int) -> PredictFn:
    """Predict half the current frame plus half the moved one, whatever the action: R² ~0.5."""
    def predict(frames: np.ndarray, action_indices: np.ndarray) -> np.ndarray:
        moved = np.roll(frames, move_pixels, axis=2)
        return ((frames.astype(np.uint16) + moved + 1) // 2).astype(np.uint8)
    return predict


def evaluate_with_baselines(predict_fn: PredictFn, sim_config: ToroidalDotConfig,
                            states: int = 512, seed: int = 0,
                            horizons: Sequence[int] = DEFAULT_HORIZONS,
                            batch_size: int = 64) -> dict:
    """`evaluate` for the predictor and both baselines on the same states, with the protocol."""
    world = ToroidalDotWorld(sim_config)
    options = dict(sim_config=sim_config, states=states, seed=seed, horizons=horizons,
                   batch_size=batch_size)
    return {
        'protocol': {'states': states, 'seed': seed, 'horizons': list(horizons),
                     'actions': [{'name': name, 'left': c.left, 'right': c.right,
                                  'duration': c.duration_s}
                                 for name, c in zip(action_names(world), world.action_space)],
                     'sim': dataclasses.asdict(sim_config),
                     'discrimination_tolerance_px': DISCRIMINATION_TOLERANCE_PX},
        'model': evaluate(predict_fn, **options),
        'baselines': {'copy': evaluate(copy_predictor, **options),
                      'action_blind': evaluate(action_blind_predictor(sim_config.move_pixels),
                                               **options)}}


def finite_or_none(value):
    """The result with every NaN or infinity replaced by None, ready for strict JSON."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
