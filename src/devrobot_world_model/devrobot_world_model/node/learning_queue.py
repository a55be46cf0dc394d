"""Learning off the executor's thread: the node's callbacks hand transitions over and return.

`LearningQueue` wraps the node's policy. `select` runs on the caller's thread (the camera
callback acts at once); `observe` and `idle` only enqueue, and one worker thread feeds them to
the policy in arrival order, so a slow update never delays a callback and, the queue being
unbounded, no transition is lost while the learner is busy (a replayed bag is learned whole).
A free-running learner (no replay ratio: the node's) is safe to call from both threads at
once: `select` never waits for `observe`. A learner with a ratio (learning off: a ratio of 0,
inline) keeps one version counter for acting and learning, so its calls are serialised by a
lock; its `observe` then trains nothing and returns at once.
"""

from __future__ import annotations

import collections
import contextlib
import threading


class LearningQueue:
    """A policy whose learning calls run on a worker thread, in order; select stays inline."""

    def __init__(self, policy):
        self.policy = policy
        paced = getattr(policy, 'free_running', True) is False
        self.lock = threading.Lock() if paced else contextlib.nullcontext()
        self.learned = 0  # transitions handed to the policy's observe
        self._jobs = collections.deque()
        self._metrics: dict = {}
        self._condition = threading.Condition()
        self._busy = self._stopping = False
        self._error = None
        self._thread = threading.Thread(target=self._work, name='devrobot-node-learning',
                                        daemon=True)
        self._thread.start()

    # -- what the exploration core calls (the executor's thread) ---------------------------

    def select(self, pixels):
        self._raise_failure()
        with self.lock:
            return self.policy.select(pixels)

    def observe(self, transition) -> dict:
        self._put(('observe', transition))
        return {}

    def idle(self, pixels) -> dict:
        self._put(('idle', pixels))
        return {}

    def inspect(self, pixels) -> dict:
        """The policy's inspection, run on the caller's thread (the inspection worker's).

        A learner lends a private copy of its weights (taken under the lock, a memory copy),
        so the slow part holds no lock; a policy without one is inspected under the lock.
        """
        self._raise_failure()
        weights = getattr(self.policy, 'inspection_weights', None)
        if weights is None:
            with self.lock:
                return self.policy.inspect(pixels)
        with self.lock:
            model = weights()
        return self.policy.inspect_with(model, pixels)

    def take_metrics(self) -> dict:
        """The metrics the policy returned since the last call (the newest value of each key)."""
        with self._condition:
            metrics, self._metrics = self._metrics, {}
        return metrics

    def pending(self) -> int:
        """Jobs handed over and not yet done (the one running included)."""
        with self._condition:
            return len(self._jobs) + int(self._busy)

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every job handed over is done; False on timeout."""
        with self._condition:
            done = self._condition.wait_for(
                lambda: (not self._jobs and not self._busy) or self._error is not None,
                timeout_s)
        self._raise_failure()
        return done

    def close(self) -> None:
        """Finish the jobs handed over and stop the worker (the policy is not closed here)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        self._thread.join()
        self._raise_failure()

    def __getattr__(self, name):  # inspect, steps, close... are the policy's
        if name == 'policy':
            raise AttributeError(name)
        return getattr(self.policy, name)

    # -- the worker ------------------------------------------------------------------------

    def _put(self, job: tuple) -> None:
        self._raise_failure()
        with self._condition:
            self._jobs.append(job)
            self._condition.notify_all()

    def _work(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._jobs or self._stopping)
                if not self._jobs:  # stopping, and nothing left
                    return
                kind, argument = self._jobs.popleft()
                self._busy = True
            try:
                with self.lock:
                    metrics = (self.policy.observe(argument) if kind == 'observe'
                               else self.policy.idle(argument))
            except BaseException as error:  # raised on the executor's thread at its next call
                with self._condition:
                    self._error, self._busy = error, False
                    self._jobs.clear()
                    self._condition.notify_all()
                return
            with self._condition:
                self.learned += kind == 'observe'
                self._metrics.update(metrics or {})
                self._busy = False
                self._condition.notify_all()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise RuntimeError(f'the node stopped learning: {self._error!r}') from self._error
