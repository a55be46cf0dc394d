"""The disagreement ensemble: heads that differ, all learning, and a disagreement that falls."""

import torch

from devrobot_world_model.learning.ensemble import (
    bootstrap_draws, EnsembleConfig, EnsembleHeads, every_sample)
from devrobot_world_model.model.world_model import ModelSpec, WorldModel
from tiny_models import tiny_configs


def heads(k=5, grid=(4, 4), d=8):
    torch.manual_seed(0)
    return EnsembleHeads(EnsembleConfig(ensemble_heads=k, ensemble_hidden=8), grid, d, 2)


def test_every_head_predicts_a_grid_and_the_heads_differ():
    ensemble = heads()
    latents = torch.randn(3, 16, 8)
    out = ensemble(latents, torch.tensor([0, 1, 1]))
    assert out.shape == (5, 3, 16, 8) and torch.isfinite(out).all()
    for k in range(1, 5):
        assert not torch.allclose(out[0], out[k])
    assert (ensemble.disagreement(latents, torch.tensor([0, 1, 1])) > 0).all()


def test_one_frame_broadcasts_against_every_action():
    ensemble = heads()
    frame = torch.randn(1, 16, 8)
    actions = torch.tensor([0, 1])
    once = ensemble.disagreement(frame, actions)
    assert once.shape == (2,) and once[0] != once[1]
    assert torch.allclose(once, ensemble.disagreement(frame.expand(2, -1, -1), actions))


def test_bootstrap_draws_resample_each_batch_differently():
    torch.manual_seed(1)
    draws = bootstrap_draws(5, 32, 16)
    assert draws.shape == (5, 16) and draws.min() >= 0 and draws.max() < 32
    assert len({tuple(row.tolist()) for row in draws}) == 5
    assert any(len(set(row.tolist())) < 16 for row in draws)  # with replacement
    assert bootstrap_draws(5, 8, 0).shape == (5, 8) == bootstrap_draws(5, 8, 16).shape
    assert (every_sample(3, 4) == torch.arange(4)).all()


def test_each_head_gets_gradients_and_only_from_its_own_draws():
    ensemble = heads()
    latents, targets = torch.randn(4, 16, 8), torch.randn(4, 16, 8)
    actions = torch.tensor([0, 1, 0, 1])
    draws = torch.tensor([[0, 1]] * 4 + [[2, 3]])  # only the last head drew samples 2 and 3

    def gradients(targets):
        ensemble.zero_grad()
        ensemble.loss(latents, actions, targets, draws).backward()
        return [[p.grad.clone() for p in head.parameters() if p.grad is not None]
                for head in ensemble.heads]

    before = gradients(targets)
    for head in before:
        assert all(g.abs().sum() > 0 for g in head[1:])  # embedding rows of unused actions aside
    changed = targets.clone()
    changed[3] += 1.0
    after = gradients(changed)
    for k in range(4):
        assert all(torch.equal(a, b) for a, b in zip(before[k], after[k])), k
    assert not all(torch.equal(a, b) for a, b in zip(before[4], after[4]))


def test_training_on_a_fixed_rule_brings_the_heads_together():
    ensemble = heads(grid=(4, 4), d=4)
    optimizer = torch.optim.Adam(ensemble.parameters(), 1e-2)
    latents = torch.randn(64, 16, 4)
    actions = torch.randint(2, (64,))
    grid = latents.transpose(1, 2).reshape(64, 4, 4, 4)
    moved = torch.where(actions[:, None, None, None] == 1, grid.roll(1, dims=3), grid)
    targets = moved.flatten(2).transpose(1, 2)
    before = ensemble.disagreement(latents, actions).mean()
    for _ in range(150):
        optimizer.zero_grad()
        ensemble.loss(latents, actions, targets, bootstrap_draws(5, 64, 32)).backward()
        optimizer.step()
    assert ensemble.disagreement(latents, actions).mean() < 0.2 * before


def test_the_world_model_trains_its_heads_with_the_rest():
    model = WorldModel(ModelSpec.create(16, 2, tiny_configs()))
    loss, _, metrics = model.forward_loss(torch.rand(3, 1, 3, 16, 16), torch.tensor(
        [[0], [1], [1]]), torch.rand(3, 3, 16, 16))
    loss.backward()
    assert float(metrics['ensemble_loss'].detach()) > 0
    for name, parameter in model.ensemble.named_parameters():
        if 'embed' not in name:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    # the heads read detached latents: their loss alone leaves the encoder untouched
    model.zero_grad()
    latents = model.encode(torch.rand(2, 3, 16, 16))
    model.ensemble.loss(latents, torch.tensor([0, 1]), latents.detach(),
                        every_sample(5, 2)).backward()
    assert all(p.grad is None for p in model.autoencoder.parameters())


def test_no_heads_means_no_disagreement():
    configs = tiny_configs() + [EnsembleConfig(ensemble_heads=0)]
    model = WorldModel(ModelSpec.create(16, 2, configs))
    assert model.ensemble is None
    assert model.disagreement(torch.randn(2, 16, 16), torch.tensor([0, 1])) is None
