"""Background threads give way to the actor: their niceness rises, the caller's does not."""

import os
import sys
import threading

import pytest

from devrobot_world_model.learning.thread_priority import lower_this_threads_priority


@pytest.mark.skipif(sys.platform != 'linux', reason='per-thread niceness is Linux')
def test_only_the_calling_thread_becomes_nicer():
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def background():
        lower_this_threads_priority(3)
        seen['nice'] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=background)
    thread.start()
    thread.join()
    assert seen['nice'] == min(19, before + 3)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # the process as a whole unchanged


def test_a_free_running_learner_thread_is_nicer_than_the_actor(tmp_path):
    torch = pytest.importorskip('torch')
    from devrobot_world_model.learning.background_trainer import BackgroundTrainer

    class Trainer:
        model = torch.nn.Linear(2, 2)
        updates = 0

        def __init__(self):
            self.nice = []

        def ready(self):
            return True

        def update(self):
            self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return {}

    if sys.platform != 'linux':
        pytest.skip('per-thread niceness is Linux')
    trainer = Trainer()
    background = BackgroundTrainer(trainer, 0, free_running=True)
    try:
        while not trainer.nice:
            threading.Event().wait(0.01)
    finally:
        background.close()
    assert trainer.nice[0] > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_start_process_sets_torch_threads_only_when_asked():
    torch = pytest.importorskip('torch')
    from devrobot_world_model.learning.learner import start_process
    before = torch.get_num_threads()
    try:
        start_process(0, torch_threads=1)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        start_process(0)  # 0: torch's default stays
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
