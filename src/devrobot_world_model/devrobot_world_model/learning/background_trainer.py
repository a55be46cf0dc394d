"""Learning off the actor's thread: a trainer's jobs run in the background, weights come back.

Two ways to share the computer between acting and learning:
- paced (a replay ratio is set): every observed step is a job for the trainer. The actor hands
  job k over and goes on as soon as job k - lag is done, then acts with the weights as they were
  right after it. Which weights choose which action, and which transitions each update samples,
  depend on the steps alone, so a seed reproduces a run while acting and learning overlap. With
  lag 0 the jobs run inline, on the actor's thread.
- free-running (no ratio): the trainer updates from the replay as fast as it can; the actor
  takes the newest weights published and never waits.

A thread, not a process: torch releases the GIL inside its kernels, the replay is shared
without copies, and handing weights over is a memory copy (docs/world_model.md measures it).
The actor reads copies of the model (slots): lag + 1 when paced, holding the last lag + 1
versions (the actor reads the oldest while the trainer writes newer ones); 2 when free-running,
the trainer writing the one the actor is not reading.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import threading

import torch

from devrobot_world_model.learning.thread_priority import lower_this_threads_priority

KEPT_METRICS = 64  # job results waiting to be taken; older ones are dropped


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """An inference copy of `model`: eval mode, no gradients."""
    clone = copy.deepcopy(model).eval()
    clone.requires_grad_(False)
    return clone


@torch.no_grad()
def copy_weights(target: torch.nn.Module, source) -> None:
    """Copy parameters and buffers of `source` (a module or a state dict) into `target`."""
    state = source.state_dict() if isinstance(source, torch.nn.Module) else source
    for name, tensor in target.state_dict().items():
        tensor.copy_(state[name])


class BackgroundTrainer:
    """Runs a Trainer's jobs (paced, inline or free-running) and hands the actor its weights.

    `actor_weights`: state dicts of the versions the actor uses for its next `lag` steps (from
    a checkpoint), oldest first; missing ones start as the trainer's model.
    """

    def __init__(self, trainer, lag_steps: int, free_running: bool, actor_weights=()):
        self.trainer = trainer
        self.free_running = free_running
        self.lag = 0 if free_running else lag_steps
        self.threaded = free_running or lag_steps > 0
        count = 2 if free_running else self.lag + 1
        self._slots = [frozen_copy(trainer.model) for _ in range(count)]
        self._slot_locks = [threading.Lock() for _ in self._slots]
        # versions count jobs; the actor's next step uses version `submitted - lag`
        self.submitted = self.done = self.lag
        self._slot_versions = list(range(len(self._slots)))
        stored = list(actor_weights)[-self.lag:] if self.lag else []
        for version in range(self.lag):
            index = version - (self.lag - len(stored))
            copy_weights(self._slots[version], stored[index] if index >= 0 else trainer.model)
        copy_weights(self._slots[self.lag % len(self._slots)], trainer.model)
        self._front = self.lag % len(self._slots)  # free-running: the slot the actor reads
        self._jobs = collections.deque()
        self._results = collections.deque(maxlen=KEPT_METRICS)  # (version, metrics)
        self._condition = threading.Condition()
        self._busy = self._paused = self._stopping = self.closed = False
        self._error = None
        self._thread = None
        if self.threaded:
            self._thread = threading.Thread(target=self._work, name='devrobot-learner',
                                            daemon=True)
            self._thread.start()

    # -- the actor's side -------------------------------------------------------------------

    def submit_learn(self, view: int) -> None:
        """The step that added transition `view` is observed: learn from it (paced)."""
        if self.free_running:
            with self._condition:  # new data: a waiting free-running trainer may start
                self._condition.notify_all()
            return
        self._submit(('learn', view))

    def submit_idle(self, pixels, view: int) -> None:
        """Train the autoencoder on a frame the actor declined to act on."""
        self._submit(('idle', pixels, view))

    def _submit(self, job: tuple) -> None:
        self._raise_failure()
        if not self.threaded:
            self.submitted += 1
            try:
                metrics = self._run(job)
            except Exception as error:  # the same error as from the thread
                raise RuntimeError(f'the learner stopped: {error!r}') from error
            self._finish(metrics)
            return
        with self._condition:
            self._jobs.append(job)
            if not self.free_running:
                self.submitted += 1
            self._condition.notify_all()

    def settle(self) -> dict:
        """Wait (paced) until the actor's next weights exist; the metrics of the jobs up to them.

        Free-running: no wait, the metrics of every update since the last call (the newest win).
        """
        with self._condition:
            if not self.free_running:
                target = self.submitted - self.lag
                while self.done < target and self._error is None:
                    self._condition.wait()
            self._raise_failure()
            upto = self.done if self.free_running else self.submitted - self.lag
            merged = {}
            while self._results and self._results[0][0] <= upto:
                merged.update(self._results.popleft()[1])
            return merged

    @contextlib.contextmanager
    def weights(self):
        """The model the actor uses now, and its version, for the duration of the block."""
        if self.closed:  # after the session: the trainer's own, newest weights
            yield self.trainer.model.eval(), self.done
            return
        if not self.free_running:
            version = self.submitted - self.lag
            index = version % len(self._slots)
            assert self._slot_versions[index] == version, 'the actor ran ahead of its weights'
            yield self._slots[index], version
            return
        with self._condition:
            index = self._front
        with self._slot_locks[index]:  # the trainer writes the other slot meanwhile
            yield self._slots[index], self._slot_versions[index]

    def actor_state_dicts(self) -> list:
        """The weights of the actor's next `lag` steps, oldest first (for a checkpoint)."""
        return [self._slots[version % len(self._slots)].state_dict()
                for version in range(self.submitted - self.lag, self.submitted)]

    @contextlib.contextmanager
    def quiet(self):
        """Inside, the trainer does nothing: every job handed over is done (for checkpoints)."""
        with self._condition:
            self._paused = True
            while (self._busy or (self._jobs and not self.free_running)) and \
                    self._error is None:
                self._condition.wait()
        try:
            self._raise_failure()
            yield
        finally:
            with self._condition:
                self._paused = False
                self._condition.notify_all()

    def close(self) -> None:
        """Finish the jobs handed over, stop the thread; the actor then sees the newest weights."""
        if self._thread is not None:
            with self.quiet():
                with self._condition:
                    self._stopping = True
            self._thread.join()
        self.closed = True
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f'the learner stopped: {self._error!r}') from self._error

    # -- the trainer's side -----------------------------------------------------------------

    def _work(self) -> None:
        if self.free_running:  # nobody waits for it: the actor goes first (a paced actor waits)
            lower_this_threads_priority()
        try:
            while True:
                with self._condition:
                    while not self._ready():
                        self._busy = False
                        self._condition.notify_all()
                        self._condition.wait()
                    if self._stopping:
                        self._busy = False
                        self._condition.notify_all()
                        return
                    self._busy = True
                    job = self._jobs.popleft() if self._jobs else ('update',)
                self._finish(self._run(job))
        except BaseException as error:  # handed to the actor, which raises it
            with self._condition:
                self._error, self._busy = error, False
                self._condition.notify_all()

    def _ready(self) -> bool:
        if self._stopping:
            return True
        if self.free_running:  # paused: quiet until resumed; idle jobs go first
            return not self._paused and (bool(self._jobs) or self.trainer.ready())
        return bool(self._jobs)  # paced: pausing waits for the jobs handed over

    def _run(self, job: tuple) -> dict:
        kind = job[0]
        if kind == 'learn':
            return self.trainer.learn(job[1])
        if kind == 'idle':
            return self.trainer.idle(job[1], None if self.free_running else job[2])
        return self.trainer.update()

    def _finish(self, metrics: dict) -> None:
        version = self.done + 1
        if self.free_running:
            self._publish_newest(version)
        else:
            index = version % len(self._slots)
            copy_weights(self._slots[index], self.trainer.model)
            self._slot_versions[index] = version
        with self._condition:
            self.done = version
            self._results.append((version, metrics))
            self._condition.notify_all()

    def _publish_newest(self, version: int) -> None:
        with self._condition:
            index = 1 - self._front
        if not self._slot_locks[index].acquire(blocking=False):
            return  # the actor still reads it: publish a later version
        try:
            copy_weights(self._slots[index], self.trainer.model)
            self._slot_versions[index] = version
        finally:
            self._slot_locks[index].release()
        with self._condition:
            self._front = index
