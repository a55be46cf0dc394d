"""Training precision: 'auto' takes bfloat16 only where the hardware has it."""

import numpy as np
import pytest

from devrobot_world_model.learner import LearnerConfig
from devrobot_world_model.precision import native_bf16, use_bf16
from test_learner import drive, make_learner, tiny_robot


def test_explicit_precisions_win_and_auto_asks_the_hardware():
    assert use_bf16('bf16') is True and use_bf16('fp32') is False
    assert use_bf16('auto') is native_bf16('cpu')
    assert use_bf16('bf16', 'cuda') is True
    assert native_bf16('mps') is False


def test_an_unknown_precision_is_refused_with_the_options():
    with pytest.raises(ValueError, match="'auto', 'bf16', 'fp32'"):
        use_bf16('half')
    with pytest.raises(ValueError, match='precision'):
        LearnerConfig(precision='fp16')


@pytest.mark.parametrize('precision', ['bf16', 'fp32'])
def test_the_learner_trains_finitely_in_either_precision(precision):
    learner, robot = make_learner(precision=precision), tiny_robot()
    metrics = drive(learner, robot, 8)
    assert learner.bf16 is (precision == 'bf16')
    assert metrics['train/non_finite_total'] == 0
    assert np.isfinite(metrics['train/predictor_training_loss'])
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4
               for p in learner.model.parameters())  # autocast never changes the weights
