"""The world model: autoencoder + action-conditioned predictor + small heads, and its loss.

`WorldModel` is built from plain configs (so a checkpoint rebuilds it), works on float images
`[B, 3, H, W]` in [0, 1], and is split into named steps: `encode`, `decode`, `predict`,
`forward_loss`. Besides the predictor:
- the action classifier ("which command produced this change?"), weight 0 by default as in
  the original;
- the uncertainty head: it learns to predict the log of the prediction's own pixel loss for a
  (frame, action) pair (the `predicted-error` selector's score);
- the ensemble heads (`ensemble.py`), whose disagreement is the epistemic part of the
  `uncertainty` score, and the learning-progress tracker (`learning_progress.py`), buffers
  holding the error on held-back transitions;
- the hierarchy levels (`hierarchy.py`): level L predicts 2**L steps ahead from an encoding of
  the action sequence, and `level_created_at` records when each level was created.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from devrobot_core.config_fields import check_at_least, config_from_dict, setting
from devrobot_core.motor import MAX_IMAGE_SIDE_PX
from devrobot_world_model.model.autoencoders import (
    build_autoencoder, CnnAutoencoderConfig, VitAutoencoderConfig)
from devrobot_world_model.learning.ensemble import (
    bootstrap_draws, EnsembleConfig, EnsembleHeads, every_sample)
from devrobot_world_model.learning.hierarchy import HierarchyConfig, LevelPredictor, MAX_LEVELS
from devrobot_world_model.learning.learning_progress import ProgressConfig, ProgressTracker
from devrobot_world_model.model.pixel_losses import explained_variance, pixel_loss, PIXEL_LOSSES
from devrobot_world_model.model.predictors import (
    build_predictor, history_length, LstmPredictorConfig, TransformerPredictorConfig)


AUTOENCODERS = ('cnn', 'vit')
PREDICTORS = ('transformer', 'lstm')
PREDICTION_TRAINS = ('predictor', 'encoder', 'autoencoder')


@dataclass
class WorldModelConfig:
    """Which parts make the world model, and how its loss weighs them."""

    autoencoder: str = setting(
        'cnn', "Autoencoder: 'cnn' (default) or 'vit' (the original's masked autoencoder; the "
        'learning-rate schedule follows it: see --learner.lr-half-life-updates).')
    predictor: str = setting('transformer', "Predictor: 'transformer' (default) or 'lstm'.")
    pixel_loss: str = setting(
        'bce', 'Pixel loss: ' + ', '.join(PIXEL_LOSSES) + " ('bce': a gradient on every wrong "
        "pixel, however saturated; see docs/world_model.md).")
    focal_gamma: float = setting(2.0, "Focal loss exponent (pixel_loss 'focal').")
    foreground_weight: float = setting(50.0, "Foreground weight (pixel_loss 'weighted_mse').")
    reconstruction_weight: float = setting(1.0, 'Weight of the autoencoder reconstruction loss.')
    prediction_weight: float = setting(
        1.0, 'Weight of the predicted frame pixel loss (the original: 1.0).')
    latent_weight: float = setting(
        0.2, 'Weight of the predicted-latent loss against the encoded next frame (orig. 0.2).')
    prediction_trains: str = setting(
        'predictor', "What the predicted frame's losses train besides the predictor: "
        "'predictor' (the autoencoder learns from reconstruction alone, so the predictor's "
        "early mistakes never blur the decoder), 'encoder' (also the encoder), 'autoencoder' "
        "(encoder and decoder, as in the original).")
    action_weight: float = setting(
        0.0, 'Weight of the action-classification loss (the original: 0, disabled).')
    uncertainty_weight: float = setting(
        0.1, 'Weight of the uncertainty head loss (predicting its own log pixel loss).')
    hierarchy_levels: int = setting(
        1, 'Most predictor levels: level L predicts the frame after 2**L actions; each is '
        'created once the one below has been competent on fresh runs (--hierarchy.r2, '
        '--hierarchy.position-px). 1: primitive actions only.')

    def __post_init__(self):
        for name, allowed in (('autoencoder', AUTOENCODERS), ('predictor', PREDICTORS),
                              ('pixel_loss', PIXEL_LOSSES),
                              ('prediction_trains', PREDICTION_TRAINS)):
            if getattr(self, name) not in allowed:
                options = ', '.join(map(repr, allowed[:-1])) + f' or {allowed[-1]!r}'
                raise ValueError(f'unknown {name} {getattr(self, name)!r}: expected {options}')
        check_at_least(self, 1, 'hierarchy_levels')
        check_at_least(self, 0, 'focal_gamma', 'foreground_weight', 'reconstruction_weight',
                       'prediction_weight', 'latent_weight', 'action_weight',
                       'uncertainty_weight')


PART_CONFIGS = {
    'cnn': CnnAutoencoderConfig,
    'vit': VitAutoencoderConfig,
    'transformer': TransformerPredictorConfig,
    'lstm': LstmPredictorConfig,
    'ensemble': EnsembleConfig,
    'progress': ProgressConfig,
    'hierarchy': HierarchyConfig,
}
CONFIG_CLASSES = (WorldModelConfig,) + tuple(PART_CONFIGS.values())
OPTIONAL_PARTS = ('ensemble', 'progress', 'hierarchy')
# level_up_error: levels are created on held-out competence (hierarchy.py's settings) now
RETIRED_SETTINGS = ('level_up_error',)
MAX_ACTIONS = 4096  # the most primitive actions a spec may name
# Explained-variance metrics use the first few samples of a batch: on full 224 px frames the
# whole batch cost a tenth of a training update, and 8 frames give the same curve.
METRIC_SAMPLES = 8


@dataclass
class ModelSpec:
    """Everything needed to rebuild a WorldModel: configs, image size, number of actions."""

    model: WorldModelConfig
    parts: dict  # name ('cnn', 'vit', 'transformer', 'lstm') -> its config
    image_size: int
    n_actions: int

    def to_dict(self) -> dict:
        return {'model': dataclasses.asdict(self.model), 'image_size': self.image_size,
                'n_actions': self.n_actions,
                'parts': {k: dataclasses.asdict(v) for k, v in self.parts.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> 'ModelSpec':
        """The spec `to_dict` wrote; ValueError naming the first key or value that does not fit.

        Autoencoder and predictor parts left out get their defaults (the model built from it is
        checked against the stored weights anyway); an OPTIONAL_PARTS one left out stays out (a
        checkpoint written before it has no weights for it). Settings retired since
        (RETIRED_SETTINGS) are dropped.
        """
        if not isinstance(data, dict):
            raise ValueError(f'the spec is a {type(data).__name__}, not a dict')
        missing = [key for key in ('model', 'parts', 'image_size', 'n_actions')
                   if key not in data]
        if missing:
            raise ValueError(f'the spec lacks {", ".join(missing)}')
        stored = data['parts']
        if not isinstance(stored, dict) or not set(stored) <= set(PART_CONFIGS):
            raise ValueError(f'the spec has parts {stored!r}: expected a dict with keys among '
                             f'{", ".join(PART_CONFIGS)}')
        parts = {name: config_from_dict(kind, stored[name]) if name in stored else kind()
                 for name, kind in PART_CONFIGS.items()
                 if name in stored or name not in OPTIONAL_PARTS}
        for key, top in (('image_size', MAX_IMAGE_SIDE_PX), ('n_actions', MAX_ACTIONS)):
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ValueError(f'the spec has {key} {value!r}: expected an int in [1, {top}]')
        model = data['model']
        if isinstance(model, dict):
            model = {k: v for k, v in model.items() if k not in RETIRED_SETTINGS}
        return cls(config_from_dict(WorldModelConfig, model), parts,
                   data['image_size'], data['n_actions'])

    @classmethod
    def create(cls, image_size: int, n_actions: int, configs=()) -> 'ModelSpec':
        """Spec from any of the CONFIG_CLASSES instances given; defaults for the others."""
        given = {type(c): c for c in configs}
        parts = {name: given.get(kind, kind()) for name, kind in PART_CONFIGS.items()}
        return cls(given.get(WorldModelConfig, WorldModelConfig()), parts, image_size, n_actions)


class WorldModel(nn.Module):
    """Encode frames to token grids, predict the next grid per action, decode to pixels."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        config = spec.model
        if config.pixel_loss not in PIXEL_LOSSES:
            raise ValueError(f'unknown pixel_loss {config.pixel_loss!r}: '
                             f'expected one of {PIXEL_LOSSES}')
        if spec.n_actions < 1:
            raise ValueError('the action space is empty')
        if config.prediction_trains not in PREDICTION_TRAINS:
            raise ValueError(f'unknown prediction_trains {config.prediction_trains!r}: '
                             f'expected one of {PREDICTION_TRAINS}')
        self.spec, self.config, self.n_actions = spec, config, spec.n_actions
        self.autoencoder = build_autoencoder(config.autoencoder, spec.parts.get(
            config.autoencoder, PART_CONFIGS.get(config.autoencoder, dict)()), spec.image_size)
        grid, d = self.autoencoder.grid, self.autoencoder.latent_dim
        self.predictor = build_predictor(config.predictor, spec.parts.get(
            config.predictor, PART_CONFIGS.get(config.predictor, dict)()), grid, d,
            spec.n_actions)
        self.history = history_length(config.predictor, spec.parts[config.predictor])
        if not 1 <= config.hierarchy_levels <= MAX_LEVELS:
            raise ValueError(f'hierarchy_levels must be in [1, {MAX_LEVELS}], got '
                             f'{config.hierarchy_levels}')
        hierarchy = spec.parts.get('hierarchy', HierarchyConfig())
        self.levels = nn.ModuleList([
            LevelPredictor(hierarchy, grid, d, spec.n_actions, self.level_span(level))
            for level in range(1, config.hierarchy_levels)])
        if config.hierarchy_levels > 1:  # the step at which each level was created; -1: not yet
            self.register_buffer('level_created_at', torch.tensor(
                [0] + [-1] * (config.hierarchy_levels - 1), dtype=torch.int64))
        self.action_head = nn.Sequential(nn.Linear(2 * d, d), nn.GELU())
        self.action_out = nn.Linear(d, spec.n_actions)
        self.uncertainty_head = nn.Sequential(
            nn.Linear(d + spec.n_actions, 64), nn.GELU(), nn.Linear(64, 1))
        # Parts a spec may lack (a checkpoint written before them): the model has none then.
        ensemble, progress = spec.parts.get('ensemble'), spec.parts.get('progress')
        self.ensemble = EnsembleHeads(ensemble, grid, d, spec.n_actions) if (
            ensemble is not None and ensemble.ensemble_heads) else None
        self.progress = ProgressTracker(
            spec.n_actions, progress.progress_window, progress.progress_min_fall) if (
            progress is not None and progress.progress_held_back) else None

    # -- named steps ------------------------------------------------------------------------

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """`[B, 3, H, W]` in [0, 1] -> latent tokens `[B, N, D]`."""
        return self.autoencoder.encode(images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latent tokens `[B, N, D]` -> pixel logits `[B, 3, H, W]`."""
        return self.autoencoder.decode(latents)

    def predict(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """History `[B, T, N, D]` and actions `[B, T]` -> next latent `[B, N, D]`."""
        return self.predictor.predict(latents, actions)

    def classify_action(self, latents: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
        """Which action turns `latents` `[B, N, D]` into `predicted` `[B, N, D]`? `[B, A]`."""
        pair = torch.cat([latents, predicted], dim=-1)  # [B, N, 2D]
        return self.action_out(self.action_head(pair).mean(dim=1))

    def predicted_log_error(self, latents: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Uncertainty: predicted log pixel loss of predicting `actions` `[B]` from `[B, N, D]`."""
        features = torch.cat([latents.detach().mean(dim=1),
                              F.one_hot(actions, self.n_actions).to(latents.dtype)], dim=-1)
        return self.uncertainty_head(features).squeeze(-1)  # [B]

    def disagreement(self, latents: torch.Tensor, actions: torch.Tensor):
        """The ensemble's disagreement about `actions` `[B]` from `[B, N, D]`: `[B]`, or None.

        `[1, N, D]`: one frame, scored for each action.
        """
        return None if self.ensemble is None else self.ensemble.disagreement(latents, actions)

    def pixel_loss(self, logits: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
        c = self.config
        return pixel_loss(logits.float(), target, c.pixel_loss, c.focal_gamma,
                          c.foreground_weight, mask)

    def forward_loss(self, frames: torch.Tensor, actions: torch.Tensor,
                     next_frames: torch.Tensor) -> tuple:
        """One training step's loss on a minibatch of transitions.

        frames `[B, T, 3, H, W]` (history, the current frame last), actions `[B, T]`,
        next_frames `[B, 3, H, W]`. Returns (total loss, per-sample prediction pixel loss `[B]`,
        metrics dict of floats-to-be).
        """
        c = self.config
        b, t = actions.shape
        current = frames[:, -1]  # [B, 3, H, W]
        latents = self.encode(frames.flatten(0, 1)).unflatten(0, (b, t))  # [B, T, N, D]
        mask_ratio = self.autoencoder.draw_mask_ratio() if self.training else 0.0
        if mask_ratio > 0:
            recon_logits, recon_mask = self.autoencoder.reconstruction_logits(current, mask_ratio)
        else:  # reuse the unmasked encoding of the current frame
            recon_logits, recon_mask = self.decode(latents[:, -1]), None
        predicted, predicted_logits = self.predict_for_loss(
            self.predictor, latents, actions)  # [B, N, D], [B, 3, H, W]
        with torch.no_grad():
            target_latents = self.encode(next_frames)  # [B, N, D], a fixed target
        recon = self.pixel_loss(recon_logits, current, recon_mask)  # [B]
        prediction = self.pixel_loss(predicted_logits, next_frames)  # [B]
        latent = (predicted.float() - target_latents.float()).pow(2).mean(dim=(1, 2))  # [B]
        log_error = self.predicted_log_error(latents[:, -1], actions[:, -1])
        uncertainty = (log_error.float() - prediction.detach().clamp_min(1e-8).log()).pow(2)
        total = (c.reconstruction_weight * recon.mean() + c.prediction_weight * prediction.mean()
                 + c.latent_weight * latent.mean() + c.uncertainty_weight * uncertainty.mean())
        metrics = {'reconstruction_loss': recon.mean(), 'prediction_patch_loss': prediction.mean(),
                   'prediction_latent_loss': latent.mean(), 'uncertainty_loss': uncertainty.mean(),
                   'mask_ratio': torch.tensor(mask_ratio)}
        if self.ensemble is not None:
            heads = len(self.ensemble.heads)  # bootstrap draws in training; all samples in eval
            draws = bootstrap_draws(heads, b, self.spec.parts['ensemble'].ensemble_draws,
                                    latents.device) if self.training else \
                every_sample(heads, b, latents.device)
            ensemble = self.ensemble.loss(latents[:, -1], actions[:, -1], target_latents, draws)
            total = total + self.spec.parts['ensemble'].ensemble_weight * ensemble
            metrics['ensemble_loss'] = ensemble
        if c.action_weight > 0:
            action_loss = F.cross_entropy(
                self.classify_action(latents[:, -1], predicted).float(), actions[:, -1])
            total = total + c.action_weight * action_loss
            metrics['prediction_action_loss'] = action_loss
        with torch.no_grad():
            k = METRIC_SAMPLES
            metrics['prediction_explained_variance'] = explained_variance(
                torch.sigmoid(predicted_logits[:k].float()), next_frames[:k])
            metrics['reconstruction_explained_variance'] = explained_variance(
                torch.sigmoid(recon_logits[:k].float()), current[:k])
        metrics['total_loss'] = total
        return total, prediction.detach(), metrics

    def predict_for_loss(self, predictor, latents: torch.Tensor, actions: torch.Tensor) -> tuple:
        """(predicted latents, their pixel logits) with `prediction_trains` applied.

        The predictor always learns from what follows; the encoder only unless 'predictor',
        the decoder only with 'autoencoder'.
        """
        trains = self.config.prediction_trains
        # The predictor runs in float32 even under bfloat16 autocast: it is the part that learns
        # "move", the finer prediction, and a small part of the compute.
        with torch.autocast(latents.device.type, enabled=False):
            predicted = predictor.predict(
                (latents.detach() if trains == 'predictor' else latents).float(), actions)
        with self.frozen_decoder(trains != 'autoencoder'):
            return predicted, self.decode(predicted)

    @contextlib.contextmanager
    def frozen_decoder(self, frozen: bool = True):
        """Inside, decoding passes gradients to its input latents but not to the decoder."""
        parameters = [p for p in self.autoencoder.parameters() if p.requires_grad] \
            if frozen else []
        for parameter in parameters:
            parameter.requires_grad_(False)
        try:
            yield
        finally:
            for parameter in parameters:
                parameter.requires_grad_(True)

    @staticmethod
    def level_span(level: int) -> int:
        """Primitive actions one prediction of `level` spans (0: a single action)."""
        return 2 ** level

    @property
    def active_levels(self) -> int:
        """How many levels exist so far (level 0 included)."""
        created = getattr(self, 'level_created_at', None)
        return 1 if created is None else int((created >= 0).sum())

    def predict_level(self, level: int, latents: torch.Tensor, actions: torch.Tensor) -> tuple:
        """Latents `[B, N, D]` after `actions` `[B, 2**level]`: (latents, codes or None).

        Level 0 is the primitive predictor (one action, the current frame as its history).
        """
        if level == 0:
            return self.predict(latents[:, None], actions[:, :1]), None
        predicted, codes, _ = self.levels[level - 1](latents, actions)
        return predicted, codes

    def level_loss(self, level: int, frames: torch.Tensor, actions: torch.Tensor,
                   next_frames: torch.Tensor) -> tuple:
        """Loss of predictor `level` >= 1: (loss, mean prediction pixel loss, codebook loss).

        frames `[B, 3, H, W]`, actions `[B, 2**level]`, the frame after them `[B, 3, H, W]`.
        `prediction_trains` applies as for level 0.
        """
        c = self.config
        latents = self.encode(frames)  # [B, N, D]
        if c.prediction_trains == 'predictor':
            latents = latents.detach()
        with torch.autocast(latents.device.type, enabled=False):  # as level 0: float32
            predicted, _, code_loss = self.levels[level - 1](latents.float(), actions)
        with self.frozen_decoder(c.prediction_trains != 'autoencoder'):
            logits = self.decode(predicted)
        prediction = self.pixel_loss(logits, next_frames).mean()
        with torch.no_grad():
            target_latents = self.encode(next_frames)
        latent = (predicted.float() - target_latents.float()).pow(2).mean()
        loss = c.prediction_weight * prediction + c.latent_weight * latent + code_loss
        return loss, prediction, code_loss

    def reconstruction_loss(self, images: torch.Tensor) -> tuple:
        """Autoencoder-only loss on `[B, 3, H, W]` (the quality gate's idle training)."""
        mask_ratio = self.autoencoder.draw_mask_ratio() if self.training else 0.0
        logits, mask = self.autoencoder.reconstruction_logits(images, mask_ratio)
        loss = self.pixel_loss(logits, images, mask).mean()
        return loss, {'reconstruction_loss': loss, 'mask_ratio': torch.tensor(mask_ratio)}
