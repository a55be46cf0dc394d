"""The world model as a policy: per-action scores, the choice, and what the model sees.

`WorldModelPolicy` acts with weights lent by `weights()`, a context manager yielding (model,
version): the BackgroundTrainer's copy for this step, never the model being trained. A frame is
encoded once per version: `scores`, `select`, the quality gate and `inspect` of the same frame
share the encoding. A frame of another size than the model's is refused with a FrameSizeError
(`model_io.check_frame`). `QualityGate` wraps a policy with the original's gate (no action while
the frame reconstructs badly).
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Sequence

import numpy as np
import torch

from devrobot_core.selectors import make_selector
from devrobot_world_model.learning.score_selectors import (
    choose, FallingShare, LEARNED_SELECTORS, selector_scores)
from devrobot_world_model.model.model_io import check_frame
from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images


class WorldModelPolicy:
    """Scores every action from the model's parts and picks one (`selector`).

    `selector` is a learned selector (`score_selectors.LEARNED_SELECTORS`: `uncertainty`,
    `predicted-error`, `disagreement`, `progress`), with an `epsilon` share of random
    actions, or any fixed selector spec (`random`, `sequence:...`), which then chooses while
    the scores reported are the `uncertainty` ones. Each `select` adds the step's learning
    progress to the `falling` share (`FallingShare`, a memory of `progress_memory` steps)
    that gates the `uncertainty` score; scoring alone (`scores`, `inspect`) leaves it as is.
    """

    def __init__(self, action_space: Sequence, weights: Callable, selector: str = 'uncertainty',
                 epsilon: float = 0.1, seed: int = 0, history: int = 1,
                 progress_memory: int = 50):
        self.action_space = tuple(action_space)
        self._weights = weights
        self.selector, self.epsilon, self.seed = selector, epsilon, seed
        self.rng = np.random.default_rng(seed)
        learned = selector in LEARNED_SELECTORS
        self.score_kind = selector if learned else 'uncertainty'
        self._fallback = None if learned else make_selector(selector, len(self.action_space),
                                                            seed)
        # (frame, action) of the last transitions observed: the history `inspect` predicts
        # from, so a model trained on several frames is also asked with several
        self._context = collections.deque(maxlen=history - 1)
        self._encoded = None  # (pixels, version, latents [1, N, D], scores, parts)
        self.falling = FallingShare(len(self.action_space), progress_memory)

    def select(self, pixels: np.ndarray) -> tuple:
        """(index into the action space, info): info holds `scores` and `act/...` metrics."""
        started = time.perf_counter()
        scores, parts = self.scored(pixels)
        if self._fallback is not None:
            index, info = self._fallback(pixels)
        else:
            index, how = choose(scores, self.rng, self.epsilon)
            info = {'selector': 'epsilon' if how == 'epsilon' else self.selector}
        if parts['progress'] is not None:
            self.falling.update(parts['progress'])
        return index, dict(
            info, scores=scores, score_parts=parts, **score_metrics(scores, parts),
            **{'act/uncertainty': scores[index], 'act/gated': 0,
               'perf/select_ms': 1e3 * (time.perf_counter() - started)})

    def scores(self, pixels: np.ndarray) -> list:
        """Per-action scores of this policy's selector (`uncertainty` for a fixed one)."""
        return self.scored(pixels)[0]

    def scored(self, pixels: np.ndarray) -> tuple:
        """(scores, parts): parts maps each part's name to a list (None: the model lacks it).

        The parts are `predicted_error`, `disagreement`, `progress` and `falling`.
        """
        with self._weights() as (model, version):
            _, scores, parts = self._encode(model, version, pixels)
            return scores, parts

    @torch.no_grad()
    def _encode(self, model, version, pixels: np.ndarray) -> tuple:
        """(latents `[1, N, D]`, scores, parts) of this frame under these weights, once."""
        cached = self._encoded
        if cached is not None and cached[0] is pixels and cached[1] == version:
            return cached[2:]
        check_frame(pixels, model.spec.image_size)
        latents = model.encode(unit_images(pixels[None], model))  # [1, N, D]
        scores, parts = self._score(model, latents)
        self._encoded = (pixels, version, latents, scores, parts)
        return latents, scores, parts

    def _score(self, model, latents: torch.Tensor) -> tuple:
        """(scores, parts) of every action from the frame's latents `[1, N, D]`."""
        n = len(self.action_space)
        every = latents.expand(n, -1, -1)
        actions = torch.arange(n, device=latents.device)
        # the one frame's latents broadcast against every action: the heads see the frame once
        disagreement = model.disagreement(latents, actions)  # [A] or None
        progress = None if model.progress is None else model.progress.progress()
        parts = {'predicted_error': [float(v) for v in model.predicted_log_error(every, actions)],
                 'disagreement': None if disagreement is None else [
                     float(v) for v in disagreement],
                 'progress': None if progress is None else [float(v) for v in progress],
                 'falling': None if progress is None else [
                     float(v) for v in self.falling.share]}
        scores = [float(v) for v in selector_scores(self.score_kind, parts)]
        return scores, parts

    @torch.no_grad()
    def reconstruction_loss(self, pixels: np.ndarray) -> float:
        """Pixel loss of the frame's reconstruction (the quality gate's figure)."""
        with self._weights() as (model, version):
            latents = self._encode(model, version, pixels)[0]
            images = unit_images(pixels[None], model)
            return float(model.pixel_loss(model.decode(latents), images).mean())

    def inspect(self, pixels: np.ndarray) -> dict:
        """Reconstruction, the predicted next frame per action, and the per-action scores.

        With a predictor history above 1, the frames and actions of the last transitions
        remembered come before `pixels` (the frame that followed them).
        """
        with self._weights() as (model, version):
            self._encode(model, version, pixels)
            return self.inspect_with(model, pixels)

    @torch.no_grad()
    def inspect_with(self, model, pixels: np.ndarray) -> dict:
        """`inspect` with the weights of `model` (a copy owned by the caller's thread).

        The frame's encoding from its selection is reused when `pixels` is the frame last
        selected on (even by slightly older weights: it only feeds the pictures).
        """
        n = len(self.action_space)
        cached = self._encoded
        if cached is not None and cached[0] is pixels:
            latents, scores, parts = cached[2:]
        else:
            check_frame(pixels, model.spec.image_size)
            latents = model.encode(unit_images(pixels[None], model))  # [1, N, D]
            scores, parts = self._score(model, latents)
        context = list(self._context)
        if context:
            past = np.stack([frame for frame, _ in context])
            latents = torch.cat([model.encode(unit_images(past, model)), latents])
        past_actions = torch.tensor([action for _, action in context], dtype=torch.int64)
        actions = torch.cat([past_actions.expand(n, -1), torch.arange(n)[:, None]], dim=1)
        history = latents[None].expand(n, -1, -1, -1)  # [A, T, N, D]
        predicted = model.decode(model.predict(history, actions.to(latents.device)))
        reconstruction = model.decode(latents[-1:])
        images = to_uint8_images(torch.sigmoid(torch.cat([reconstruction, predicted]))).cpu()
        return {'reconstruction': images[0].numpy(),
                'predictions': [image.numpy() for image in images[1:]], 'scores': scores,
                'score_parts': parts}

    def remember(self, pixels: np.ndarray, index: int) -> None:
        """A transition from `pixels` by action `index` was learned: history for `inspect`."""
        self._context.append((pixels, index))

    def forget(self) -> None:
        """The history is broken (a transition was skipped)."""
        self._context.clear()

    def state_dict(self) -> dict:
        return {'rng': self.rng.bit_generator.state, 'falling': self.falling.state_dict()}

    def load_state_dict(self, state: dict, steps: int) -> None:
        """`falling` is optional: a checkpoint from before it starts every share at 1."""
        self.rng.bit_generator.state = state['rng']
        if state.get('falling') is not None:
            self.falling.load_state_dict(state['falling'])
        if self._fallback is not None:  # a selector keeps no state to store: reseed it
            self._fallback = make_selector(self.selector, len(self.action_space),
                                           self.seed + steps)


class QualityGate:
    """The original's gate: while a frame reconstructs worse than `threshold`, do not act.

    `select` returns (None, info) then; the session trains the autoencoder on the frame instead.
    Everything else is the wrapped policy's.
    """

    def __init__(self, policy: WorldModelPolicy, threshold: float):
        self.policy, self.threshold = policy, threshold

    def select(self, pixels: np.ndarray) -> tuple:
        loss = self.policy.reconstruction_loss(pixels)
        if loss > self.threshold:
            return None, {'selector': 'quality_gate', 'act/gated': 1,
                          'act/reconstruction_loss': loss}
        index, info = self.policy.select(pixels)
        return index, dict(info, **{'act/reconstruction_loss': loss})

    def __getattr__(self, name):  # scores, inspect, remember, state_dict... pass through
        if name == 'policy':  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.policy, name)


def score_metrics(scores: list, parts: dict) -> dict:
    """`act/score/<i>` and each part's `act/<part>/<i>`; a part not yet measured is left out."""
    metrics = {f'act/score/{i}': s for i, s in enumerate(scores)}
    for name, values in parts.items():
        metrics.update({f'act/{name}/{i}': v for i, v in enumerate(values or ())
                        if np.isfinite(v)})
    return metrics


def unit_images(pixels: np.ndarray, model) -> torch.Tensor:
    """uint8 `[B, H, W, 3]` -> float `[B, 3, H, W]` in [0, 1] on the model's device."""
    device = next(model.parameters()).device
    return to_unit_images(torch.from_numpy(np.ascontiguousarray(pixels)).to(device))
