"""Learning progress: zero on noise, positive while learning; the held-back set; the tracker."""

import math

import numpy as np
import pytest

from devrobot_world_model.learning.learning_progress import (
    HeldBackSet, learning_progress, ProgressConfig, ProgressTracker)


def noise_stream(steps, rng):
    """Log errors of an unlearnable outcome: a constant level plus measurement jitter."""
    return np.log(0.02) + 0.05 * rng.standard_normal(steps)


def learnable_stream(steps, rng):
    """Log errors of a learnable one: falling as a power law, with the same jitter."""
    return np.log(0.02 * (1 + np.arange(steps) / 5.0) ** -1.0) + 0.05 * rng.standard_normal(
        steps)


def test_progress_is_zero_on_noise_and_positive_while_learning():
    rng = np.random.default_rng(0)
    window = 4
    noise, learnable = noise_stream(400, rng), learnable_stream(400, rng)
    noise_lp = [learning_progress(noise[:t], window) for t in range(2 * window, 400)]
    learn_lp = [learning_progress(learnable[:t], window) for t in range(2 * window, 400)]
    assert np.mean(noise_lp) < 0.01 and np.median(noise_lp) == 0.0
    assert min(learn_lp[:30]) > 0  # the first thirty measurements: clearly learning
    assert np.mean(learn_lp[:100]) > 10 * np.mean(noise_lp)


def test_progress_needs_two_windows_and_never_goes_negative():
    assert math.isnan(learning_progress([1.0, 0.5, 0.2], window=2))
    assert learning_progress([0.0, 0.0, 1.0, 1.0], window=2) == 0.0  # rising error
    assert learning_progress([2.0, 2.0, 1.0, 1.0], window=2) == pytest.approx(1.0)
    assert learning_progress([3.0, 1.0], window=1) == pytest.approx(2.0)


def test_a_minimum_fall_removes_the_drift_of_a_smooth_series():
    # a noisy outcome's held-back error: flat at the noise floor, shaded down by a hair
    drift = np.log(0.01) - 0.002 * np.arange(16) + 1e-4 * np.random.default_rng(0).standard_normal(
        16)
    assert 0.01 < learning_progress(drift, window=8) < 0.02  # the standard error keeps it
    assert learning_progress(drift, window=8, min_fall=0.02) == 0.0
    learning = np.log(0.01) - 0.05 * np.arange(16)
    assert learning_progress(learning, 8, min_fall=0.02) == pytest.approx(
        learning_progress(learning, 8) - 0.02)
    tracker = ProgressTracker(n_actions=1, window=8, min_fall=0.02)
    for value in drift:
        tracker.record(0, float(value))
    assert tracker.progress()[0] == 0.0


def test_the_tracker_keeps_the_last_two_windows_in_order():
    tracker = ProgressTracker(n_actions=2, window=2)
    assert np.isnan(tracker.progress()).all()
    for value in (9.0, 4.0, 4.0, 3.0, 3.0):
        tracker.record(0, value)
    assert tracker.series(0).tolist() == [4.0, 4.0, 3.0, 3.0]
    progress = tracker.progress()
    assert progress[0] == pytest.approx(1.0) and math.isnan(progress[1])
    assert set(dict(tracker.named_buffers())) == {'log_errors', 'measured'}


def test_the_held_back_set_takes_every_stride_th_transition_until_full():
    held = HeldBackSet(n_actions=2, size=2, stride=3)
    frame = np.zeros((4, 4, 3), np.uint8)
    taken = [held.offer(0, frame + i, frame, view=i) for i in range(8)]
    assert taken == [True, False, False, True, False, False, False, False]
    assert held.offer(1, frame, frame, view=8) and held.full(view=8).keys() == {0}
    assert held.full(view=2) == {}  # its last transition was taken at view 3
    assert [held.held_before(v) for v in (0, 1, 3, 4, 9)] == [0, 1, 1, 2, 3]
    frames, next_frames = held.full(view=3)[0]
    assert frames[:, 0, 0, 0].tolist() == [0, 3] and next_frames.shape == (2, 4, 4, 3)
    copy = HeldBackSet(2, 2, 3)
    copy.load_state_dict(held.state_dict())
    assert copy.seen.tolist() == [8, 1] and copy.full(9)[0][0].tolist() == frames.tolist()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ProgressConfig(progress_window=0)
    with pytest.raises(ValueError):
        ProgressConfig(progress_held_back=-1)
    with pytest.raises(ValueError):
        ProgressConfig(progress_min_fall=-0.01)
    from devrobot_world_model.learning.learner import LearnerConfig
    with pytest.raises(ValueError, match='progress_memory'):
        LearnerConfig(progress_memory=0)


def learner_factory(tmp_path):
    """A tiny learner on a 16 px dot world alternating its actions; each call a fresh one."""
    import torch

    from devrobot_sim.sim_robot import SimRobot
    from devrobot_sim.toroidal_dot import ToroidalDotConfig
    from devrobot_world_model.learning.learner import Learner, LearnerConfig
    from tiny_models import tiny_configs

    robot = SimRobot(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    config = LearnerConfig(batch_size=4, warmup_transitions=4, checkpoint_every=0,
                           image_size=16, policy='sequence:alternate', augment_shift_px=0)
    configs = tiny_configs(held_back=2)  # stride 2, a measurement every 2 steps, window 2

    def make():
        torch.manual_seed(0)
        return Learner(robot.action_space, config, configs,
                       checkpoint_dir=tmp_path / 'checkpoints')
    return robot, make


def test_a_learner_holds_back_measures_and_resumes_its_progress(tmp_path):
    from devrobot_core.session_loop import run_session
    from devrobot_world_model.learning.metrics import RecordingLogger

    robot, make = learner_factory(tmp_path)
    learner, logger = make(), RecordingLogger()
    run_session(robot, learner.policy, 20, learner=learner, logger=logger)
    with learner.quiet():
        pass
    # each action's 1st and 3rd transitions were held back, never replayed
    assert learner.replay.count == 20 - 4
    assert learner.trainer.step_of(learner.replay.count) == 20  # the steps, held back included
    assert [len(kept) for kept in learner.held_back.entries] == [2, 2]
    assert logger.values('progress/held_back_log_error/0')
    series = learner.model.progress.series(1)
    assert len(series) == 4 and np.isfinite(series).all()
    last = logger.records[-1][1]
    assert 'act/progress/0' in last and last['act/progress/0'] >= 0.0
    assert 0.0 <= last['act/falling/0'] <= 1.0
    falling = learner.policy.falling.share.copy()
    assert (falling < 1).any()  # some step saw an action's error not falling
    learner.close()
    resumed = make()
    assert resumed.held_back.seen.tolist() == [10, 10]
    assert [np.array_equal(a[0], b[0]) for a, b in zip(
        resumed.held_back.entries[1], learner.held_back.entries[1])] == [True, True]
    assert resumed.model.progress.series(1).tolist() == series.tolist()
    assert resumed.trainer.progress_next == learner.trainer.progress_next
    assert resumed.policy.falling.share.tolist() == falling.tolist()
    resumed.close()


def test_only_a_selection_updates_the_falling_share(tmp_path):
    from devrobot_core.session_loop import run_session

    robot, make = learner_factory(tmp_path)
    learner = make()
    run_session(robot, learner.policy, 20, learner=learner)
    with learner.quiet():
        pass
    frame = robot.read().pixels
    policy = learner.policy
    before = policy.falling.share.copy()
    scores, parts = policy.scored(frame)  # what evaluation and inspection call
    policy.inspect(frame)
    assert policy.falling.share.tolist() == before.tolist() == parts['falling']
    policy.select(frame)
    expected = before + ((np.asarray(parts['progress']) > 0) - before) / 50
    assert policy.falling.share.tolist() == pytest.approx(expected.tolist())
    learner.close()


def test_progress_is_the_error_against_the_true_next_frame(tmp_path):
    """Not against its reconstruction, whose noise floor moves while the autoencoder learns."""
    import torch

    from devrobot_core.session_loop import run_session
    from devrobot_world_model.model.pixel_losses import to_unit_images

    robot, make = learner_factory(tmp_path)
    learner = make()
    run_session(robot, learner.policy, 20, learner=learner)
    with learner.quiet() as model:
        trainer, view = learner.trainer, learner.replay.count
        trainer.progress_next = 0
        measured = trainer.measure_progress(view)['progress/held_back_log_error/1']
        frames, next_frames = learner.held_back.full(view)[1]
        with torch.no_grad():
            latents = model.encode(to_unit_images(torch.from_numpy(frames)))[:, None]
            predicted = torch.sigmoid(model.decode(model.predict(
                latents, torch.ones((len(frames), 1), dtype=torch.int64))))
            truth = to_unit_images(torch.from_numpy(next_frames))
            reconstruction = torch.sigmoid(model.decode(model.encode(truth)))
        against = {name: float((predicted - target).pow(2).mean(dim=(1, 2, 3)).log().mean())
                   for name, target in (('truth', truth), ('reconstruction', reconstruction))}
    learner.close()
    assert measured == pytest.approx(against['truth'], rel=1e-5)
    assert against['reconstruction'] != pytest.approx(against['truth'], rel=1e-3)
