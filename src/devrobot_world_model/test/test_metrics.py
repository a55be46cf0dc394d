"""Metrics: the jsonl logger, optional wandb, and the figures the original logs."""

import json
import math
import sys
import types

import numpy as np
import pytest
import torch

from devrobot_core.errors import UsageError
from devrobot_world_model.learning import metrics


def test_logger_appends_one_flat_line_per_step_and_resumes(tmp_path):
    with metrics.MetricsLogger(tmp_path) as logger:
        logger.log({'train/loss': torch.tensor(0.5), 'act/uncertainty': np.float32(0.25),
                    'train/lr': 1e-3}, step=1)
        logger.log({'train/loss': float('nan')}, step=2)
    with metrics.MetricsLogger(tmp_path) as logger:  # a resumed run appends
        logger.log({'train/loss': 0.125}, step=3)
    lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {'step': 1, 'train/loss': 0.5, 'act/uncertainty': 0.25, 'train/lr': 1e-3},
        {'step': 2, 'train/loss': None},
        {'step': 3, 'train/loss': 0.125}]


def test_read_metrics_skips_a_line_cut_short(tmp_path):
    (tmp_path / 'metrics.jsonl').write_text('{"step": 1, "a": 2}\n{"step": 2, "a"')
    assert metrics.read_metrics(tmp_path) == [{'step': 1, 'a': 2}]


def test_non_scalar_metric_is_refused(tmp_path):
    with metrics.MetricsLogger(tmp_path) as logger:
        with pytest.raises(TypeError, match='scalar'):
            logger.log({'x': torch.ones(3)}, step=0)


def test_wandb_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'wandb', None)  # makes `import wandb` fail
    with pytest.raises(UsageError, match='wandb is not installed'):
        metrics.MetricsLogger(tmp_path, wandb_project='devrobot')


def test_no_project_never_imports_wandb(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'wandb', None)
    metrics.MetricsLogger(tmp_path).close()


def test_wandb_receives_the_same_metrics_offline(tmp_path, monkeypatch):
    calls = []

    class FakeRun:
        def log(self, data, step):
            calls.append(('log', data, step))

        def finish(self):
            calls.append(('finish',))

    def init(**kwargs):
        calls.append(('init', kwargs))
        return FakeRun()

    monkeypatch.setitem(sys.modules, 'wandb', types.SimpleNamespace(init=init))
    logger = metrics.MetricsLogger(tmp_path, wandb_project='devrobot', wandb_mode='offline',
                                   config={'batch_size': 32})
    logger.log({'train/loss': 0.5}, step=4)
    logger.close()
    assert calls[0][1]['mode'] == 'offline' and calls[0][1]['project'] == 'devrobot'
    assert calls[0][1]['config'] == {'batch_size': 32}
    assert calls[1:] == [('log', {'train/loss': 0.5}, 4), ('finish',)]
    with pytest.raises(UsageError, match='wandb mode'):
        metrics.MetricsLogger(tmp_path, wandb_project='devrobot', wandb_mode='cloudy')


def test_recording_logger_keeps_what_was_logged():
    logger = metrics.RecordingLogger()
    logger.log({'a': 1.0}, step=0)
    logger.log({'a': torch.tensor(2.0), 'b': 3}, step=1)
    assert logger.values('a') == [1.0, 2.0] and logger.records[1] == (1, {'a': 2.0, 'b': 3})


def tiny_transformer():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
                                             batch_first=True)
    return torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def test_gradient_norms_overall_and_per_sublayer():
    model = tiny_transformer()
    model(torch.randn(3, 5, 8)).pow(2).sum().backward()
    per_parameter = metrics.gradient_norms(model)
    overall = metrics.gradient_norm(model.parameters())
    assert overall == pytest.approx(math.sqrt(sum(v * v for v in per_parameter.values())),
                                    rel=1e-5)
    per_layer = metrics.per_layer_medians(per_parameter, 'grad_norms/transformer')
    sublayers = ('self_attn', 'self_attn_out_proj', 'linear1', 'linear2', 'norm1', 'norm2')
    assert set(per_layer) == {f'grad_norms/transformer/layer_{i}_{sub}' for i in (0, 1)
                              for sub in sublayers}
    linear1 = [per_parameter['layers.1.linear1.weight'], per_parameter['layers.1.linear1.bias']]
    assert per_layer['grad_norms/transformer/layer_1_linear1'] == pytest.approx(
        float(np.median(linear1)))


def test_timm_style_block_names_are_grouped():
    values = {'blocks.0.attn.qkv.weight': 1.0, 'blocks.0.attn.qkv.bias': 3.0,
              'blocks.0.attn.proj.weight': 4.0, 'predictor.blocks.10.mlp.fc1.weight': 5.0,
              'blocks.2.gamma': 6.0, 'patch_embed.proj.weight': 7.0}
    assert metrics.per_layer_medians(values, 'uwr/vit') == {
        'uwr/vit/layer_0_attn_qkv': 2.0, 'uwr/vit/layer_0_attn_proj': 4.0,
        'uwr/vit/layer_10_mlp_fc1': 5.0, 'uwr/vit/layer_2_gamma': 6.0}


def test_update_to_weight_ratio_after_an_sgd_step():
    model = torch.nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(2.0)
    before = metrics.snapshot_parameters(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.ones(1, 4)).sum().backward()  # gradient 1 everywhere: each weight moves 0.1
    optimizer.step()
    ratios = metrics.update_to_weight_ratios(before, model)
    assert ratios == {'weight': pytest.approx(0.05)}
    with torch.no_grad():
        model.weight.zero_()  # a zero-initialised tensor has no ratio
    before = metrics.snapshot_parameters(model)
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    assert metrics.update_to_weight_ratios(before, model) == {}
    assert metrics.uwr_percentile({'a': 0.0, 'b': 1.0}, 95) == pytest.approx(0.95)
    assert metrics.learning_rate(optimizer) == 0.1


def test_explained_variance():
    target = torch.tensor([0.0, 1.0, 2.0, 3.0])
    assert metrics.explained_variance(target, target) == 1.0
    assert metrics.explained_variance(torch.full((4,), 1.5), target) == pytest.approx(0.0)
    assert metrics.explained_variance(target.flip(0), target) == pytest.approx(-3.0)
    assert math.isnan(metrics.explained_variance(target, torch.ones(4)))
    with pytest.raises(ValueError, match='shapes differ'):
        metrics.explained_variance(target, target[:2])


def test_streak_counter_reports_finished_autoencoder_streaks():
    counter = metrics.StreakCounter()
    reported = [counter.step(flag) for flag in (True, True, True, False, False, True, False)]
    assert reported == [None, None, None, 3, None, None, 1]
