"""The world model learning online: a policy that acts, a trainer that learns in the background.

`Learner` composes them from one LearnerConfig: the model (built at once, for frames of
`image_size`), the replay buffer shared by actor and trainer, the Trainer, the BackgroundTrainer
that runs it off the acting thread and lends the actor its weights, and the policy (wrapped in
the quality gate when asked). The session loop calls `select`, `observe` (and `idle`); the
checkpoint is `learner_checkpoint`'s. Frames of another size than the model's are refused with a
FrameSizeError (`model_io.check_frame`) before they reach the replay or the model. With a
`logger` that takes images (wandb), the prediction grid of the newest frame is uploaded every
`wandb_images_every` steps. Process-wide settings (torch's seed, the allocator) are
the entry point's: `start_process(seed)` before building a learner.

Replay ratio: every environment step earns `updates_per_step` minibatch updates (fractions
accumulate, so 0.25 is one update every fourth step). With a ratio and an actor lag of one step,
the actor acts while the trainer learns the previous transition (the default where the model
trains on a GPU); with lag 0 (the default on the CPU) each transition is learned before the next
action; with no ratio (-1), the actor never waits and the learner trains as fast as it can.
"""

from __future__ import annotations

import contextlib
import pathlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from devrobot_core.config_fields import check_at_least, setting
from devrobot_core.motor import action_index, MotorStatus, Transition
from devrobot_world_model.learning import learner_checkpoint, lr_schedule
from devrobot_world_model.learning.background_trainer import (
    BackgroundTrainer, copy_weights, frozen_copy)
from devrobot_world_model.learning.cpu_memory import keep_freed_memory
from devrobot_world_model.learning.learning_progress import HeldBackSet
from devrobot_world_model.learning.metrics import log_prediction_grid
from devrobot_world_model.learning.policy import QualityGate, WorldModelPolicy
from devrobot_world_model.learning.replay_buffer import ReplayBuffer
from devrobot_world_model.learning.trainer import Trainer
from devrobot_world_model.model.compute_device import DEVICE_HELP, resolve_device
from devrobot_world_model.model.model_io import build_model, check_frame
from devrobot_world_model.model.precision import PRECISIONS, use_bf16

FREE_RUNNING = -1  # updates_per_step: no replay ratio
AUTO_LAG = -1  # actor_lag_steps: chosen by the device the model trains on


def resolve_actor_lag(lag_steps: int, device: torch.device) -> int:
    """The actor lag to use: `lag_steps`, or for AUTO_LAG 1 on a GPU and 0 on the CPU.

    On a GPU the actor's work (on the CPU) overlaps the update for free. On the CPU the
    update's kernels already use every core: an actor working beside them only makes the two
    contend, and a step takes longer than doing one after the other (docs/world_model.md,
    "Acting while learning").
    """
    if lag_steps != AUTO_LAG:
        return lag_steps
    return 0 if device.type == 'cpu' else 1


def start_process(seed: int, torch_threads: int = 0) -> None:
    """What an entry point sets once before building learners: torch's seed, the allocator.

    `torch_threads` > 0 sets torch's threads per operation (see LearnerConfig.torch_threads).
    """
    torch.manual_seed(seed)
    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    keep_freed_memory()


@dataclass
class LearnerConfig:
    """How the world model learns online and chooses actions."""

    policy: str = setting(
        'uncertainty', 'Action selector: uncertainty (ensemble disagreement gated by '
        'learning progress), predicted-error, disagreement, progress, random[:SEED], '
        'constant:N, sequence:NAME|N,N,...')
    epsilon: float = setting(
        0.1, 'Learned selectors: the share of uniformly random actions.')
    progress_memory: int = setting(
        50, 'Steps over which the policy averages whether each action\'s learning progress is '
        'above zero: the share that gates the uncertainty score.')
    batch_size: int = setting(32, 'Transitions per minibatch update.')
    updates_per_step: float = setting(
        1.0, 'Replay ratio: minibatch updates per environment step (0.25: one every 4th step; '
        '0: none); -1: no ratio, the robot acts at its own pace and the learner trains as '
        'fast as the computer allows.')
    actor_lag_steps: int = setting(
        AUTO_LAG, 'With a replay ratio: act with the weights learned from all but the newest N '
        'transitions, so acting and learning overlap (a seed still reproduces the run); 0: '
        'learn each transition before the next action, on the acting thread; -1 (auto): 1 '
        'where the model trains on a GPU, 0 on the CPU (whose cores the update already uses).')
    image_size: int = setting(224, 'Side of the square rgb8 frames the model learns from, px.')
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
    torch_threads: int = setting(
        0, "Threads per torch operation on the CPU; 0: torch's default (one per core). 1 when "
        'the actor, the learner and the inspection share a few cores: several threads per '
        'operation then spin against each other and the time to a command grows tenfold.')
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
        for name in ('batch_size', 'replay_capacity', 'progress_memory'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be at least 1')
        if not (self.updates_per_step >= 0 or self.updates_per_step == FREE_RUNNING) or \
                not 0 <= self.epsilon <= 1:
            raise ValueError(f'updates_per_step must be >= 0 or {FREE_RUNNING} (no ratio), and '
                             'epsilon in [0, 1]')
        if self.actor_lag_steps < AUTO_LAG or self.image_size < 1:
            raise ValueError(f'actor_lag_steps must be >= 0 or {AUTO_LAG} (auto), and '
                             'image_size >= 1')
        if self.precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {self.precision!r}')
        if self.lr_half_life_updates < lr_schedule.AUTO:
            raise ValueError(f'lr_half_life_updates must be >= 0, or {lr_schedule.AUTO} (auto)')
        check_at_least(self, 0, 'warmup_transitions', 'autoencoder_lr', 'predictor_lr',
                       'lr_floor', 'weight_decay', 'grad_clip', 'augment_shift_px', 'seed',
                       'checkpoint_every', 'checkpoint_replay', 'detailed_metrics_every',
                       'max_triggered_updates', 'wandb_images_every')


class Learner:
    """The online learner behind the session loop and the node; resumes from `checkpoint_dir`.

    `autoencoder_lr` / `predictor_lr` beat the checkpoint's rates, which beat the config's.
    `logger` (optional, settable later): where the prediction grid goes (`log_images`).
    """

    def __init__(self, action_space: Sequence, config: LearnerConfig | None = None,
                 model_configs: Sequence = (), checkpoint_dir=None,
                 autoencoder_lr: float | None = None, predictor_lr: float | None = None,
                 logger=None):
        self.action_space = tuple(action_space)
        self.config = config = config or LearnerConfig()
        self.checkpoint_dir = None if checkpoint_dir is None else pathlib.Path(checkpoint_dir)
        self.logger = logger
        self.free_running = config.updates_per_step == FREE_RUNNING and not \
            config.error_triggered
        self.device = resolve_device(config.device)
        self.bf16 = use_bf16(config.precision, self.device.type)  # 'auto' asks the device
        self.actor_lag = resolve_actor_lag(config.actor_lag_steps, self.device)
        payload = learner_checkpoint.find(self.checkpoint_dir)
        spec = learner_checkpoint.spec_for(payload, config.image_size, len(self.action_space),
                                           model_configs)
        size = spec.image_size
        self.replay = ReplayBuffer(config.replay_capacity, (size, size, 3), config.seed,
                                   slack=self.actor_lag + 1)
        explicit = (autoencoder_lr, predictor_lr)
        rates = [default if rate is None else rate for rate, default in
                 zip(explicit, (config.autoencoder_lr, config.predictor_lr))]
        progress = spec.parts.get('progress')
        self.held_back = HeldBackSet(len(self.action_space), progress.progress_held_back,
                                     progress.progress_stride) if (
            progress is not None and progress.progress_held_back) else None
        self.trainer = Trainer(build_model(spec).to(self.device), self.replay, config,
                               self.device, self.bf16, rates, held_back=self.held_back)
        self.steps = self.skipped = 0
        state = (learner_checkpoint.restore(self, payload, explicit) if payload is not None
                 else {'actor_weights': []})
        self.background = BackgroundTrainer(self.trainer, self.actor_lag,
                                            self.free_running, state['actor_weights'])
        missing = {'disagreement': self.model.ensemble is None and
                   'ensemble heads (--ensemble.heads)',
                   'progress': self.model.progress is None and
                   'held-back transitions (--progress.held-back)'}.get(config.policy)
        if missing:
            raise ValueError(f'the {config.policy} policy needs {missing}')
        policy = WorldModelPolicy(self.action_space, self.background.weights, config.policy,
                                  config.epsilon, config.seed, self.trainer.history,
                                  config.progress_memory)
        if 'policy' in state:
            policy.load_state_dict(state['policy'], self.steps)
        self.policy = QualityGate(policy, config.quality_threshold) if config.quality_gate \
            else policy
        self._saved_at_updates = self.trainer.updates
        # Nothing new to save until this learner has learned: a resumed one before its first
        # update since resuming, a fresh one before its first frame. A run that fails early
        # (frames of another size, say) never rotates the good checkpoint's backup away.
        self._resumed_at_updates = self.trainer.updates if payload is not None else None
        self._learned = False
        self._inspection_model = None

    # -- what the session loop calls --------------------------------------------------------

    @property
    def image_size(self) -> int:
        """Side of the square frames the model takes, px."""
        return self.trainer.model.spec.image_size

    def select(self, pixels: np.ndarray) -> tuple:
        """(action index, info), or (None, info) while the quality gate holds the robot."""
        return self.policy.select(pixels)

    def observe(self, transition: Transition) -> dict:
        """Hand a transition to the trainer; returns once the actor's next weights are ready.

        The metrics returned are those of the jobs up to those weights (flat, `train/...`).
        """
        outcome = transition.outcome
        index = action_index(outcome.command, self.action_space)
        if index is None or outcome.status != MotorStatus.COMPLETED:
            self.skipped += 1
            self.policy.forget()
            return {'train/skipped_transitions': self.skipped}
        pixels = np.asarray(transition.frame.pixels)
        next_pixels = np.asarray(transition.next_frame.pixels)
        check_frame(pixels, self.image_size)
        check_frame(next_pixels, self.image_size)
        self._learned = True
        self.policy.remember(pixels, index)
        if self.held_back is not None and self.held_back.offer(index, pixels, next_pixels,
                                                               self.replay.count):
            view = self.replay.count  # kept out of training: a step with nothing new to learn
        else:
            view = self.replay.add(pixels, index, next_pixels, transition.frame.stamp_ns,
                                   transition.next_frame.stamp_ns)
        self.steps += 1
        self.background.submit_learn(view)
        metrics = self._settled()
        self._upload_prediction_grid(next_pixels)
        return metrics

    def idle(self, pixels: np.ndarray) -> dict:
        """Train the autoencoder on a frame the policy declined to act on."""
        pixels = np.asarray(pixels)
        check_frame(pixels, self.image_size)
        self._learned = True
        self.background.submit_idle(pixels, self.replay.count)
        return self._settled()

    def _settled(self) -> dict:
        metrics = self.background.settle()
        if self.free_running:
            metrics['perf/learner_samples_per_s'] = self.trainer.samples_per_s()
        updates = metrics.get('train/updates', self._saved_at_updates)
        every = self.config.checkpoint_every
        if every and updates - self._saved_at_updates >= every:
            self.save()
            self._saved_at_updates = updates
        return metrics

    def _upload_prediction_grid(self, pixels: np.ndarray) -> None:
        """Every `wandb_images_every` steps, what the model makes of the frame it sees now."""
        every = self.config.wandb_images_every
        if every > 0 and self.steps % every == 0 and getattr(self.logger, 'logs_images', False):
            labels = [f'{c.left:g}/{c.right:g}/{c.duration_s:g}s' for c in self.action_space]
            log_prediction_grid(self.logger, self.steps, pixels, self.inspect(pixels), labels)

    def inspect(self, pixels: np.ndarray) -> dict:
        """Reconstruction, predicted next frame per action, scores (see WorldModelPolicy)."""
        return self.policy.inspect(pixels)

    def inspection_weights(self):
        """A private copy of the actor's current weights, for `inspect_with` on another thread.

        The copy is made at once (a memory copy); the slow inspection then holds no lock the
        actor or the trainer waits on.
        """
        with self.background.weights() as (model, _):  # never copy the model in training
            if self._inspection_model is None:
                self._inspection_model = frozen_copy(model)
            else:
                copy_weights(self._inspection_model, model)
        return self._inspection_model

    def inspect_with(self, model, pixels: np.ndarray) -> dict:
        return self.policy.inspect_with(model, pixels)

    def scores(self, pixels: np.ndarray) -> list:
        return self.policy.scores(pixels)

    @contextlib.contextmanager
    def quiet(self):
        """Inside, the trainer is idle and `model` holds every update handed over so far."""
        with self.background.quiet():
            yield self.model

    # -- what it is made of -----------------------------------------------------------------

    @property
    def model(self):
        """The model being trained (the actor acts with copies of it)."""
        return self.trainer.model

    @property
    def updates(self) -> int:
        return self.trainer.updates

    def throughput(self) -> dict:
        """The learner's updates so far and its training samples per second of wall time."""
        return {'updates': self.trainer.updates,
                'learner_samples_per_s': self.trainer.samples_per_s()}

    # -- persistence ------------------------------------------------------------------------

    def save(self) -> pathlib.Path | None:
        """Write a checkpoint (atomically, with a backup); None when there is nothing to save.

        Nothing is saved without a checkpoint folder, by a fresh learner that has seen no
        frame, or by a resumed one that has not updated since it resumed: the checkpoint it
        loaded and its backup stay as they are.
        """
        if self.checkpoint_dir is None or not self._learned or \
                self.trainer.updates == self._resumed_at_updates:
            return None
        return learner_checkpoint.save(self, self.checkpoint_dir)

    def close(self) -> None:
        """Finish the jobs handed over, stop the trainer's thread, save."""
        try:
            self.background.close()
        finally:
            self.save()

    def take_final_metrics(self) -> dict:
        """After close(): the metrics of the updates done since the last transition's."""
        return self.background.settle()
