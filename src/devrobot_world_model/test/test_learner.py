"""The learner in the session loop, on a tiny simulated world: acting, learning, resuming."""

import dataclasses
import time

import numpy as np
import pytest
import torch

from devrobot_core.motor import MotorStatus, Transition
from devrobot_core.session_loop import run_session
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.learning.checkpoint_io import CheckpointError
from devrobot_world_model.learning.learner import (
    AUTO_LAG, Learner, LearnerConfig, resolve_actor_lag)
from devrobot_world_model.learning.level_competence import CompetentLevels
from devrobot_world_model.learning.metrics import RecordingLogger
from devrobot_world_model.model.pixel_losses import to_uint8_images, to_unit_images
from tiny_models import tiny_configs

FAST = dict(batch_size=4, warmup_transitions=4, augment_shift_px=2, checkpoint_every=0,
            lr_half_life_updates=0, image_size=16)  # constant rates unless a test decays them


def tiny_robot(seed=0):
    return SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3, seed=seed))


def make_learner(tmp_path=None, configs=None, **fields):
    """A learner as an entry point builds it: torch seeded first, then the model."""
    config = LearnerConfig(**{**FAST, **fields})
    torch.manual_seed(config.seed)
    return Learner(tiny_robot().action_space, config, configs or tiny_configs(),
                   checkpoint_dir=None if tmp_path is None else tmp_path / 'checkpoints')


def drive(learner, robot, steps, logger=None):
    """`steps` steps of the session loop; returns once the trainer has done every job."""
    logger = logger or RecordingLogger()
    run_session(robot, learner.policy, steps, learner=learner, logger=logger,
                first_step=learner.steps)
    with learner.quiet():
        return logger


def test_the_loop_learns_and_logs_selection_and_training_figures():
    learner, robot = make_learner(), tiny_robot()
    logger = drive(learner, robot, 8)
    assert learner.steps == 8 and learner.updates == 5  # one update per step after warm-up
    last = logger.records[-1][1]
    assert all('/' in key for key in last)
    assert np.isfinite(logger.values('train/total_loss')[-1])
    for key in ('act/uncertainty', 'act/score/0', 'act/score/1', 'act/disagreement/1',
                'act/predicted_error/0', 'act/gated', 'perf/select_ms',
                'act/action', 'perf/steps_per_s', 'train/updates'):
        assert key in last, key
    assert [step for step, _ in logger.records] == list(range(1, 9))
    index, info = learner.select(robot.read().pixels)
    assert index in (0, 1) and len(info['scores']) == 2
    seen = learner.inspect(robot.read().pixels)
    assert seen['reconstruction'].shape == (16, 16, 3) and seen['reconstruction'].dtype == np.uint8
    assert [p.shape for p in seen['predictions']] == [(16, 16, 3)] * 2
    assert len(seen['scores']) == 2
    learner.close()


def test_selector_specs_replace_the_uncertainty_policy():
    learner, robot = make_learner(policy='sequence:alternate'), tiny_robot()
    chosen = [learner.select(robot.read().pixels)[0] for _ in range(4)]
    assert chosen == [0, 1, 0, 1]
    learner.close()


def test_the_quality_gate_idles_until_reconstruction_is_good_enough():
    learner = make_learner(quality_gate=True, quality_threshold=0.0, actor_lag_steps=0)
    pixels = tiny_robot().read().pixels
    index, info = learner.select(pixels)
    assert index is None and info['act/gated'] == 1
    first = learner.idle(pixels)
    second = learner.idle(pixels)
    assert second['train/consecutive_autoencoder_iterations'] == 2
    assert second['train/reconstruction_loss'] < first['train/reconstruction_loss']
    learner.policy.threshold = float('inf')
    assert learner.select(pixels)[0] is not None  # gate open: the robot acts again
    logger = drive(learner, tiny_robot(), 2)
    assert logger.values('train/consecutive_autoencoder_iterations') == [2]  # streak ended
    learner.close()


def test_a_gated_session_trains_on_the_frames_it_declines():
    learner, robot = make_learner(quality_gate=True, quality_threshold=0.0), tiny_robot()
    with pytest.raises(RuntimeError, match='declined to act 4 times'):
        run_session(robot, learner.policy, 3, learner=learner, max_idle_steps=4)
    with learner.quiet():
        assert learner.trainer.last_recon_loss < float('inf')  # the idle updates ran
    learner.close()


def test_replay_ratio_and_error_trigger_decide_how_often_to_train():
    sparse = make_learner(updates_per_step=0.25)
    drive(sparse, tiny_robot(), 12)
    assert sparse.updates == 2  # steps 4..12 earn 9 * 0.25 updates
    never = make_learner(error_triggered=True, error_threshold=float('inf'))
    logger = drive(never, tiny_robot(), 8)
    assert never.updates == 0 and logger.values('train/fresh_prediction_error')
    always = make_learner(error_triggered=True, error_threshold=-1.0, max_triggered_updates=3)
    drive(always, tiny_robot(), 6)
    assert always.updates == 3 * 3
    for learner in (sparse, never, always):
        learner.close()


def test_rejected_commands_are_not_learned_from():
    learner, robot = make_learner(), tiny_robot()
    frame = robot.read()
    outcome = dataclasses.replace(robot.send(robot.action_space[1]),
                                  status=MotorStatus.REJECTED_STALE)
    metrics = learner.observe(Transition(frame, outcome, robot.read()))
    assert metrics == {'train/skipped_transitions': 1} and learner.steps == 0
    learner.close()


def test_a_non_finite_loss_skips_the_update_and_is_counted(monkeypatch):
    learner, robot = make_learner(actor_lag_steps=0), tiny_robot()
    drive(learner, robot, 4)
    before = [p.detach().clone() for p in learner.model.parameters()]
    real = learner.model.forward_loss

    def poisoned(*args):
        loss, per_sample, parts = real(*args)
        return loss * float('nan'), per_sample, parts
    monkeypatch.setattr(learner.model, 'forward_loss', poisoned)
    logger = drive(learner, robot, 1)
    assert logger.values('train/non_finite_skipped') == [1]
    assert logger.values('train/non_finite_total') == [1]
    assert all(torch.equal(a, b) for a, b in zip(before, learner.model.parameters()))
    learner.close()


@pytest.mark.parametrize('lag', [0, 1, 2])
def test_a_resumed_run_continues_exactly_where_the_last_stopped(tmp_path, lag):
    straight = make_learner(tmp_path / 'straight', actor_lag_steps=lag)
    actions = drive(straight, tiny_robot(), 12).values('act/action')
    first, robot = make_learner(tmp_path / 'split', actor_lag_steps=lag), tiny_robot()
    split = drive(first, robot, 6).values('act/action')
    first.close()
    second = make_learner(tmp_path / 'split', actor_lag_steps=lag)
    assert (second.steps, second.updates, len(second.replay)) == (6, 3, 6)
    split += drive(second, robot, 6).values('act/action')
    assert split == actions  # the same weights chose the same actions
    for a, b in zip(straight.model.parameters(), second.model.parameters()):
        assert torch.equal(a, b)
    assert (tmp_path / 'split' / 'checkpoints' / 'checkpoint.pt').is_file()
    straight.close()
    second.close()


def test_a_seed_reproduces_a_background_run_bit_for_bit():
    runs = []
    for _ in range(2):
        learner = make_learner(actor_lag_steps=1, seed=3, epsilon=0.3)
        logger = drive(learner, tiny_robot(seed=3), 16)
        runs.append(([p.detach().clone() for p in learner.model.parameters()],
                     [{k: v for k, v in m.items() if not k.startswith(('perf/', 'action_t'))}
                      for _, m in logger.records]))
        learner.close()
    (weights_a, logged_a), (weights_b, logged_b) = runs
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b))
    assert logged_a == logged_b


class ProbingPolicy:
    """Before each selection, notes the actor's scores of one fixed probe frame."""

    def __init__(self, policy, probe):
        self.policy, self.probe, self.probed = policy, probe, []

    def select(self, pixels):
        self.probed.append(self.policy.scores(self.probe))
        return self.policy.select(pixels)


def test_the_actor_acts_with_the_weights_of_exactly_lag_steps_ago():
    """With lag 1, the actor's weights at step k are those the lag-0 actor had at step k - 1.

    A random policy makes the same transitions at any lag, so the two trainers match.
    """
    probed, weights = {}, {}
    for lag in (0, 1):
        learner, robot = make_learner(policy='random', actor_lag_steps=lag), tiny_robot()
        policy = ProbingPolicy(learner.policy, tiny_robot(seed=5).read().pixels)
        run_session(robot, policy, 10, learner=learner)
        learner.close()
        probed[lag] = policy.probed
        weights[lag] = [p.detach().clone() for p in learner.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[1]))
    assert probed[1][1:] == probed[0][:-1]
    assert probed[1][0] == probed[0][0]  # before any job, both use the first weights
    assert len({tuple(s) for s in probed[0]}) > 5  # the weights did change step by step


def test_without_a_ratio_the_actor_never_waits_for_the_learner(monkeypatch):
    learner = make_learner(updates_per_step=-1)
    real_update = learner.trainer.update

    def slow_update(view=None):
        time.sleep(0.2)
        return real_update(view)
    monkeypatch.setattr(learner.trainer, 'update', slow_update)
    started = time.perf_counter()
    logger = drive(learner, tiny_robot(), 30)
    assert time.perf_counter() - started < 0.2 * 30 / 2  # far fewer updates than steps
    assert learner.steps == 30
    deadline = time.monotonic() + 10
    while learner.updates < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert learner.updates >= 2  # it trains on while the robot does nothing
    assert 'perf/learner_samples_per_s' in logger.records[-1][1]
    learner.close()
    updates = learner.updates
    time.sleep(0.3)
    assert learner.updates == updates  # closed: stopped


@pytest.mark.parametrize('lag', [0, 1])
def test_a_failing_trainer_stops_the_session_with_its_error(monkeypatch, lag):
    learner = make_learner(actor_lag_steps=lag)
    monkeypatch.setattr(learner.trainer, 'learn', lambda view: 1 / 0)
    with pytest.raises(RuntimeError, match='the learner stopped') as raised:
        drive(learner, tiny_robot(), 5)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)


def test_learning_rates_explicit_then_checkpoint_then_config(tmp_path):
    learner = make_learner(tmp_path, predictor_lr=5e-4)
    drive(learner, tiny_robot(), 5)
    learner.close()
    resumed = make_learner(tmp_path)  # the config's default predictor rate is 2e-3
    assert [g['lr'] for g in resumed.trainer.optimizer.param_groups] == [1e-3, 5e-4]
    resumed.close()
    torch.manual_seed(0)
    explicit = Learner(tiny_robot().action_space, LearnerConfig(**FAST), tiny_configs(),
                       checkpoint_dir=tmp_path / 'checkpoints', predictor_lr=2e-4)
    assert [g['lr'] for g in explicit.trainer.optimizer.param_groups] == [1e-3, 2e-4]
    explicit.close()
    fresh = make_learner(tmp_path / 'fresh', autoencoder_lr=3e-3)
    drive(fresh, tiny_robot(), 1)
    assert fresh.trainer.optimizer.param_groups[0]['lr'] == 3e-3
    fresh.close()


def test_resuming_with_another_architecture_action_space_or_size_is_refused(tmp_path):
    learner = make_learner(tmp_path)
    drive(learner, tiny_robot(), 3)
    learner.close()
    with pytest.raises(CheckpointError, match='different architecture'):
        make_learner(tmp_path, configs=tiny_configs(predictor='lstm'))
    with pytest.raises(CheckpointError, match='trained on 16 px frames, not 32'):
        make_learner(tmp_path, image_size=32)
    three = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, distractor=True,
                                       distractor_size=4)).action_space
    with pytest.raises(CheckpointError, match='action space'):
        Learner(three, LearnerConfig(**FAST), tiny_configs(),
                checkpoint_dir=tmp_path / 'checkpoints')


def test_higher_levels_are_created_once_the_level_below_passes_its_checks():
    from devrobot_world_model.learning.hierarchy import HierarchyConfig
    lenient = HierarchyConfig(level_check_steps=2, level_checks=1, level_r2=-1e9,
                              level_position_px=0.0, level_batch_size=4)
    configs = tiny_configs(hierarchy_levels=3) + [lenient]
    learner = make_learner(configs=configs, policy='sequence:always_move')
    robot = tiny_robot()
    logger = drive(learner, robot, 3)  # two fresh runs of level 0: a check passed
    assert learner.model.active_levels == 2
    created = learner.model.level_created_at.tolist()
    assert created[0] == 0 and created[1] in (2, 3) and created[2] == -1
    level_1 = [p.detach().clone() for p in learner.model.levels[0].parameters()]
    logger = drive(learner, robot, 8)
    assert learner.model.active_levels == 3 and learner.model.level_created_at[2] > created[1]
    assert logger.values('train/hierarchy_levels')[-1] == 3
    assert logger.values('hierarchy/level_created') == [2]
    assert logger.values('train/level_1_patch_loss') and logger.values(
        'hierarchy/level_1_r2_min')
    assert logger.values('train/level_1_code_restarts')[-1] == 0  # too few runs to count any
    after = learner.model.levels[0].parameters()
    assert any(not torch.equal(a, b) for a, b in zip(level_1, after))
    strict = make_learner(configs=tiny_configs(hierarchy_levels=3) + [
        HierarchyConfig(level_check_steps=2, level_r2=2.0)],  # R² never reaches 2
        policy='sequence:always_move')
    drive(strict, tiny_robot(), 9)
    assert strict.model.active_levels == 1  # only created on top of a competent one
    learner.close()
    strict.close()


def test_each_level_follows_the_schedule_from_its_own_first_update(tmp_path):
    from devrobot_world_model.learning.hierarchy import HierarchyConfig
    configs = tiny_configs(hierarchy_levels=2) + [HierarchyConfig(level_batch_size=2)]
    learner = make_learner(tmp_path, configs=configs, lr_half_life_updates=2, lr_floor=0.25,
                           predictor_lr=1e-3)
    trainer, strategy = learner.trainer, learner.trainer.levels
    predictor = next(g for g in trainer.optimizer.param_groups if g['name'] == 'predictor')
    robot = tiny_robot()
    drive(learner, robot, 12)  # level 0 at its floor; no level above it yet
    assert predictor['lr'] == pytest.approx(0.25e-3)
    learner.model.level_created_at[1] = learner.steps
    level_1 = [p.detach().clone() for p in learner.model.levels[0].parameters()]
    logger = drive(learner, robot, 3)
    # the new level starts at the initial rate and halves every 2 of its own updates
    assert logger.values('train/level_1_lr') == pytest.approx([1e-3, 0.5 ** 0.5 * 1e-3, 0.5e-3])
    assert predictor['lr'] == pytest.approx(0.25e-3)  # level 0's rate is left as it was
    assert any(not torch.equal(a, b)
               for a, b in zip(level_1, learner.model.levels[0].parameters()))
    learner.save()
    assert strategy.state_dict()['level_updates'] == {'1': 3}
    learner.close()
    resumed = make_learner(tmp_path, configs=configs, lr_half_life_updates=2, lr_floor=0.25,
                           predictor_lr=1e-3)
    assert resumed.trainer.levels.level_updates == {1: 3}
    resumed.close()
    older = CompetentLevels(learner.model)
    older.load_state_dict({'updates': 40, 'level_streaks': {}})  # saved before own schedules
    assert older.level_updates.get(1, older.updates_before_own_schedules) == 40


def test_learning_rates_decay_by_half_life_down_to_the_floor(tmp_path):
    learner = make_learner(tmp_path, lr_half_life_updates=2, lr_floor=0.25,
                           predictor_lr=1e-3)
    groups = learner.trainer.optimizer.param_groups
    drive(learner, tiny_robot(), 6)  # 3 updates: factors 1, 0.71, 0.5, next 0.35
    assert groups[0]['lr'] == pytest.approx(1e-3 * 0.5 ** 1.5)
    drive(learner, tiny_robot(), 6)
    assert groups[1]['lr'] == pytest.approx(0.25e-3)
    learner.close()
    torch.manual_seed(0)
    resumed = Learner(tiny_robot().action_space,
                      LearnerConfig(**{**FAST, 'lr_half_life_updates': 2, 'lr_floor': 0.25}),
                      tiny_configs(), checkpoint_dir=tmp_path / 'checkpoints',
                      predictor_lr=4e-3)
    assert resumed.trainer.optimizer.param_groups[1]['lr'] == pytest.approx(1e-3)  # 4e-3 * 1/4
    resumed.close()


def test_inspect_predicts_from_the_history_the_predictor_was_trained_on():
    configs = tiny_configs(history=3)
    learner, robot = make_learner(configs=configs), tiny_robot()
    drive(learner, robot, 6)
    learner.close()  # the actor now sees the newest weights
    for name, parameter in learner.model.named_parameters():  # make history matter
        if 'to_delta' in name:
            torch.nn.init.normal_(parameter, std=0.5)
    context = list(learner.policy._context)
    frames = [pixels for pixels, _ in context]
    actions = [action for _, action in context]
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


def test_inspecting_the_frame_just_selected_reuses_its_encoding(monkeypatch):
    learner = make_learner()
    pixels = tiny_robot().read().pixels
    with learner.background.weights() as (model, _):
        calls = []
        real = model.encode
        monkeypatch.setattr(model, 'encode', lambda images: calls.append(1) or real(images))
    _, info = learner.select(pixels)
    seen = learner.inspect(pixels)
    assert len(calls) == 1 and seen['scores'] == info['scores']
    learner.close()


@pytest.mark.parametrize('autoencoder, setting, expected', [
    ('cnn', -1, 500), ('vit', -1, 0), ('vit', 7, 7), ('cnn', 0, 0)])
def test_the_default_half_life_follows_the_autoencoder_and_an_explicit_one_wins(
        autoencoder, setting, expected):
    learner = make_learner(configs=tiny_configs(autoencoder=autoencoder),
                           lr_half_life_updates=setting)
    assert learner.trainer.half_life == expected  # the model is built with the learner
    assert LearnerConfig().lr_half_life_updates == -1
    with pytest.raises(ValueError, match='lr_half_life_updates'):
        LearnerConfig(lr_half_life_updates=-2)
    learner.close()


def test_the_vit_keeps_its_learning_rates_by_default():
    learner = make_learner(configs=tiny_configs(autoencoder='vit'), lr_half_life_updates=-1)
    drive(learner, tiny_robot(), 12)
    assert learner.updates > 5
    groups = learner.trainer.optimizer.param_groups
    assert [group['lr'] for group in groups] == [group['initial_lr'] for group in groups]
    learner.close()


@pytest.mark.parametrize('fields', [{'updates_per_step': -2}, {'actor_lag_steps': -2},
                                    {'image_size': 0}, {'epsilon': 2}])
def test_nonsense_settings_are_refused(fields):
    with pytest.raises(ValueError):
        LearnerConfig(**fields)


def test_the_auto_actor_lag_overlaps_acting_with_a_gpu_only():
    assert LearnerConfig().actor_lag_steps == AUTO_LAG
    assert resolve_actor_lag(AUTO_LAG, torch.device('cpu')) == 0
    assert resolve_actor_lag(AUTO_LAG, torch.device('cuda', 0)) == 1
    assert resolve_actor_lag(2, torch.device('cpu')) == 2
    learner = make_learner()  # on this CPU: each transition learned before the next action
    assert learner.actor_lag == 0 and not learner.background.threaded
    learner.close()
