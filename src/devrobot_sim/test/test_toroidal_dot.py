"""Semantics of the toroidal-dot world: move is a roll, stay is the identity, edges wrap."""

import numpy as np
import pytest

from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import Effect, ToroidalDotConfig, ToroidalDotWorld


def test_move_rolls_the_frame_right_by_move_pixels():
    world = ToroidalDotWorld(ToroidalDotConfig(seed=3))
    for _ in range(20):  # 20 moves of 27 px cross the 224 px edge twice
        before = world.render()
        world.apply(Effect.MOVE)
        assert np.array_equal(world.render(), np.roll(before, 27, axis=1))


def test_stay_is_the_identity():
    world = ToroidalDotWorld(ToroidalDotConfig(seed=1))
    before = world.render()
    world.apply(Effect.STAY)
    assert np.array_equal(world.render(), before)


def test_dot_is_drawn_with_wraparound_at_both_edges():
    config = ToroidalDotConfig(image_size=32, dot_radius=3)
    world = ToroidalDotWorld(config)
    world.dot_x, world.dot_y = 0, 31
    frame = world.render()
    lit = frame[..., 0] == 255
    assert lit[31, 0] and lit[31, 31] and lit[0, 0] and lit[0, 30]
    centred = ToroidalDotWorld(config)
    centred.dot_x, centred.dot_y = 16, 16
    assert lit.sum() == (centred.render()[..., 0] == 255).sum()  # nothing lost at the edge


def test_frames_are_rgb8_white_dot_on_black():
    frame = ToroidalDotWorld(ToroidalDotConfig()).render()
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    assert set(np.unique(frame)) == {0, 255}
    assert (frame[..., 0] == 255).sum() == 81  # radius-5 disc


def test_same_seed_same_start_and_different_seed_differs():
    a = ToroidalDotWorld(ToroidalDotConfig(seed=7)).render()
    b = ToroidalDotWorld(ToroidalDotConfig(seed=7)).render()
    c = ToroidalDotWorld(ToroidalDotConfig(seed=8)).render()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_original_environment_defaults_are_available():
    world = ToroidalDotWorld(ToroidalDotConfig(dot_radius=2, move_pixels=7))
    before = world.render()
    world.apply(Effect.MOVE)
    assert np.array_equal(world.render(), np.roll(before, 7, axis=1))


def test_distractor_refreshes_noise_in_the_corner_and_leaves_the_dot():
    config = ToroidalDotConfig(distractor=True, distractor_size=16, seed=2)
    world = ToroidalDotWorld(config)
    world.dot_x, world.dot_y = 100, 100
    assert len(world.action_space) == 3
    world.apply(Effect.NOISE)
    first = world.render()
    world.apply(Effect.NOISE)
    second = world.render()
    assert not np.array_equal(first[:16, :16], second[:16, :16])
    assert np.array_equal(first[16:, 16:], second[16:, 16:])
    assert (second[95:106, 95:106, 0] == 255).sum() == 81


@pytest.mark.parametrize('effect', [Effect.STAY, Effect.MOVE])
def test_any_other_command_clears_the_noise(effect):
    world = ToroidalDotWorld(ToroidalDotConfig(distractor=True, distractor_size=16, seed=2))
    world.dot_x, world.dot_y = 100, 100
    clean = world.render()
    world.apply(Effect.NOISE)
    assert world.render()[:16, :16].any()
    world.apply(effect)
    expected = clean if effect is Effect.STAY else np.roll(clean, 27, axis=1)
    assert np.array_equal(world.render(), expected)


def test_distractor_is_off_by_default():
    assert len(ToroidalDotWorld(ToroidalDotConfig()).action_space) == 2


@pytest.mark.parametrize('bad', [dict(image_size=4), dict(dot_radius=-1),
                                 dict(duration_s=0.0),
                                 dict(distractor=True, distractor_size=0)])
def test_invalid_config_is_refused(bad):
    with pytest.raises(ValueError):
        ToroidalDotConfig(**bad)


def test_sim_robot_executes_commands_on_virtual_time():
    robot = SimRobot(ToroidalDotConfig(seed=4))
    first = robot.read()
    outcome = robot.send(robot.action_space[1].stamped(first.stamp_ns))
    after = robot.read()
    assert outcome.status is MotorStatus.COMPLETED
    assert outcome.end_ns - outcome.start_ns == 200_000_000
    assert after.stamp_ns == outcome.end_ns
    assert np.array_equal(after.pixels, np.roll(first.pixels, 27, axis=1))


def test_sim_robot_rejects_a_command_outside_its_action_space():
    robot = SimRobot()
    before = robot.read()
    outcome = robot.send(MotorCommand(0.5, 0.5, 0.2))
    assert outcome.status is MotorStatus.REJECTED_INVALID
    assert 'action space' in outcome.reason
    assert np.array_equal(robot.read().pixels, before.pixels)
