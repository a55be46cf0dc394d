"""The online learner: frames in, commands out, learning from a replay buffer as it goes.

It implements the exploration Policy (`devrobot_core.exploration`): `select`, `idle`, `observe`,
plus `inspect`, `save` and `close`. Replay ratio: every environment step earns
`updates_per_step` minibatch updates (fractions accumulate, so 0.25 is one update every fourth
step). On this 2-core CPU a batch-32 update of the default model takes about 0.25-0.3 s, so
acting at 20 steps/s leaves room for about one update every 6-7 steps; the default (1 update per
step) favours learning per step, which is what the 1,000-step target measures; lower it for
real-time use on a slow computer (see docs/world_model.md for the measured figures).
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from devrobot_core.config_fields import check_at_least, setting
from devrobot_core.motor import action_index, MotorStatus, Transition
from devrobot_core.selectors import make_selector
from devrobot_world_model.learning import checkpoint_io, lr_schedule
from devrobot_world_model.learning.cpu_memory import keep_freed_memory
from devrobot_world_model.learning.metrics import (
    ActionTimer, log_prediction_grid, MetricsLogger, StreakCounter)
from devrobot_world_model.learning.replay_buffer import ReplayBuffer
from devrobot_world_model.learning.training import (
    autocast_context, make_optimizer, train_autoencoder_step, train_level_step, train_step)
from devrobot_world_model.model.compute_device import DEVICE_HELP, resolve_device
from devrobot_world_model.model.model_io import (
    build_model, check_action_space, check_frame, checkpoint_payload, learner_checkpoint,
    model_spec)
from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images
from devrobot_world_model.model.precision import PRECISIONS, use_bf16
from devrobot_world_model.model.world_model import ModelSpec


@dataclass
class LearnerConfig:
    """How the world model learns online and chooses actions."""

    policy: str = setting(
        'uncertainty', 'Action selector: uncertainty (largest predicted error), random[:SEED], '
        'constant:N, sequence:NAME|N,N,...')
    epsilon: float = setting(
        0.1, 'Uncertainty policy: probability of a uniformly random action instead.')
    batch_size: int = setting(32, 'Transitions per minibatch update.')
    updates_per_step: float = setting(
        1.0, 'Minibatch updates per environment step (0.25: one every 4th step; 0: none).')
    warmup_transitions: int = setting(32, 'Transitions collected before the first update.')
    replay_capacity: int = setting(5000, 'Transitions kept in the replay buffer.')
    autoencoder_lr: float = setting(1e-3, 'Default learning rate of the autoencoder.')
    predictor_lr: float = setting(
        2e-3, "Default learning rate of predictor and heads (twice the autoencoder's: with the "
        'autoencoder learning from reconstruction alone, the predictor must catch up).')
    lr_half_life_updates: int = setting(lr_schedule.AUTO, lr_schedule.HELP)
    lr_floor: float = setting(
        0.25, 'Smallest fraction of the learning rates the decay reaches (and keeps, so a long '
        'run goes on learning).')
    weight_decay: float = setting(0.0, 'AdamW weight decay.')
    grad_clip: float = setting(1.0, 'Gradient norm clip; 0 disables clipping.')
    augment_shift_px: int = setting(
        16, 'Random-shift augmentation of whole transitions (DrQ), up to this many px; 0: off.')
    augment_wrap: bool = setting(
        True, 'Shift by rolling around (exact for the toroidal world); off: replicate edges, '
        'for camera images.')
    device: str = setting('auto', DEVICE_HELP)
    precision: str = setting(
        'auto', "Training arithmetic: 'bf16' (bfloat16 autocast), 'fp32', or 'auto': bf16 where "
        'the device runs it natively (a CPU with AVX512-BF16 or AMX, a recent GPU), else fp32.')
    seed: int = setting(0, 'Seed of weights, minibatches and exploration.')
    checkpoint_every: int = setting(500, 'Save a checkpoint every N training updates; 0: never.')
    checkpoint_replay: int = setting(
        100, 'Most recent transitions stored in a checkpoint (refill the replay on resume).')
    detailed_metrics_every: int = setting(
        100, 'Updates between gradient-norm / update-ratio metrics (they cost a copy).')
    quality_gate: bool = setting(
        False, "The original's gate: while reconstruction loss is above quality_threshold, "
        'train the autoencoder instead of acting.')
    quality_threshold: float = setting(2e-4, 'Reconstruction loss below which the robot acts.')
    error_triggered: bool = setting(
        False, "The original's trigger: train the predictor only while the fresh prediction "
        'error of the newest transition is above error_threshold.')
    error_threshold: float = setting(2e-4, 'Prediction loss above which training is triggered.')
    max_triggered_updates: int = setting(10, 'Most updates one triggering transition may run.')
    wandb_project: str = setting('', 'Also send metrics to this wandb project (optional).')
    wandb_mode: str = setting(
        'online', "wandb's mode with a project: 'online', or 'offline' (no account or network; "
        '`wandb sync` later).')
    wandb_images_every: int = setting(
        10, 'With a wandb project: steps between uploads of the prediction grid (current frame, '
        "reconstruction, every action's prediction), as the original; 0: never.")

    def __post_init__(self):
        for name in ('batch_size', 'replay_capacity'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be at least 1')
        if self.updates_per_step < 0 or not 0 <= self.epsilon <= 1:
            raise ValueError('updates_per_step must be >= 0 and epsilon in [0, 1]')
        if self.precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {self.precision!r}')
        if self.lr_half_life_updates < lr_schedule.AUTO:
            raise ValueError(f'lr_half_life_updates must be >= 0, or {lr_schedule.AUTO} (auto)')
        check_at_least(self, 0, 'warmup_transitions', 'autoencoder_lr', 'predictor_lr',
                       'lr_floor', 'weight_decay', 'grad_clip', 'augment_shift_px', 'seed',
                       'checkpoint_every', 'checkpoint_replay', 'detailed_metrics_every',
                       'max_triggered_updates')


class Learner:
    """The world model behind the Policy protocol; resumes from `checkpoint_dir` if present."""

    def __init__(self, action_space: Sequence, config: LearnerConfig | None = None,
                 model_configs: Sequence = (), run_dir=None, checkpoint_dir=None, logger=None,
                 autoencoder_lr: float | None = None, predictor_lr: float | None = None):
        self.action_space = tuple(action_space)
        self.config = config or LearnerConfig()
        self.model_configs = tuple(model_configs)
        self.run_dir = None if run_dir is None else pathlib.Path(run_dir)
        self.checkpoint_dir = (pathlib.Path(checkpoint_dir) if checkpoint_dir is not None else
                               None if self.run_dir is None else self.run_dir / 'checkpoints')
        self._explicit_lr = (autoencoder_lr, predictor_lr)
        if logger is None and self.run_dir is not None:
            logger = MetricsLogger(self.run_dir, self.config.wandb_project or None,
                                   self.config.wandb_mode, config=dataclasses.asdict(self.config))
        self.logger = logger
        n = len(self.action_space)
        self._fallback = (None if self.config.policy == 'uncertainty'
                          else make_selector(self.config.policy, n, self.config.seed))
        self._rng = np.random.default_rng(self.config.seed)
        torch.manual_seed(self.config.seed)
        keep_freed_memory()
        self.device = resolve_device(self.config.device)
        self.bf16 = use_bf16(self.config.precision, self.device.type)  # 'auto' asks the device
        self.model = self.optimizer = self.replay = self._context = None
        self.steps = self.updates = self.skipped = 0
        self._update_credit = 0.0
        self._timer, self._streak = ActionTimer(), StreakCounter()
        self._last_recon_loss = float('inf')
        self.active_levels = 1  # hierarchy levels created so far (automatic, see _level_up)
        self._level_errors = {}  # level -> running mean of its prediction loss
        self._started = time.perf_counter()
        self._resumed_at_updates = None  # a resumed run saves only once it has learned
        if self.checkpoint_dir is not None and checkpoint_io.has_checkpoint(self.checkpoint_dir):
            self._resume(checkpoint_io.load_checkpoint(self.checkpoint_dir,
                                                       check=learner_checkpoint))
            self._resumed_at_updates = self.updates
        self._saved_at_updates = self.updates

    # -- construction ---------------------------------------------------------------------------

    def _build(self, image_size: int, frame_shape: tuple, spec=None) -> None:
        spec = spec or model_spec(image_size, len(self.action_space), self.model_configs)
        self.model = build_model(spec).to(self.device)
        self.history = self.model.history
        # (frame, action) of the last transitions observed: the history `inspect` predicts
        # from, so a model trained on several frames is also asked with several
        self._context = collections.deque(maxlen=self.history - 1)
        lrs = [explicit if explicit is not None else default for explicit, default in
               zip(self._explicit_lr, (self.config.autoencoder_lr, self.config.predictor_lr))]
        self.optimizer = make_optimizer(self.model, *lrs, self.config.weight_decay)
        self.lr_half_life = lr_schedule.resolve_half_life(self.config.lr_half_life_updates,
                                                          self.model.config.autoencoder)
        for group in self.optimizer.param_groups:
            group['initial_lr'] = group['lr']  # the rate the decay starts from
        self.replay = ReplayBuffer(self.config.replay_capacity, frame_shape, self.config.seed)

    def _ensure_model(self, pixels: np.ndarray) -> None:
        if self.model is None:
            if pixels.ndim != 3 or pixels.shape[0] != pixels.shape[1] or pixels.shape[2] != 3:
                raise ValueError(f'frames must be square rgb8 [S, S, 3], got {pixels.shape}')
            self._build(pixels.shape[0], pixels.shape)
        check_frame(pixels, self.model.spec.image_size)

    def _resume(self, payload: dict) -> None:
        """Continue from a checkpoint: configs given to the learner must build what it holds."""
        check_action_space(payload, self.action_space)
        size = int(payload['spec']['image_size'])
        spec = (model_spec(size, len(self.action_space), self.model_configs)
                if self.model_configs else ModelSpec.from_dict(payload['spec']))
        self._build(size, (size, size, 3), spec)
        checkpoint_io.load_state_dict_checked(self.model, payload['model'], 'model')
        self.optimizer.load_state_dict(payload['optimizer'])
        for group, explicit in zip(self.optimizer.param_groups, self._explicit_lr):
            if explicit is not None:  # an explicit learning rate beats the stored one
                group['lr'] = group['initial_lr'] = explicit
        counters = payload['counters']
        self.steps, self.updates = int(counters['steps']), int(counters['updates'])
        self.skipped = int(counters['skipped'])
        self._update_credit = float(counters['update_credit'])
        self._last_recon_loss = float(counters['last_recon_loss'])
        self.active_levels = int(counters['active_levels'])
        self._level_errors = {int(k): float(v) for k, v in counters['level_errors'].items()}
        replay = {k: np.asarray(v) for k, v in payload['replay'].items()}
        self.replay.extend(replay)
        checkpoint_io.restore_rng_state(payload['rng'], self.replay.rng)
        self._rng.bit_generator.state = payload['policy_rng']
        if self._fallback is not None:  # a selector's own state is not stored: reseed it
            self._fallback = make_selector(self.config.policy, len(self.action_space),
                                           self.config.seed + self.steps)

    # -- the Policy protocol ----------------------------------------------------------------

    @torch.no_grad()
    def scores(self, pixels: np.ndarray) -> list:
        """Per-action uncertainty: the predicted log pixel loss of predicting each action."""
        self._ensure_model(pixels)
        self.model.eval()
        latents = self.model.encode(self._unit(pixels))  # [1, N, D]
        n = len(self.action_space)
        log_error = self.model.predicted_log_error(latents.expand(n, -1, -1),
                                                   torch.arange(n, device=self.device))  # [A]
        return [float(v) for v in log_error]

    def select(self, pixels: np.ndarray) -> tuple:
        """Index of the action to take, or None while the quality gate holds the robot."""
        started = time.perf_counter()
        self._ensure_model(pixels)
        if self.config.quality_gate and self._reconstruction_loss(pixels) > \
                self.config.quality_threshold:
            return None, {'selector': 'quality_gate', 'act/gated': 1}
        scores = self.scores(pixels)
        if self._fallback is not None:
            index, info = self._fallback(pixels)
        elif self._rng.random() < self.config.epsilon:
            index, info = int(self._rng.integers(len(scores))), {'selector': 'epsilon'}
        else:
            index, info = int(np.argmax(scores)), {'selector': 'uncertainty'}
        info = dict(info, scores=scores, **{'act/uncertainty': scores[index], 'act/gated': 0,
                                            'perf/select_ms': 1e3 * (time.perf_counter()
                                                                     - started)})
        return index, info

    def idle(self, pixels: np.ndarray) -> dict:
        """Train the autoencoder on this frame (and replayed ones) instead of acting."""
        self._ensure_model(pixels)
        frames = [pixels]
        if len(self.replay):
            frames += list(self.replay.sample(self.config.batch_size - 1)['next_frames'])
        metrics = train_autoencoder_step(self.model, self.optimizer, np.stack(frames),
                                         self.config.grad_clip, self.bf16, self.device)
        self._last_recon_loss = metrics['train/autoencoder_training_loss']
        self._streak.step(True)
        metrics['train/consecutive_autoencoder_iterations'] = self._streak.current
        return metrics

    def observe(self, transition: Transition) -> dict:
        """Store the transition, train per the replay ratio; one flat metrics dict."""
        outcome = transition.outcome
        index = action_index(outcome.command, self.action_space)
        if index is None or outcome.status != MotorStatus.COMPLETED:
            self.skipped += 1
            if self._context is not None:
                self._context.clear()  # the history is broken
            return {'train/skipped_transitions': self.skipped}
        pixels = np.asarray(transition.frame.pixels)
        self._ensure_model(pixels)
        check_frame(np.asarray(transition.next_frame.pixels), self.model.spec.image_size)
        self._context.append((pixels, index))
        self.replay.add(pixels, index, np.asarray(transition.next_frame.pixels),
                        transition.frame.stamp_ns, transition.next_frame.stamp_ns)
        self.steps += 1
        self._timer.record(outcome.start_ns)
        timing = self._timer.statistics()
        metrics = {'act/action': index, 'act/action_count': timing.pop('action_count'), **timing}
        finished = self._streak.step(False)
        if finished:
            metrics['train/consecutive_autoencoder_iterations'] = finished
        metrics.update(self._train(transition, index))
        metrics['perf/steps_per_s'] = self.steps / max(time.perf_counter() - self._started, 1e-9)
        metrics['train/updates'] = self.updates
        if self.logger is not None:
            self.logger.log(metrics, self.steps)
            self._upload_prediction_grid(transition.next_frame.pixels)
        if self.config.checkpoint_every and \
                self.updates - self._saved_at_updates >= self.config.checkpoint_every:
            self.save()
            self._saved_at_updates = self.updates
        return metrics

    def _upload_prediction_grid(self, pixels) -> None:
        """Every `wandb_images_every` steps, what the model makes of the frame it sees now."""
        every = self.config.wandb_images_every
        if every > 0 and self.steps % every == 0 and getattr(self.logger, 'logs_images', False):
            labels = [f'{c.left:g}/{c.right:g}/{c.duration_s:g}s' for c in self.action_space]
            log_prediction_grid(self.logger, self.steps, pixels, self.inspect(pixels), labels)

    def _train(self, transition: Transition, index: int) -> dict:
        config = self.config
        if len(self.replay) < min(config.warmup_transitions, config.replay_capacity):
            return {}
        metrics = {}
        if config.error_triggered:
            error = self._fresh_error(transition, index)
            metrics['train/fresh_prediction_error'] = error
            planned = config.max_triggered_updates if error > config.error_threshold else 0
        else:
            self._update_credit += config.updates_per_step
            planned = int(self._update_credit)
            self._update_credit -= planned
        started = time.perf_counter()
        for done in range(planned):
            detailed = (config.detailed_metrics_every > 0
                        and self.updates % config.detailed_metrics_every == 0)
            self._decay_learning_rates()
            batch = self.replay.sample(config.batch_size, self.history)
            metrics.update(train_step(self.model, self.optimizer, batch, config.grad_clip,
                                      self.bf16, detailed, config.augment_shift_px,
                                      config.augment_wrap, self.device))
            self.updates += 1
            metrics['train/non_finite_total'] = metrics.get('train/non_finite_total', 0) + \
                metrics['train/non_finite_skipped']
            self._last_recon_loss = metrics.get('train/reconstruction_loss',
                                                self._last_recon_loss)
            self._track_level(0, metrics.get('train/predictor_patch_loss'))
            metrics.update(self._train_levels())
            if config.error_triggered and self._fresh_error(transition, index) <= \
                    config.error_threshold:
                break
        if planned:
            metrics['perf/train_ms'] = 1e3 * (time.perf_counter() - started)
            metrics['perf/train_samples_per_s'] = (done + 1) * config.batch_size / max(
                time.perf_counter() - started, 1e-9)
        return metrics

    def _decay_learning_rates(self) -> None:
        if self.lr_half_life > 0:
            factor = lr_schedule.decay_factor(self.updates, self.lr_half_life,
                                              self.config.lr_floor)
            for group in self.optimizer.param_groups:
                group['lr'] = group['initial_lr'] * factor

    def _train_levels(self) -> dict:
        """One update per created higher level; create the next when the top one is good."""
        config, metrics = self.config, {}
        for level in range(1, self.active_levels):
            batch = self.replay.sample_sequences(config.batch_size, self.model.level_span(level))
            if batch is None:  # no chain that long in the buffer yet
                continue
            metrics.update(train_level_step(self.model, self.optimizer, level, batch,
                                            config.grad_clip, self.bf16,
                                            config.augment_shift_px, config.augment_wrap,
                                            self.device))
            self._track_level(level, metrics[f'train/level_{level}_patch_loss'])
        top = self.active_levels - 1
        if (self.active_levels < self.model.config.hierarchy_levels
                and self._level_errors.get(top, float('inf')) < self.model.config.level_up_error):
            self.active_levels += 1
        metrics['train/hierarchy_levels'] = self.active_levels
        metrics.update({f'prediction_errors/level_{k}': v for k, v in self._level_errors.items()})
        return metrics

    def _track_level(self, level: int, loss) -> None:
        """Running mean (0.95 decay) of a level's prediction loss: when to create the next."""
        if loss is None or not np.isfinite(loss):
            return
        previous = self._level_errors.get(level)
        self._level_errors[level] = loss if previous is None else 0.95 * previous + 0.05 * loss

    @torch.no_grad()
    def _fresh_error(self, transition: Transition, index: int) -> float:
        """The prediction pixel loss on this transition before learning from it."""
        self.model.eval()
        latents = self.model.encode(self._unit(transition.frame.pixels))[:, None]
        predicted = self.model.decode(self.model.predict(
            latents, torch.tensor([[index]], device=self.device)))
        target = self._unit(transition.next_frame.pixels)
        return float(self.model.pixel_loss(predicted, target).mean())

    @torch.no_grad()
    def _reconstruction_loss(self, pixels: np.ndarray) -> float:
        self.model.eval()
        images = self._unit(pixels)
        return float(self.model.pixel_loss(self.model.decode(self.model.encode(images)),
                                           images).mean())

    @torch.no_grad()
    def inspect(self, pixels: np.ndarray) -> dict:
        """Reconstruction, the predicted next frame per action, and the per-action scores.

        With a predictor history above 1, the frames and actions of the last transitions
        observed come before `pixels` (the loop passes the frame that followed them).
        """
        self._ensure_model(pixels)
        self.model.eval()
        n = len(self.action_space)
        frames = np.stack([frame for frame, _ in self._context] + [np.asarray(pixels)])
        past = torch.tensor([action for _, action in self._context], dtype=torch.int64)
        actions = torch.cat([past.expand(n, -1), torch.arange(n)[:, None]], dim=1)  # [A, T]
        actions = actions.to(self.device)
        with autocast_context(False, self.device.type):
            latents = self.model.encode(to_unit_images(torch.from_numpy(frames).to(
                self.device)))  # [T, N, D]
            history = latents[None].expand(n, -1, -1, -1)  # [A, T, N, D]
            predicted = self.model.decode(self.model.predict(history, actions))
            reconstruction = self.model.decode(latents[-1:])
        images = to_uint8_images(torch.sigmoid(torch.cat([reconstruction, predicted]))).cpu()
        return {'reconstruction': images[0].numpy(),
                'predictions': [image.numpy() for image in images[1:]],
                'scores': self.scores(pixels)}

    def _unit(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 `[H, W, 3]` -> float `[1, 3, H, W]` in [0, 1] on the model's device."""
        return to_unit_images(torch.from_numpy(np.ascontiguousarray(pixels))[None].to(
            self.device))

    # -- persistence ------------------------------------------------------------------------

    def save(self) -> pathlib.Path | None:
        """Write a checkpoint (atomically, with a backup); None when there is nothing to save.

        A resumed learner that has not updated since it resumed has nothing new to save: the
        checkpoint it loaded and its backup stay as they are (a run that fails early, on frames
        of another size say, never rotates the good backup away).
        """
        if self.checkpoint_dir is None or self.model is None or \
                self.updates == self._resumed_at_updates:
            return None
        counters = {'steps': self.steps, 'updates': self.updates, 'skipped': self.skipped,
                    'update_credit': self._update_credit,
                    'last_recon_loss': self._last_recon_loss,
                    'active_levels': self.active_levels,
                    'level_errors': {str(k): v for k, v in self._level_errors.items()}}
        payload = checkpoint_payload(self.model, self.optimizer, self.action_space, counters,
                                     dataclasses.asdict(self.config))
        payload['replay'] = checkpoint_io.plain_data(
            self.replay.recent(self.config.checkpoint_replay))
        payload['rng'] = checkpoint_io.capture_rng_state(self.replay.rng)
        payload['policy_rng'] = checkpoint_io.plain_data(self._rng.bit_generator.state)
        return checkpoint_io.save_checkpoint(self.checkpoint_dir, payload, learner_checkpoint)

    def close(self) -> None:
        """Save, then close the metrics logger."""
        try:
            self.save()
        finally:
            if self.logger is not None:
                self.logger.close()
