"""The learner through the Policy protocol, on a tiny simulated world."""

import dataclasses

import numpy as np
import pytest
import torch

from devrobot_core.motor import MotorStatus, Transition
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.learning.checkpoint_io import CheckpointError
from devrobot_world_model.learning.learner import Learner, LearnerConfig
from devrobot_world_model.learning.metrics import RecordingLogger
from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images
from tiny_models import tiny_configs

FAST = dict(batch_size=4, warmup_transitions=4, augment_shift_px=2, checkpoint_every=0,
            lr_half_life_updates=0)  # constant rates unless a test is about the decay


def tiny_robot(seed=0):
    return SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3, seed=seed))


def make_learner(tmp_path=None, configs=None, logger=None, **fields):
    config = LearnerConfig(**{**FAST, **fields})
    return Learner(tiny_robot().action_space, config, configs or tiny_configs(),
                   run_dir=tmp_path, logger=logger or RecordingLogger())


def drive(learner, robot, steps):
    """The exploration loop in miniature: select, send, observe; returns the last metrics."""
    frame, metrics = robot.read(), {}
    for _ in range(steps):
        index, _ = learner.select(frame.pixels)
        if index is None:
            learner.idle(frame.pixels)
            continue
        outcome = robot.send(robot.action_space[index])
        next_frame = robot.read()
        metrics = learner.observe(Transition(frame, outcome, next_frame))
        frame = next_frame
    return metrics


def test_policy_methods_return_what_the_exploration_core_and_node_expect():
    learner, robot = make_learner(), tiny_robot()
    metrics = drive(learner, robot, 8)
    assert learner.steps == 8 and learner.updates == 5  # one update per step after warm-up
    assert all('/' in key for key in metrics)
    assert np.isfinite(metrics['train/predictor_training_loss'])
    index, info = learner.select(robot.read().pixels)
    assert index in (0, 1) and len(info['scores']) == 2
    seen = learner.inspect(robot.read().pixels)
    assert seen['reconstruction'].shape == (16, 16, 3) and seen['reconstruction'].dtype == np.uint8
    assert [p.shape for p in seen['predictions']] == [(16, 16, 3)] * 2
    assert len(seen['scores']) == 2
    assert learner.logger.values('act/action')  # the same dicts went to the logger


def test_selector_specs_replace_the_uncertainty_policy():
    learner, robot = make_learner(policy='sequence:alternate'), tiny_robot()
    chosen = [learner.select(robot.read().pixels)[0] for _ in range(4)]
    assert chosen == [0, 1, 0, 1]


def test_the_quality_gate_idles_until_reconstruction_is_good_enough():
    learner, robot = make_learner(quality_gate=True, quality_threshold=0.0), tiny_robot()
    pixels = robot.read().pixels
    index, info = learner.select(pixels)
    assert index is None and info['act/gated'] == 1
    first = learner.idle(pixels)
    second = learner.idle(pixels)
    assert second['train/consecutive_autoencoder_iterations'] == 2
    assert second['train/autoencoder_training_loss'] < first['train/autoencoder_training_loss']
    learner.config.quality_threshold = float('inf')
    assert learner.select(pixels)[0] is not None  # gate open: the robot acts again


def test_replay_ratio_and_error_trigger_decide_how_often_to_train():
    sparse, robot = make_learner(updates_per_step=0.25), tiny_robot()
    drive(sparse, robot, 12)
    assert sparse.updates == 2  # steps 4..12 earn 9 * 0.25 updates
    never = make_learner(error_triggered=True, error_threshold=float('inf'))
    metrics = drive(never, tiny_robot(), 8)
    assert never.updates == 0 and 'train/fresh_prediction_error' in metrics
    always = make_learner(error_triggered=True, error_threshold=-1.0, max_triggered_updates=3)
    drive(always, tiny_robot(), 6)
    assert always.updates == 3 * 3


def test_rejected_commands_are_not_learned_from():
    learner, robot = make_learner(), tiny_robot()
    frame = robot.read()
    outcome = dataclasses.replace(robot.send(robot.action_space[1]),
                                  status=MotorStatus.REJECTED_STALE)
    metrics = learner.observe(Transition(frame, outcome, robot.read()))
    assert metrics == {'train/skipped_transitions': 1} and learner.steps == 0


def test_a_non_finite_loss_skips_the_update_and_is_counted(monkeypatch):
    learner, robot = make_learner(), tiny_robot()
    drive(learner, robot, 4)
    before = [p.detach().clone() for p in learner.model.parameters()]
    real = learner.model.forward_loss

    def poisoned(*args):
        loss, per_sample, parts = real(*args)
        return loss * float('nan'), per_sample, parts
    monkeypatch.setattr(learner.model, 'forward_loss', poisoned)
    metrics = drive(learner, robot, 1)
    assert metrics['train/non_finite_skipped'] == 1 and metrics['train/non_finite_total'] == 1
    assert all(torch.equal(a, b) for a, b in zip(before, learner.model.parameters()))


def test_a_resumed_run_continues_exactly_where_the_last_stopped(tmp_path):
    straight, robot = make_learner(tmp_path / 'straight'), tiny_robot()
    drive(straight, robot, 12)
    first, robot = make_learner(tmp_path / 'split'), tiny_robot()
    drive(first, robot, 6)
    first.close()
    second = make_learner(tmp_path / 'split')
    assert (second.steps, second.updates, len(second.replay)) == (6, 3, 6)
    drive(second, robot, 6)
    for a, b in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert (tmp_path / 'split' / 'checkpoints' / 'checkpoint.pt').is_file()


def test_learning_rates_explicit_then_checkpoint_then_config(tmp_path):
    learner = make_learner(tmp_path)
    drive(learner, tiny_robot(), 5)
    learner.optimizer.param_groups[1]['lr'] = 5e-4  # as a schedule would leave it
    learner.close()
    resumed = make_learner(tmp_path)
    assert [g['lr'] for g in resumed.optimizer.param_groups] == [1e-3, 5e-4]
    explicit = Learner(tiny_robot().action_space, LearnerConfig(**FAST), tiny_configs(),
                       run_dir=tmp_path, logger=RecordingLogger(), predictor_lr=2e-4)
    assert [g['lr'] for g in explicit.optimizer.param_groups] == [1e-3, 2e-4]
    fresh = make_learner(tmp_path / 'fresh', autoencoder_lr=3e-3)
    drive(fresh, tiny_robot(), 1)
    assert fresh.optimizer.param_groups[0]['lr'] == 3e-3


def test_resuming_with_another_architecture_or_action_space_is_refused(tmp_path):
    learner = make_learner(tmp_path)
    drive(learner, tiny_robot(), 3)
    learner.close()
    with pytest.raises(CheckpointError, match='different architecture'):
        make_learner(tmp_path, configs=tiny_configs(predictor='lstm'))
    three = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, distractor=True,
                                       distractor_size=4)).action_space
    with pytest.raises(CheckpointError, match='action space'):
        Learner(three, LearnerConfig(**FAST), tiny_configs(), run_dir=tmp_path,
                logger=RecordingLogger())


def test_higher_levels_are_created_when_the_level_below_predicts_well():
    configs = tiny_configs(hierarchy_levels=3, level_up_error=1.0)  # any loss counts as good
    learner, robot = make_learner(configs=configs), tiny_robot()
    drive(learner, robot, 5)  # first update: level 0 is good -> level 1 is created
    level_1 = [p.detach().clone() for p in learner.model.levels[0].parameters()]
    metrics = drive(learner, robot, 4)
    assert learner.active_levels == 3 and metrics['train/hierarchy_levels'] == 3
    assert 'train/level_1_patch_loss' in metrics and 'prediction_errors/level_1' in metrics
    after = learner.model.levels[0].parameters()
    assert any(not torch.equal(a, b) for a, b in zip(level_1, after))
    strict = make_learner(configs=tiny_configs(hierarchy_levels=3, level_up_error=0.0))
    drive(strict, tiny_robot(), 9)
    assert strict.active_levels == 1  # a level is only created on top of a good one


def test_learning_rates_decay_by_half_life_down_to_the_floor(tmp_path):
    learner = make_learner(tmp_path, lr_half_life_updates=2, lr_floor=0.25,
                           predictor_lr=1e-3)
    drive(learner, tiny_robot(), 6)  # 3 updates: factors 1, 0.71, 0.5
    assert learner.optimizer.param_groups[0]['lr'] == pytest.approx(0.5e-3)
    drive(learner, tiny_robot(), 6)
    assert learner.optimizer.param_groups[1]['lr'] == pytest.approx(0.25e-3)
    learner.close()
    resumed = Learner(tiny_robot().action_space,
                      LearnerConfig(**{**FAST, 'lr_half_life_updates': 2, 'lr_floor': 0.25}),
                      tiny_configs(), run_dir=tmp_path, logger=RecordingLogger(),
                      predictor_lr=4e-3)
    drive(resumed, tiny_robot(), 1)
    assert resumed.optimizer.param_groups[1]['lr'] == pytest.approx(1e-3)  # 4e-3 * floor


def test_inspect_predicts_from_the_history_the_predictor_was_trained_on():
    configs = tiny_configs(history=3)
    learner, robot = make_learner(configs=configs), tiny_robot()
    drive(learner, robot, 6)
    for name, parameter in learner.model.named_parameters():  # make history matter
        if 'to_delta' in name:
            torch.nn.init.normal_(parameter, std=0.5)
    frames = [pixels for pixels, _ in learner._context]
    actions = [action for _, action in learner._context]
    assert len(frames) == 2  # history 3: two observed steps before the current frame
    current = robot.read().pixels
    seen = learner.inspect(current)
    model = learner.model
    with torch.no_grad():
        latents = model.encode(to_unit_images(torch.from_numpy(np.stack(frames + [current]))))
        for index, predicted in enumerate(seen['predictions']):
            expected = model.decode(model.predict(latents[None], torch.tensor(
                [actions + [index]])))
            assert np.array_equal(predicted, to_uint8_images(torch.sigmoid(expected))[0].numpy())
        alone = model.decode(model.predict(latents[None, -1:], torch.tensor([[0]])))
    assert not np.array_equal(seen['predictions'][0],
                              to_uint8_images(torch.sigmoid(alone))[0].numpy())


@pytest.mark.parametrize('autoencoder, setting, expected', [
    ('cnn', -1, 500), ('vit', -1, 0), ('vit', 7, 7), ('cnn', 0, 0)])
def test_the_default_half_life_follows_the_autoencoder_and_an_explicit_one_wins(
        autoencoder, setting, expected):
    learner = make_learner(configs=tiny_configs(autoencoder=autoencoder),
                           lr_half_life_updates=setting)
    drive(learner, tiny_robot(), 1)  # the model (and its schedule) is built at the first frame
    assert learner.lr_half_life == expected
    assert LearnerConfig().lr_half_life_updates == -1
    with pytest.raises(ValueError, match='lr_half_life_updates'):
        LearnerConfig(lr_half_life_updates=-2)


def test_the_vit_keeps_its_learning_rates_by_default():
    learner = make_learner(configs=tiny_configs(autoencoder='vit'), lr_half_life_updates=-1)
    drive(learner, tiny_robot(), 12)
    assert learner.updates > 5
    assert [group['lr'] for group in learner.optimizer.param_groups] == \
        [group['initial_lr'] for group in learner.optimizer.param_groups]
