"""Introspection on held-out histories, and `devrobot eval --introspect` on a tiny checkpoint."""

import argparse
import json
import math

import numpy as np
import pytest
import torch

from devrobot_core.errors import UsageError
from devrobot_core.motor import MotorCommand
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.commands import eval_command
from devrobot_world_model.evaluation.introspection import held_out_histories, introspect
from devrobot_world_model.model.world_model import ModelSpec, WorldModel
from tiny_models import tiny_configs, write_tiny_checkpoint

SIM = ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3)
ACTIONS = ToroidalDotWorld(SIM).action_space  # stay, move
AFTER_EVERY_ACTION = ('sens/diversity', 'sens/relative_diversity', 'cf/shuffle_change',
                      'cf/zero_change', 'grad/action_share')
ATTENTION = ('attn/apa', 'attn/alf', 'attn/ttar', 'attn/ri16', 'attn/entropy',
             'attn/entropy_normalized')


def tiny_model(predictor='transformer', history=1, uses_actions=True):
    """A tiny model whose zero-initialised output layers are made to predict something.

    A fresh predictor returns its input (its last layer starts at zero), and the FiLM layers
    start at zero too, so `uses_actions=False` leaves FiLM alone: a model that reads no action.
    """
    torch.manual_seed(0)
    model = WorldModel(ModelSpec.create(16, len(ACTIONS),
                                        tiny_configs(predictor=predictor, history=history)))
    trained = [model.predictor.to_delta]
    if uses_actions:
        trained.append(model.predictor.film.to_scale_shift)
    with torch.no_grad():
        for layer in trained:
            layer.weight.normal_(0.0, 0.2)
    return model


def test_histories_follow_the_world():
    frames, actions, next_frames = held_out_histories(SIM, ACTIONS, 3, 6, seed=1)
    assert frames.shape == (6, 3, 16, 16, 3) and frames.dtype == np.uint8
    assert actions.shape == (6, 3) and next_frames.shape == (6, 16, 16, 3)
    sequence = np.concatenate([frames, next_frames[:, None]], axis=1)  # [B, T + 1, ...]
    for b in range(6):
        for t in range(3):
            shift = SIM.move_pixels if actions[b, t] == 1 else 0
            assert np.array_equal(np.roll(sequence[b, t], shift, axis=1), sequence[b, t + 1])
    again = held_out_histories(SIM, ACTIONS, 3, 6, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((frames, actions, next_frames), again))


def test_histories_draw_only_commands_the_world_knows():
    unknown = MotorCommand(1.0, 1.0, 0.2)
    _, actions, _ = held_out_histories(SIM, (unknown,) + ACTIONS, 2, 32, seed=0)
    assert set(actions.ravel().tolist()) == {1, 2}
    with pytest.raises(ValueError, match="none of the model's commands"):
        held_out_histories(SIM, (unknown,), 1, 4, seed=0)


@pytest.mark.parametrize('history', [1, 2])
def test_a_transformer_gets_every_measurement(history):
    model = tiny_model(history=history)
    result = introspect(model, ACTIONS, SIM, states=8, seed=0)
    metrics = result['metrics']
    assert (result['states'], result['history'], result['attention']) == (8, history, True)
    for key in ATTENTION + AFTER_EVERY_ACTION:
        assert math.isfinite(metrics[key]), key
    assert 'attn/layer0/apa' in metrics
    assert 0 < metrics['attn/apa'] < 1 and 0 < metrics['attn/alf'] < 1
    assert metrics['sens/diversity'] > 0 and metrics['cf/zero_change'] > 0
    assert 0 < metrics['grad/action_share'] < 1
    assert all(p.grad is None for p in model.parameters())  # nothing left for an optimizer
    assert model.training  # measured in eval mode, handed back as it came


def test_a_model_that_ignores_its_actions_scores_zero():
    model = tiny_model('lstm', uses_actions=False)  # its only action input is FiLM
    metrics = introspect(model, ACTIONS, SIM, states=8, seed=0)['metrics']
    assert not any(key.startswith('attn/') for key in metrics)  # no attention to measure
    assert metrics['sens/diversity'] == 0 and metrics['cf/shuffle_change'] == 0
    assert metrics['cf/zero_change'] == 0
    assert metrics['grad/action_share'] > 0  # FiLM's own weights still learn


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoints folder written by a tiny learner after a few steps."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp('run') / 'checkpoints', SIM)


def evaluate(checkpoint, *flags):
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    args = parser.parse_args(['--checkpoint', str(checkpoint), '--states', '4', '--horizons',
                              '1', '--sim.dot-radius', '1', '--sim.move-pixels', '3',
                              '--introspect', *flags])
    return eval_command.main(args)


def test_eval_introspect_json(checkpoint, capsys):
    assert evaluate(checkpoint, '--json', '--batch-size', '3') == 0
    introspection = json.loads(capsys.readouterr().out)['introspection']
    assert introspection['states'] == 3  # the first --batch-size states
    assert set(ATTENTION + AFTER_EVERY_ACTION) <= set(introspection['metrics'])


def test_eval_introspect_table(checkpoint, capsys):
    assert evaluate(checkpoint) == 0
    table = capsys.readouterr().out
    assert 'introspection: 4 held-out states, history 1, transformer predictor' in table
    for label in ('attention to the candidate action (APA)', 'change with shuffled actions',
                  'change with every action 0', 'action share of the gradient norm'):
        assert label in table


def test_eval_introspect_needs_a_world_model(checkpoint, monkeypatch):
    import devrobot_world_model

    class Opaque:
        """A loaded model with `predict` but nothing to look into."""

        action_space, image_size = ACTIONS, 16

        def predict(self, frames, commands):
            return frames

    monkeypatch.setattr(devrobot_world_model, 'load', lambda path, device='cpu': Opaque())
    with pytest.raises(UsageError, match='--introspect needs a devrobot world-model'):
        evaluate(checkpoint)
