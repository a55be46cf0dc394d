"""The background trainer with a counting fake: which weights the actor gets, and when."""

import threading
import time

import pytest
import torch

from devrobot_world_model.learning.background_trainer import BackgroundTrainer


class CountingTrainer:
    """A 'model' whose one weight is the view of the last job (or counts free updates)."""

    def __init__(self, job_s=0.0):
        self.model = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.zeros_(self.model.weight)
        self.job_s, self.can_update, self.updates = job_s, False, 0
        self.started = threading.Event()

    def _set(self, value):
        with torch.no_grad():
            self.model.weight.fill_(value)

    def learn(self, view):
        self.started.set()
        time.sleep(self.job_s)
        self._set(view)
        return {'train/view': view}

    def idle(self, pixels, view):
        return {'train/idle': 1}

    def ready(self):
        return self.can_update

    def update(self, view=None):
        time.sleep(self.job_s)
        self.updates += 1
        self._set(self.updates)
        return {'train/updates': self.updates}


def weight(background):
    with background.weights() as (model, version):
        return float(model.weight.detach()), version


@pytest.mark.parametrize('lag', [0, 1, 2])
def test_paced_the_actor_gets_the_weights_of_lag_steps_ago(lag):
    trainer = CountingTrainer(job_s=0.01)
    background = BackgroundTrainer(trainer, lag, free_running=False)
    assert background.threaded is (lag > 0)
    seen, logged = [], []
    for view in range(1, 8):
        background.submit_learn(view)
        logged.append(background.settle().get('train/view'))
        seen.append(weight(background)[0])
    expected = [max(0, view - lag) for view in range(1, 8)]
    assert seen == expected  # 0: the initial weights
    assert logged == [v or None for v in expected]  # the metrics of the weights handed over
    with background.quiet():
        assert float(trainer.model.weight.detach()) == 7  # every job done
    background.close()
    assert weight(background)[0] == 7  # after the session: the newest weights


def test_settle_waits_only_for_the_job_lag_steps_back():
    trainer = CountingTrainer(job_s=0.3)
    background = BackgroundTrainer(trainer, 1, free_running=False)
    background.submit_learn(1)
    started = time.perf_counter()
    background.settle()  # needs job 0 only: no wait
    assert time.perf_counter() - started < 0.2
    background.submit_learn(2)
    background.settle()  # needs job 1: waits for it
    assert time.perf_counter() - started > 0.25
    assert weight(background)[0] == 1
    background.close()


def test_stored_actor_weights_come_back_for_the_next_steps():
    trainer = CountingTrainer()
    background = BackgroundTrainer(trainer, 2, free_running=False)
    for view in range(1, 6):
        background.submit_learn(view)
        background.settle()
    background.close()
    stored = background.actor_state_dicts()
    assert [float(s['weight']) for s in stored] == [3, 4]
    resumed = BackgroundTrainer(trainer, 2, free_running=False, actor_weights=stored)
    seen = []
    for view in range(6, 9):
        seen.append(weight(resumed)[0])
        resumed.submit_learn(view)
        resumed.settle()
    assert seen == [3, 4, 5]  # as if the run had never stopped
    resumed.close()


def test_free_running_trains_without_the_actor_and_publishes_the_newest_weights():
    trainer = CountingTrainer(job_s=0.01)
    background = BackgroundTrainer(trainer, 1, free_running=True)
    assert background.lag == 0
    background.submit_learn(1)
    assert background.settle() == {}  # nothing to learn from yet: no wait either
    trainer.can_update = True
    background.submit_learn(2)
    deadline = time.monotonic() + 10
    while weight(background)[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert weight(background)[0] >= 5
    with background.weights() as (model, _):  # while the actor reads, its slot stays put
        held = float(model.weight)
        time.sleep(0.1)
        assert float(model.weight) == held
    assert background.settle()['train/updates'] >= 5
    with background.quiet():
        paused = trainer.updates
        time.sleep(0.1)
        assert trainer.updates == paused
    background.close()
    stopped = trainer.updates
    time.sleep(0.1)
    assert trainer.updates == stopped


def test_a_failing_job_reaches_the_actor():
    trainer = CountingTrainer()
    trainer.learn = lambda view: 1 / 0
    background = BackgroundTrainer(trainer, 1, free_running=False)
    background.submit_learn(1)
    background.submit_learn(2)
    with pytest.raises(RuntimeError, match='the learner stopped') as raised:
        background.settle()
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    with pytest.raises(RuntimeError):
        background.submit_learn(3)
