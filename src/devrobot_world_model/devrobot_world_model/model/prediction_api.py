"""The public prediction API: a trained world model as numpy in, numpy out.

Use it as `model = devrobot_world_model.load('runs/dot/checkpoints')`, then
`model.predict(frames, [model.action_space[1]] * len(frames))` gives uint8 `[B, H, W, 3]`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from devrobot_core.motor import action_index, MotorCommand
from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.learning.hierarchy import LATENT, method_plan, predict_horizon
from devrobot_world_model.model.compute_device import resolve_device
from devrobot_world_model.model.model_io import model_checkpoint, model_from_payload
from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images


class PredictionModel:
    """A loaded world model: `predict`, `encode`, `decode`, `reconstruct`, `action_space`."""

    def __init__(self, model, action_space: Sequence[MotorCommand]):
        self.model = model.eval()
        self.action_space = tuple(action_space)
        self.image_size = model.spec.image_size
        self.device = next(model.parameters()).device  # inputs go there, outputs come back

    def _images(self, frames) -> torch.Tensor:
        frames = np.asarray(frames)
        size = self.image_size
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != (size, size, 3):
            raise ValueError(f'frames must be uint8 [B, {size}, {size}, 3], got '
                             f'{frames.dtype} {list(frames.shape)}')
        return to_unit_images(torch.from_numpy(np.ascontiguousarray(frames)).to(self.device))

    def command_indices(self, commands: Sequence) -> torch.Tensor:
        """Indices into `action_space` of MotorCommands or dicts with left/right/duration."""
        indices = []
        for command in commands:
            if isinstance(command, dict):
                command = MotorCommand(float(command['left']), float(command['right']),
                                       float(command['duration']))
            index = action_index(command, self.action_space)
            if index is None:
                raise ValueError(f'{command} is not in the model\'s action space '
                                 f'{list(self.action_space)}')
            indices.append(index)
        return torch.tensor(indices, dtype=torch.int64, device=self.device)

    @torch.no_grad()
    def encode(self, frames) -> torch.Tensor:
        """uint8 `[B, H, W, 3]` -> latent tokens, float `[B, N, D]` (on the model's device)."""
        return self.model.encode(self._images(frames))

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latent tokens `[B, N, D]` -> uint8 frames `[B, H, W, 3]`."""
        latents = torch.as_tensor(latents, device=self.device)
        return to_uint8_images(torch.sigmoid(self.model.decode(latents))).cpu().numpy()

    def reconstruct(self, frames) -> np.ndarray:
        """uint8 `[B, H, W, 3]` through the autoencoder -> uint8 `[B, H, W, 3]`."""
        return self.decode(self.encode(frames))

    @torch.no_grad()
    def predict(self, frames, commands: Sequence) -> np.ndarray:
        """The next frame after each frame's command: uint8 `[B, H, W, 3]`."""
        actions = self.command_indices(commands)
        latents = self.encode(frames)
        if len(actions) != len(latents):
            raise ValueError(f'{len(latents)} frames but {len(actions)} commands')
        return self.decode(self.model.predict(latents[:, None], actions[:, None]))

    @property
    def levels(self) -> int:
        """How many hierarchy levels the model has created (level 0 included)."""
        return self.model.active_levels

    def level_created_at(self) -> list:
        """The step at which each level was created (level 0: 0; -1: not created)."""
        created = getattr(self.model, 'level_created_at', None)
        return [0] if created is None else [int(v) for v in created]

    @torch.no_grad()
    def predict_sequence(self, frames, command_sequences: Sequence, method: str = 'composed'):
        """The frame after each frame's sequence of commands: (uint8 `[B, H, W, 3]`, calls).

        `method`: 'composed' (the created levels, largest first: 13 = 8 + 4 + 1), 'rollout'
        (level 0 once per command) or 'direct' (the one level whose span is the sequence's
        length; None when there is none). Between calls the prediction goes through uint8
        pixels and is encoded again, as a frame from the camera would be; with the suffix
        '-latent' ('composed-latent', 'rollout-latent') the predicted latents go straight into
        the next call, as in a rollout imagined in latent space.
        """
        actions = torch.stack([self.command_indices(row) for row in command_sequences])
        plan = method_plan(method, actions.shape[1], self.levels)
        if plan is None:
            return None
        if method.endswith(LATENT):
            def latent_step(level, latents, chunk):
                return self.model.predict_level(level, latents, chunk)[0]
            latents, calls = predict_horizon(latent_step, self.encode(frames), actions, plan)
            return self.decode(latents), calls

        def step(level, pixels, chunk):
            predicted, _ = self.model.predict_level(level, self.encode(pixels), chunk)
            return self.decode(predicted)
        return predict_horizon(step, np.asarray(frames), actions, plan)

    @torch.no_grad()
    def level_codes(self, level: int, command_sequences: Sequence):
        """The discrete code of each command sequence at `level` `[B]`, or None (no codebook)."""
        actions = torch.stack([self.command_indices(row) for row in command_sequences])
        _, codes, _ = self.model.levels[level - 1].sequence(actions)
        return None if codes is None else codes.cpu().numpy()


def load(path, device: str = 'cpu') -> PredictionModel:
    """A model from a checkpoint file or a checkpoints folder (falls back to its backup).

    `device`: 'cpu' (default), 'cuda', 'cuda:N' or 'auto' (a GPU when torch finds one).
    """
    payload = checkpoint_io.load_checkpoint(path, check=model_checkpoint)
    model, action_space = model_from_payload(payload)
    return PredictionModel(model.to(resolve_device(device)), action_space)
