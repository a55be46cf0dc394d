"""What a world model makes of a step, for the explorer.

That is: the reconstruction, every action's prediction and its error, the action sweep,
counterfactual tests and the predictor's attention.

Built on the public prediction API (`devrobot_world_model.load` -> PredictionModel: `encode`,
`decode`, its WorldModel's `predict` named step) and `attention_metrics`, so it does not depend
on how the learner is organised. Inputs are uint8 frames `[T, H, W, 3]` (the history, the
current frame last) and action indices; errors are pixel MSE in [0, 1] units.

One lock serialises the model: the page's requests and the background error pass take turns,
and the error pass steps aside while someone is looking (`interactive_since`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from devrobot_world_model.evaluation.attention_metrics import (
    action_sweep_diversity, attention_metrics, capture_attention_maps, counterfactual_changes,
    TokenLayout)
from devrobot_world_model.explorer import rendering

COUNTERFACTUAL_SEED = 0  # the shuffle of the counterfactual test is the same on every call


@dataclass
class StepView:
    """The model's view of one step; images uint8 `[H, W, 3]`, errors pixel MSE."""

    reconstruction: np.ndarray
    predictions: list  # one image per action of the action space
    errors: list | None  # each prediction against the actual next frame (None: no next frame)
    reconstruction_error: float


class ModelView:
    """A loaded model and the questions the explorer asks it."""

    def __init__(self, model, source: str = '', updates: int | None = None):
        self.model = model  # a PredictionModel
        self.world_model = model.model
        self.action_space = tuple(model.action_space)
        self.image_size = int(model.image_size)
        self.history = int(self.world_model.history)
        self.source, self.updates = source, updates
        self.lock = threading.Lock()
        self.interactive_since = 0.0  # perf_counter of the page's last request

    # -- compatibility --------------------------------------------------------------------

    def mismatch(self, action_space, frame_size) -> str:
        """Why this model cannot predict a bag's steps, or '' when it can."""
        if frame_size is not None and tuple(frame_size) != (self.image_size,) * 2:
            return (f'the model takes {self.image_size}x{self.image_size} images, the bag has '
                    f'{frame_size[1]}x{frame_size[0]}')
        same = len(action_space) == len(self.action_space) and all(
            a.same_action(b) for a, b in zip(action_space, self.action_space))
        if action_space and not same:
            return ('the model was trained on another action space ('
                    + ', '.join(_label(c) for c in self.action_space) + ') than the bag\'s ('
                    + ', '.join(_label(c) for c in action_space) + ')')
        return ''

    # -- predictions ----------------------------------------------------------------------

    def _latents(self, frames: np.ndarray) -> torch.Tensor:
        return self.model.encode(np.ascontiguousarray(frames))  # [T, N, D]

    @torch.no_grad()
    def step_view(self, frames: np.ndarray, past_actions, next_frame=None) -> StepView:
        """Reconstruction of the last frame and the next frame under every action.

        frames uint8 `[T, H, W, 3]`; `past_actions` the T-1 actions taken after the earlier
        frames; `next_frame` `[H, W, 3]` what really came next, for the errors.
        """
        self.interactive_since = time.perf_counter()
        with self.lock:
            latents = self._latents(frames)  # [T, N, D]
            n = len(self.action_space)
            history = latents[None].expand(n, -1, -1, -1)  # [A, T, N, D]
            actions = self._candidates(past_actions, n)  # [A, T]
            predicted = self.world_model.predict(history, actions)  # [A, N, D]
            images = self.model.decode(torch.cat([latents[-1:], predicted]))  # [A+1, H, W, 3]
        errors = None if next_frame is None else [
            rendering.mean_squared_error(image, next_frame) for image in images[1:]]
        return StepView(images[0], list(images[1:]), errors,
                        rendering.mean_squared_error(images[0], frames[-1]))

    def _candidates(self, past_actions, n: int) -> torch.Tensor:
        past = torch.as_tensor(list(past_actions), dtype=torch.int64).reshape(1, -1)
        return torch.cat([past.expand(n, -1), torch.arange(n)[:, None]], dim=1).to(
            self.model.device)

    @torch.no_grad()
    def taken_errors(self, frames: np.ndarray, actions: np.ndarray,
                     next_frames: np.ndarray) -> np.ndarray:
        """Prediction error of the action taken, per step of a batch.

        frames uint8 `[B, T, H, W, 3]`, actions `[B, T]` (the last is the one taken),
        next_frames `[B, H, W, 3]` -> float `[B]`.
        """
        with self.lock:
            b, t = actions.shape
            latents = self._latents(frames.reshape((b * t,) + frames.shape[2:]))
            latents = latents.unflatten(0, (b, t))  # [B, T, N, D]
            predicted = self.world_model.predict(
                latents, torch.as_tensor(actions, dtype=torch.int64, device=latents.device))
            images = self.model.decode(predicted)  # [B, H, W, 3]
        return np.array([rendering.mean_squared_error(p, n)
                         for p, n in zip(images, next_frames)])

    # -- introspection --------------------------------------------------------------------

    def _history_tensors(self, frames: np.ndarray, actions) -> tuple:
        """uint8 `[B, T, H, W, 3]`, actions `[B, T]` -> latents `[B, T, N, D]`, actions tensor."""
        frames = np.asarray(frames)
        b, t = frames.shape[:2]
        latents = self._latents(frames.reshape((b * t,) + frames.shape[2:])).unflatten(0, (b, t))
        return latents, torch.as_tensor(np.asarray(actions), dtype=torch.int64,
                                        device=latents.device)

    @torch.no_grad()
    def sweep_and_counterfactuals(self, frames: np.ndarray, actions: np.ndarray) -> dict:
        """Action sweep and counterfactual figures over a batch of histories.

        Given frames `[B, T, H, W, 3]` and their actions `[B, T]`: how far apart the
        predictions of the candidate actions are (`sens/...`) and how much the prediction
        moves when the actions are shuffled or all set to action 0 (`cf/...`). Latent-space
        figures, as `attention_metrics` computes them.
        """
        self.interactive_since = time.perf_counter()
        with self.lock:
            latents, actions = self._history_tensors(frames, actions)
            predict = self.world_model.predict
            result = {}
            if len(self.action_space) > 1:
                result.update(action_sweep_diversity(predict, latents, actions,
                                                     len(self.action_space)))
            generator = torch.Generator(device=latents.device).manual_seed(COUNTERFACTUAL_SEED)
            result.update(counterfactual_changes(predict, latents, actions, generator))
        result['varied_actions'] = bool(len(torch.unique(actions)) > 1)
        return result

    @torch.no_grad()
    def attention(self, frames: np.ndarray, actions) -> dict | None:
        """Per-layer attention of the transformer predictor for one history; None for others.

        frames `[T, H, W, 3]`, actions `[T]` (the last is the candidate). Returns metrics
        (`attn/layer0/apa`, ..., and their means `attn/apa`), the head-averaged maps `[L, L]`
        and, per layer, the readout tokens' attention over the current frame's tokens as a
        grid `[h, w]` and on the action token.
        """
        predictor = self.world_model.predictor
        if not hasattr(predictor, 'tokens_per_frame'):
            return None
        self.interactive_since = time.perf_counter()
        with self.lock:
            latents, actions = self._history_tensors(np.asarray(frames)[None],
                                                     np.asarray(actions)[None])
            _, maps = capture_attention_maps(
                predictor, lambda: self.world_model.predict(latents, actions))
        if not maps:
            return None
        n = predictor.tokens_per_frame
        layout = TokenLayout.for_maps(maps[0].shape[-1], n)
        metrics = attention_metrics(maps, layout)
        readout = layout.readout()
        last_step = layout.steps == layout.steps.max()
        frame_keys = last_step & (layout.types == 0)
        layers = []
        for attention in maps:
            mean = attention[0].float().mean(0)  # [L, L] over heads
            looked = mean[readout].mean(0)  # [L]: the readout tokens' attention over keys
            layers.append({'matrix': mean.cpu().numpy(),
                           'grid': looked[frame_keys].reshape(predictor.grid).cpu().numpy(),
                           'action_mass': float(looked[last_step & (layout.types == 1)].sum())})
        return {'metrics': metrics, 'layers': layers, 'grid': list(predictor.grid)}


def load_view(path, device: str = 'cpu') -> ModelView:
    """A ModelView of the checkpoint file or folder at `path` (read once, never written)."""
    from devrobot_world_model.learning import checkpoint_io
    from devrobot_world_model.model.compute_device import resolve_device
    from devrobot_world_model.model.model_io import model_from_payload
    from devrobot_world_model.model.prediction_api import PredictionModel

    payload = checkpoint_io.load_checkpoint(path)
    model, action_space = model_from_payload(payload)
    counters = payload.get('counters') or {}
    updates = counters.get('updates') if isinstance(counters, dict) else None
    return ModelView(PredictionModel(model.to(resolve_device(device)), action_space), str(path),
                     None if updates is None else int(updates))


def _label(command) -> str:
    return f'L{command.left:g} R{command.right:g} {command.duration_s:g}s'
