"""Training on a chosen range of steps, in the background, saved as a resumable checkpoint.

The explorer's answer to the original notebook's training cells: N minibatch updates, or
updates until a loss falls below a threshold (with N as the cap), on the transitions of a range
of one bag; progress, pause, resume, cancel, and "finish now". Each update is the same pure
`training.train_step` the learner runs, with the learner's optimizer groups and settings (from
the checkpoint's stored learner config, or LearnerConfig's defaults for a fresh model).

The result is written with the checkpoint writer (`checkpoint_io.save_checkpoint`, the model
part from `model_io.checkpoint_payload`) into `OUT/checkpoints`, where `devrobot run --learn
--out OUT`, `devrobot train --out OUT` and the world-model node resume from. A checkpoint that
was loaded keeps everything else it held (replay, random states, counters, which advance by
the updates done here); a fresh one gets the range's last transitions as its replay.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.learning.training import make_optimizer, train_step
from devrobot_world_model.model.model_io import (
    build_model, check_action_space, checkpoint_payload, model_from_payload, model_spec)
from devrobot_world_model.model.precision import use_bf16

# The metric of each loss a job may stop on, as `training.train_step` names it.
LOSS_KEYS = {
    'total': ('train/total_loss',),
    'prediction': ('train/prediction_patch_loss',),
    'reconstruction': ('train/reconstruction_loss',),
}
SMOOTHING = 0.1  # weight of the newest loss in the running mean the threshold is checked on
MIN_UPDATES = 5  # updates before a threshold may stop the job (the running mean settles)
HISTORY_POINTS = 400  # loss points kept for the progress plot
REPLAY_KEPT = 100  # transitions stored with a fresh checkpoint (the learner's default)


@dataclass
class TrainingRequest:
    """What to train on, how long, and where to save."""

    bag: int
    start: int  # first step of the range
    stop: int  # one past the last step
    updates: int = 100  # updates to run; with a threshold, the most to run
    loss: str = 'total'  # the loss the threshold is checked on: total, prediction, reconstruction
    threshold: float | None = None
    batch_size: int = 16
    out: str = ''  # run folder; the checkpoint goes to OUT/checkpoints
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.stop <= self.start or self.start < 0:
            raise ValueError(f'empty range of steps [{self.start}, {self.stop})')
        if self.updates < 1 or self.batch_size < 1:
            raise ValueError('updates and batch_size must be at least 1')
        if self.loss not in LOSS_KEYS:
            raise ValueError(f'loss must be one of {", ".join(LOSS_KEYS)}, got {self.loss!r}')
        if self.threshold is not None and not (math.isfinite(self.threshold)
                                               and self.threshold > 0):
            raise ValueError('the loss threshold must be a positive number')
        if not str(self.out).strip():
            raise ValueError('say where to save: a run folder')


def find_loss(metrics: dict, loss: str) -> float | None:
    """The value of `loss` (`total`, ...) in a train_step metrics dict, or None."""
    for key in LOSS_KEYS[loss]:
        if key in metrics:
            return float(metrics[key])
    return None


class TrainingJob:
    """One training run on a bag's range, in its own thread; `status()` is its progress."""

    def __init__(self, request: TrainingRequest, bag, payload: dict | None, device: str = 'cpu',
                 on_saved=None):
        request.check()
        self.request, self.bag, self.device = request, bag, device
        self.on_saved = on_saved  # called with the checkpoint folder after a save
        self.samples = [s for s in bag.transitions(request.start, request.stop)]
        if not self.samples:
            raise ValueError(f'steps {request.start}-{request.stop - 1} hold no transitions '
                             '(completed commands with an image before and after)')
        self.payload = payload
        self.out = Path(request.out).expanduser() / 'checkpoints'
        if checkpoint_io.has_checkpoint(self.out):  # never mix two action spaces in a folder
            try:
                check_action_space(checkpoint_io.load_checkpoint(self.out), bag.action_space)
            except checkpoint_io.CheckpointError as error:
                raise ValueError(f'{self.out}: {error}') from None
        self.state = 'starting'
        self.done = 0
        self.losses: list = []  # (update, loss) for the plot
        self.running_loss = None
        self.last_metrics: dict = {}
        self.saved = ''
        self.error = ''
        self.started = time.monotonic()
        self.elapsed_s = 0.0
        self._resume = threading.Event()
        self._resume.set()
        self._stop = None  # 'cancel' or 'finish'
        self._thread = threading.Thread(target=self._run, name='explorer-training', daemon=True)

    def start(self) -> 'TrainingJob':
        self._thread.start()
        return self

    # -- controls -------------------------------------------------------------------------

    def pause(self) -> None:
        if self.state == 'running':
            self._resume.clear()
            self.state = 'paused'

    def resume(self) -> None:
        if self.state == 'paused':
            self.state = 'running'
            self._resume.set()

    def cancel(self) -> None:
        """Stop without saving."""
        self._stop = self._stop or 'cancel'
        self._resume.set()

    def finish(self) -> None:
        """Stop after the current update and save what was learned so far."""
        self._stop = self._stop or 'finish'
        self._resume.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def active(self) -> bool:
        return self.state in ('starting', 'running', 'paused', 'saving')

    def status(self) -> dict:
        request = dataclasses.asdict(self.request)
        return {'state': self.state, 'request': request, 'updates_done': self.done,
                'transitions': len(self.samples), 'loss': self.running_loss,
                'losses': self.losses[-HISTORY_POINTS:], 'saved': self.saved,
                'error': self.error, 'elapsed_s': round(self.elapsed_s, 2),
                'metrics': {k: v for k, v in self.last_metrics.items()
                            if isinstance(v, (int, float)) and k.startswith('train/')}}

    # -- the work -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            model, optimizer, settings = self._build()
            self.state = 'running' if self.state == 'starting' else self.state
            rng = np.random.default_rng(self.request.seed)
            bf16 = use_bf16(settings.get('precision', 'auto'), model_device(model).type)
            while self.done < self.request.updates and self._stop is None:
                self._resume.wait()
                if self._stop is not None:
                    break
                batch = self._batch(rng, model.history)
                metrics = train_step(
                    model, optimizer, batch, float(settings.get('grad_clip', 1.0)), bf16, False,
                    int(settings.get('augment_shift_px', 0)),
                    bool(settings.get('augment_wrap', True)), self.device)
                self.done += 1
                self._record(metrics)
                if self._threshold_met():
                    break
            if self._stop == 'cancel':
                self.state = 'cancelled'
                return
            self.state = 'saving'
            self.saved = str(self._save(model, optimizer, settings))
            self.state = 'finished'
            if self.on_saved is not None:
                self.on_saved(self.out)
        except Exception as error:  # shown on the page; the explorer keeps running
            self.error = f'{type(error).__name__}: {error}'
            self.state = 'failed'
        finally:
            self.elapsed_s = time.monotonic() - self.started

    def _build(self) -> tuple:
        """The model, its optimizer and the learner settings, from the checkpoint or fresh."""
        # the learner's defaults, for a fresh model
        from devrobot_world_model.learning.learner import LearnerConfig

        settings = dataclasses.asdict(LearnerConfig())
        if self.payload is not None:
            settings.update(self.payload.get('learner_config') or {})
            model, _ = model_from_payload(self.payload)
        else:
            size = self.bag.frame_size
            if size is None or size[0] != size[1]:
                raise ValueError(f'a fresh model needs square frames, the bag has {size}')
            model = build_model(model_spec(size[0], len(self.bag.action_space)))
        model = model.to(self.device)
        optimizer = make_optimizer(model, float(settings['autoencoder_lr']),
                                   float(settings['predictor_lr']),
                                   float(settings['weight_decay']))
        for group in optimizer.param_groups:
            group['initial_lr'] = group['lr']
        if self.payload is not None and self.payload.get('optimizer'):
            optimizer.load_state_dict(self.payload['optimizer'])
        return model, optimizer, settings

    def _batch(self, rng, history: int) -> dict:
        chosen = rng.integers(len(self.samples), size=self.request.batch_size)
        frames, actions, next_frames = [], [], []
        for index in chosen:
            step = self.samples[int(index)]
            steps = self.bag.history(step, history)
            frames.append(np.stack([self.bag.pixels(s.frame) for s in steps]))
            actions.append([s.action for s in steps])
            next_frames.append(self.bag.pixels(step.next_frame))
        return {'frames': np.stack(frames), 'actions': np.asarray(actions, np.int64),
                'next_frames': np.stack(next_frames)}

    def _record(self, metrics: dict) -> None:
        self.last_metrics = metrics
        self.elapsed_s = time.monotonic() - self.started
        loss = find_loss(metrics, self.request.loss)
        if loss is None or not math.isfinite(loss):
            return
        self.running_loss = loss if self.running_loss is None else \
            (1 - SMOOTHING) * self.running_loss + SMOOTHING * loss
        self.losses.append((self.done, loss))
        if len(self.losses) > 2 * HISTORY_POINTS:
            self.losses = self.losses[::2]  # keep the whole curve, coarser

    def _threshold_met(self) -> bool:
        threshold = self.request.threshold
        return (threshold is not None and self.done >= MIN_UPDATES
                and self.running_loss is not None and self.running_loss < threshold)

    def _save(self, model, optimizer, settings: dict) -> Path:
        source = self.payload or {}
        counters = dict(source.get('counters') or fresh_counters())
        counters['updates'] = int(counters.get('updates', 0)) + self.done
        payload = checkpoint_payload(model, optimizer, self.bag.action_space, counters,
                                     settings)
        for key, value in source.items():  # replay, random states: what the learner resumes
            payload.setdefault(key, value)
        if not self.payload:
            payload.update(self._fresh_extras(settings))
        payload.pop('format_version', None)
        return checkpoint_io.save_checkpoint(self.out, payload)

    def _fresh_extras(self, settings: dict) -> dict:
        """Replay and random states for a checkpoint that starts here, as the learner saves."""
        recent = self.samples[-REPLAY_KEPT:]
        follows = [i > 0 and recent[i - 1].next_frame == s.frame for i, s in enumerate(recent)]
        replay = {'frames': np.stack([self.bag.pixels(s.frame) for s in recent]),
                  'actions': np.asarray([s.action for s in recent], np.int64),
                  'next_frames': np.stack([self.bag.pixels(s.next_frame) for s in recent]),
                  'follows': np.asarray(follows, bool)}
        seed = int(settings.get('seed', 0))
        return checkpoint_io.plain_data({
            'replay': replay,
            'rng': checkpoint_io.capture_rng_state(np.random.default_rng(seed)),
            'policy_rng': np.random.default_rng(seed).bit_generator.state})


def fresh_counters() -> dict:
    """The learner's counters at its start."""
    return {'steps': 0, 'updates': 0, 'skipped': 0, 'update_credit': 0.0,
            'last_recon_loss': float('inf'), 'level_streaks': {}, 'level_updates': {},
            'level_tested_view': 0}


def model_device(model):
    return next(model.parameters()).device
