"""Which frames reach the world model, and how often dropping them is said."""

import numpy as np

from devrobot_world_model.node.frame_gate import expected_frame_shape, FrameGate, Throttle


def _frame(height, width, channels=3, dtype=np.uint8):
    return np.zeros((height, width, channels), dtype)


def test_the_first_square_frame_fixes_the_size():
    gate = FrameGate()
    assert gate.problem(_frame(8, 8)) is None
    assert gate.problem(_frame(8, 8)) is None
    assert 'takes 8x8' in gate.problem(_frame(16, 16)) and gate.dropped == 1


def test_a_loaded_models_size_wins_over_the_first_frame():
    assert 'takes 16x16' in FrameGate((16, 16, 3)).problem(_frame(8, 8))


def test_frames_that_are_no_rgb8_or_not_square_are_dropped():
    gate = FrameGate()
    assert 'square' in gate.problem(_frame(6, 8))
    assert 'rgb8' in gate.problem(_frame(8, 8, 4))
    assert 'rgb8' in gate.problem(_frame(8, 8, dtype=np.float32))
    assert gate.expected_shape is None and gate.dropped == 3


def test_the_expected_shape_comes_from_the_policy_or_its_replay():
    class Replay:
        frame_shape = (32, 32, 3)

    class Learner:
        replay = Replay()

    class Fresh:
        replay = None
    assert expected_frame_shape(Learner()) == (32, 32, 3)
    assert expected_frame_shape(Fresh()) is None


def test_the_throttle_says_once_per_period_how_many_it_held_back():
    now = [0.0]
    throttle = Throttle(5.0, clock=lambda: now[0])
    assert throttle('dropped') == 'dropped'
    assert throttle('dropped') is None and throttle('dropped') is None
    now[0] = 5.0
    assert throttle('dropped') == 'dropped (2 more since the last such warning)'
