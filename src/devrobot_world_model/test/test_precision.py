"""Training precision: 'auto' takes bfloat16 only where the hardware has it."""

import numpy as np
import pytest
import torch

from devrobot_world_model.learning.learner import LearnerConfig
from devrobot_world_model.model.model_io import build_model, model_spec
from devrobot_world_model.model.precision import native_bf16, use_bf16
from test_learner import drive, make_learner, tiny_robot
from tiny_models import tiny_configs


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
    logger = drive(learner, robot, 8)
    assert learner.bf16 is (precision == 'bf16')
    assert logger.values('train/non_finite_total')[-1] == 0
    assert np.isfinite(logger.values('train/total_loss')[-1])
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4
               for p in learner.model.parameters())  # autocast never changes the weights


def test_under_bf16_autocast_the_predictor_stays_float32_and_the_decoder_does_not():
    model = build_model(model_spec(16, 2, tiny_configs()))
    layer_outputs = []  # every Linear inside the predictor reports its output dtype
    for layer in model.predictor.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_hook(lambda _, __, out: layer_outputs.append(out.dtype))
    latents = torch.randn(3, 1, 16, 16)  # [B, T, N, D] for the tiny 4 x 4 grid
    with torch.autocast('cpu', torch.bfloat16):
        predicted, logits = model.predict_for_loss(model.predictor, latents,
                                                   torch.tensor([[0], [1], [1]]))
    assert layer_outputs and set(layer_outputs) == {torch.float32}
    assert predicted.dtype == torch.float32
    assert logits.dtype == torch.bfloat16
