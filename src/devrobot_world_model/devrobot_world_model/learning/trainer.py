"""The trainer: replay updates of the world model, how many per step, at which learning rate.

It owns the model being trained, its optimizer and learning-rate schedule, and a strategy for
the hierarchy levels; the replay buffer is shared with the actor, which adds to it. Work comes
as jobs, one per observed step or idle frame, each with the `view` of the replay it may sample
(the transitions added up to its step), so the same jobs give the same updates whatever the
actor did meanwhile. `BackgroundTrainer` runs the jobs off the actor's thread; tests and offline
training call them directly.

Replay ratio: every step earns `updates_per_step` minibatch updates (fractions accumulate, so
0.25 is one update every fourth step); with `error_triggered`, the original's rule instead
(train while the step's fresh prediction error is above a threshold).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

from devrobot_world_model.learning import lr_schedule
from devrobot_world_model.learning.level_competence import CompetentLevels
from devrobot_world_model.learning.metrics import StreakCounter
from devrobot_world_model.learning.training import (
    make_optimizer, train_autoencoder_step, train_step)
from devrobot_world_model.model.pixel_losses import to_unit_images


class Trainer:
    """Learns from a shared replay buffer; `learn(view)` and `idle(pixels, view)` are its jobs.

    `config` is a LearnerConfig; `learning_rates` the (autoencoder, predictor) rates to start
    from. `levels` is the hierarchy strategy (default: CompetentLevels from the model's config).
    `held_back`: the HeldBackSet whose error the model's progress tracker records.
    """

    def __init__(self, model, replay, config, device: torch.device, bf16: bool,
                 learning_rates: tuple, levels=None, held_back=None):
        self.model, self.replay, self.config = model, replay, config
        self.device, self.bf16 = device, bf16
        self.history = model.history
        self.optimizer = make_optimizer(model, *learning_rates, config.weight_decay)
        self.half_life = lr_schedule.resolve_half_life(config.lr_half_life_updates,
                                                       model.config.autoencoder)
        self.levels = levels or CompetentLevels(model)
        self.held_back = held_back
        self.progress_next = 0  # the view at which the held-back error is measured next
        self.updates = 0
        self.update_credit = 0.0
        self.non_finite_total = 0
        self.last_recon_loss = float('inf')  # the quality gate's latest figure
        self._streak = StreakCounter()
        self._started = None  # (wall time, updates) at the first update of this process
        self.scheduler = lr_schedule.make_scheduler(self.optimizer, self.half_life,
                                                    config.lr_floor)

    # -- jobs -----------------------------------------------------------------------------------

    def learn(self, view: int) -> dict:
        """The updates that the step adding transition `view` earns; flat metrics."""
        config, metrics = self.config, self.measure_progress(view)
        metrics.update(self.levels.observe(self, view))
        finished = self._streak.step(False)
        if finished:
            metrics['train/consecutive_autoencoder_iterations'] = finished
        metrics['train/updates'] = self.updates
        if min(view, config.replay_capacity) < min(config.warmup_transitions,
                                                   config.replay_capacity):
            return metrics
        if config.error_triggered:
            error = self.fresh_error(view)
            metrics['train/fresh_prediction_error'] = error
            planned = config.max_triggered_updates if error > config.error_threshold else 0
        else:
            self.update_credit += max(config.updates_per_step, 0.0)
            planned = int(self.update_credit)
            self.update_credit -= planned
        started = time.perf_counter()
        for done in range(planned):
            metrics.update(self.update(view))
            if config.error_triggered and self.fresh_error(view) <= config.error_threshold:
                break
        if planned:
            elapsed = time.perf_counter() - started
            metrics['perf/train_ms'] = 1e3 * elapsed
            metrics['perf/train_samples_per_s'] = (done + 1) * config.batch_size / max(
                elapsed, 1e-9)
        return metrics

    def ready(self) -> bool:
        """True when the replay holds enough transitions to train (free-running)."""
        return len(self.replay) >= max(1, min(self.config.warmup_transitions,
                                              self.config.replay_capacity))

    def update(self, view: int | None = None) -> dict:
        """One minibatch update of the world model (and the levels above it) from the view."""
        config = self.config
        if self._started is None:
            self._started = (time.perf_counter(), self.updates)
        progress = {}
        if view is None:  # free-running: no step jobs; the newest transitions test and measure
            progress = dict(self.measure_progress(self.replay.count),
                            **self.levels.observe(self, self.replay.count))
        detailed = (config.detailed_metrics_every > 0
                    and self.updates % config.detailed_metrics_every == 0)
        batch = self.replay.sample(config.batch_size, self.history, view)
        metrics = train_step(self.model, self.optimizer, batch, config.grad_clip, self.bf16,
                             detailed, config.augment_shift_px, config.augment_wrap,
                             self.device)
        self.updates += 1
        self._step_schedule(skipped=metrics['train/non_finite_skipped'])
        self.non_finite_total += metrics['train/non_finite_skipped']
        self.last_recon_loss = metrics.get('train/reconstruction_loss', self.last_recon_loss)
        metrics.update(self.levels.after_update(self, view, metrics))
        metrics['train/non_finite_total'] = self.non_finite_total
        metrics['train/updates'] = self.updates
        return dict(metrics, **progress)

    def idle(self, pixels: np.ndarray, view: int | None = None) -> dict:
        """One autoencoder update on this frame plus replayed frames (the quality gate's)."""
        frames = [pixels]
        if min(self.replay.count if view is None else view, self.config.replay_capacity):
            frames += list(self.replay.sample(self.config.batch_size - 1, 1,
                                              view)['next_frames'])
        metrics = train_autoencoder_step(self.model, self.optimizer, np.stack(frames),
                                         self.config.grad_clip, self.bf16, self.device)
        self.last_recon_loss = metrics['train/reconstruction_loss']
        self._streak.step(True)
        metrics['train/consecutive_autoencoder_iterations'] = self._streak.current
        return metrics

    def _step_schedule(self, skipped: bool) -> None:
        if not skipped:
            self.scheduler.step()
            return
        with warnings.catch_warnings():  # no optimizer step was taken: torch would warn
            warnings.simplefilter('ignore', UserWarning)
            self.scheduler.step()

    @torch.no_grad()
    def measure_progress(self, view: int) -> dict:
        """Every `progress_every` views: each full held-back set's mean log prediction error.

        The error is the pixel MSE between the predicted frame and the true next frame (values
        in [0, 1]). On an unlearnable outcome it settles at the outcome's own variance, a fixed
        floor, so its log stops falling once the mean is learned. Against the autoencoder's
        reconstruction of the outcome instead, the floor moves while the autoencoder learns to
        draw the noise, and a learnable action's error rises while the reconstructions sharpen:
        progress then goes to the noise. Recorded in the model's progress tracker (the actor's
        copies carry it); returned as `progress/held_back_log_error/<action>`.
        """
        tracker = self.model.progress
        if tracker is None or self.held_back is None or view < self.progress_next:
            return {}
        self.progress_next = view + self.model.spec.parts['progress'].progress_every
        self.model.eval()
        metrics = {}
        for action, (frames, next_frames) in self.held_back.full(view).items():
            latents = self.model.encode(self._unit(frames))[:, None]  # [M, 1, N, D]
            actions = torch.full((len(frames), 1), action, device=self.device)
            predicted = torch.sigmoid(self.model.decode(self.model.predict(latents, actions)))
            error = (predicted.float() - self._unit(next_frames).float()).pow(
                2).mean(dim=(1, 2, 3))  # [M]
            log_error = float(error.clamp_min(1e-12).log().mean())
            tracker.record(action, log_error)
            metrics[f'progress/held_back_log_error/{action}'] = log_error
        return metrics

    def step_of(self, view: int) -> int:
        """The environment step of the transition that made the replay's count `view`.

        The transitions held back for learning progress never reach the replay, so they are
        added back (skipped transitions, never learned from, are not counted).
        """
        return view + (self.held_back.held_before(view) if self.held_back is not None else 0)

    @torch.no_grad()
    def fresh_error(self, view: int) -> float:
        """The prediction pixel loss on the view's newest transition, before learning more."""
        self.model.eval()
        newest = self.replay.batch(np.array([self.replay.position(view - 1)]), 1, view)
        frames = self._unit(newest['frames'][:, 0])
        latents = self.model.encode(frames)[:, None]  # [1, 1, N, D]
        actions = torch.from_numpy(newest['actions']).to(self.device)  # [1, 1]
        predicted = self.model.decode(self.model.predict(latents, actions))
        target = self._unit(newest['next_frames'])
        return float(self.model.pixel_loss(predicted, target).mean())

    def _unit(self, pixels: np.ndarray) -> torch.Tensor:
        """uint8 `[B, H, W, 3]` -> float `[B, 3, H, W]` in [0, 1] on the model's device."""
        return to_unit_images(torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device))

    def samples_per_s(self) -> float:
        """Training samples per second of wall time since the first update."""
        if self._started is None:
            return 0.0
        started_s, updates = self._started
        return (self.updates - updates) * self.config.batch_size / max(
            time.perf_counter() - started_s, 1e-9)

    # -- state ----------------------------------------------------------------------------------

    def counters(self) -> dict:
        return {'updates': self.updates, 'update_credit': self.update_credit,
                'last_recon_loss': self.last_recon_loss,
                'non_finite_total': self.non_finite_total, 'progress_next': self.progress_next,
                **self.levels.state_dict()}

    def load_counters(self, counters: dict) -> None:
        """Continue from a checkpoint's counters (after loading the optimizer's state)."""
        self.updates = int(counters['updates'])
        self.update_credit = float(counters['update_credit'])
        self.last_recon_loss = float(counters['last_recon_loss'])
        self.non_finite_total = int(counters.get('non_finite_total', 0))
        self.progress_next = int(counters.get('progress_next', 0))
        self.levels.load_state_dict(counters)
        self.scheduler = lr_schedule.make_scheduler(self.optimizer, self.half_life,
                                                    self.config.lr_floor, self.updates)
