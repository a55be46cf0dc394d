"""A checkpoint written by an earlier devrobot still loads, predicts and resumes.

`fixtures/learner_9b001ae.pt` was written by the learner of commit 9b001ae (before the learner
was split into policy, trainer and checkpoint module): tiny model configs (`tiny_models.py`), a
16 px dot world (seed 0, dot radius 1, 3 px moves), the `sequence:alternate` policy, 8 steps,
5 updates at batch 4 with a learning-rate half-life of 2 updates, the last 6 transitions of the
replay. `learner_9b001ae.json` holds what that learner reported right after saving.
"""

import json
import pathlib
import shutil

import numpy as np
import pytest
import torch

import devrobot_world_model
from devrobot_core.session_loop import run_session
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.learning.learner import Learner, LearnerConfig
from tiny_models import tiny_configs

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
WRITTEN = json.loads((FIXTURES / 'learner_9b001ae.json').read_text())


def tiny_robot():
    return SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3, seed=0))


def checkpoint_folder(tmp_path):
    folder = tmp_path / 'checkpoints'
    folder.mkdir()
    shutil.copy(FIXTURES / 'learner_9b001ae.pt', folder / 'checkpoint.pt')
    return folder


def test_the_prediction_api_loads_the_old_checkpoint(tmp_path):
    model = devrobot_world_model.load(checkpoint_folder(tmp_path))
    frame = tiny_robot().read().pixels
    predicted = model.predict(frame[None], [model.action_space[1]])
    assert predicted.shape == (1, 16, 16, 3) and predicted.dtype == np.uint8
    total = sum(float(p.detach().double().sum()) for p in model.model.parameters())
    assert total == pytest.approx(WRITTEN['parameter_sum'], rel=1e-9)


@pytest.mark.parametrize('lag', [0, 1])
def test_a_learner_resumes_from_the_old_checkpoint_and_goes_on_learning(tmp_path, lag):
    config = LearnerConfig(batch_size=4, warmup_transitions=4, augment_shift_px=2,
                           checkpoint_every=0, lr_half_life_updates=2,
                           policy='sequence:alternate', image_size=16, actor_lag_steps=lag)
    learner = Learner(tiny_robot().action_space, config, tiny_configs(),
                      checkpoint_dir=checkpoint_folder(tmp_path))
    assert (learner.steps, learner.updates, len(learner.replay)) == (
        WRITTEN['steps'], WRITTEN['updates'], WRITTEN['replay'])
    rates = [g['lr'] for g in learner.trainer.optimizer.param_groups]
    assert rates == pytest.approx(WRITTEN['lr'])
    assert learner.scores(tiny_robot().read().pixels) == pytest.approx(
        WRITTEN['scores_first_frame'], abs=1e-6)
    before = [p.detach().clone() for p in learner.model.parameters()]
    run_session(tiny_robot(), learner.policy, 3, learner=learner)
    learner.close()
    assert (learner.steps, learner.updates) == (WRITTEN['steps'] + 3, WRITTEN['updates'] + 3)
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.model.parameters()))
    again = Learner(tiny_robot().action_space, config, tiny_configs(),
                    checkpoint_dir=tmp_path / 'checkpoints')  # and what it saved loads too
    assert again.steps == WRITTEN['steps'] + 3
    again.close()
