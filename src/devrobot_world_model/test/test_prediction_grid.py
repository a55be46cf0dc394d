"""The prediction grid the learner uploads to wandb every N steps, as the original did."""

import sys
import types

import numpy as np
import pytest

from devrobot_core.motor import Transition
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.learning import metrics
from devrobot_world_model.learning.learner import Learner, LearnerConfig
from tiny_models import tiny_configs


class FakeWandb:
    """Stands in for the wandb module: records what runs log, keeps Images as arrays."""

    def __init__(self):
        self.logged = []

    def init(self, **kwargs):
        wandb = self

        class Run:
            def log(self, data, step):
                wandb.logged.append((step, data))

            def finish(self):
                pass
        return Run()

    class Image:
        def __init__(self, data, caption=None):
            self.data, self.caption = np.asarray(data), caption


@pytest.fixture
def fake_wandb(monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, 'wandb', types.SimpleNamespace(
        init=fake.init, Image=FakeWandb.Image))
    return fake


def test_the_grid_puts_current_reconstruction_and_predictions_side_by_side():
    tiles = [np.full((4, 5, 3), value, np.uint8) for value in (10, 20, 30, 40)]
    grid = metrics.prediction_grid(tiles[0], tiles[1], tiles[2:])
    assert grid.shape == (4, 4 * 5 + 3 * metrics.GRID_GAP_PX, 3)
    for index, value in enumerate((10, 20, 30, 40)):
        left = index * (5 + metrics.GRID_GAP_PX)
        assert (grid[:, left:left + 5] == value).all()
        if index < 3:
            assert (grid[:, left + 5:left + 5 + metrics.GRID_GAP_PX] == 255).all()
    with pytest.raises(ValueError, match='uint8'):
        metrics.prediction_grid(tiles[0], tiles[1], [np.zeros((4, 6, 3), np.uint8)])


def test_images_go_to_wandb_only(tmp_path, fake_wandb, monkeypatch):
    plain = metrics.MetricsLogger(tmp_path / 'plain')
    assert not plain.logs_images
    plain.log_images({'x': np.zeros((2, 2, 3), np.uint8)}, 1)  # nowhere to go: nothing
    plain.close()
    logger = metrics.MetricsLogger(tmp_path, wandb_project='p', wandb_mode='offline')
    assert logger.logs_images
    logger.log_images({'x': np.ones((2, 2, 3), np.uint8)}, 7, {'x': 'hello'})
    logger.close()
    step, data = fake_wandb.logged[-1]
    assert step == 7 and data['x'].caption == 'hello' and data['x'].data.sum() == 12
    assert 'x' not in (tmp_path / 'metrics.jsonl').read_text()


def test_the_learner_uploads_the_grid_every_n_steps(tmp_path, fake_wandb):
    robot = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    config = LearnerConfig(batch_size=4, warmup_transitions=4, checkpoint_every=0,
                           policy='random', wandb_project='p', wandb_mode='offline',
                           wandb_images_every=3, image_size=16)
    logger = metrics.MetricsLogger(tmp_path, config.wandb_project, config.wandb_mode)
    learner = Learner(robot.action_space, config, tiny_configs(), logger=logger)
    frame, seen = robot.read(), {}
    for _ in range(7):
        index, _ = learner.select(frame.pixels)
        outcome = robot.send(robot.action_space[index])
        next_frame = robot.read()
        learner.observe(Transition(frame, outcome, next_frame))
        seen[learner.steps] = next_frame.pixels
        frame = next_frame
    learner.close()
    logger.close()
    grids = [(step, data[metrics.PREDICTION_GRID]) for step, data in fake_wandb.logged
             if metrics.PREDICTION_GRID in data]
    assert [step for step, _ in grids] == [3, 6]
    step, image = grids[0]
    assert image.data.shape == (16, 4 * 16 + 3 * metrics.GRID_GAP_PX, 3)
    np.testing.assert_array_equal(image.data[:, :16], seen[3])  # the frame it sees now
    assert image.caption.startswith('current | reconstruction | after 0/0/0.2s')


def test_no_wandb_no_grid(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'wandb', None)  # importing it would fail
    robot = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    config = LearnerConfig(batch_size=4, warmup_transitions=4, checkpoint_every=0,
                           policy='random', wandb_images_every=1, image_size=16)
    logger = metrics.MetricsLogger(tmp_path)
    learner = Learner(robot.action_space, config, tiny_configs(), logger=logger)
    frame = robot.read()
    outcome = robot.send(robot.action_space[1])
    learner.observe(Transition(frame, outcome, robot.read()))
    learner.close()
    logger.close()
