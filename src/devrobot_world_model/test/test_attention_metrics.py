"""Attention introspection: hand-made maps, the real predictor, fake counterfactual models."""

import math

import pytest
import torch

from devrobot_world_model.evaluation.attention_metrics import (
    ACTION, action_gradient_share, action_sweep_diversity, attention_metrics,
    capture_attention_maps, counterfactual_changes, FRAME, introspect_world_model,
    layer_attention_metrics, shuffled_actions, TokenLayout)
from devrobot_world_model.model.predictors import TransformerPredictor, TransformerPredictorConfig
from devrobot_world_model.model.world_model import ModelSpec, WorldModel
from tiny_models import tiny_configs

N = 3  # frame tokens per step in the hand-made layouts


def maps_where(layout, keys_of_query):
    """`[1, 1, L, L]` attention spread evenly over `keys_of_query(q)` of each query q.

    A query spreads over all the keys it can see when that gives none it can see.
    """
    length = len(layout)
    visible = layout.visible()
    attention = torch.zeros(1, 1, length, length)
    for q in range(length):
        keys = [k for k in keys_of_query(q) if visible[q, k]] or visible[q].nonzero().flatten()
        attention[0, 0, q, keys] = 1.0 / len(keys)
    return attention


def test_interleaved_layout_and_derived_steps():
    layout = TokenLayout.interleaved(2, N)
    assert layout.types.tolist() == [FRAME] * N + [ACTION] + [FRAME] * N + [ACTION]
    assert layout.steps.tolist() == [0] * 4 + [1] * 4
    assert layout.readout().nonzero().flatten().tolist() == [4, 5, 6]
    visible = layout.visible()
    assert visible[0, 3] and not visible[3, 4] and visible[7, 0]  # block-causal
    derived = TokenLayout.from_types([0, 0, 1, 1, 0, 1])  # two action tokens in a step
    assert derived.steps.tolist() == [0, 0, 0, 0, 1, 1]
    assert TokenLayout.for_maps(8, N).types.tolist() == layout.types.tolist()


@pytest.mark.parametrize('bad', [[], [0, 2], [[0, 1]]])
def test_bad_token_types(bad):
    with pytest.raises(ValueError):
        TokenLayout.from_types(bad)


def test_for_maps_needs_whole_steps():
    with pytest.raises(ValueError, match='not whole steps'):
        TokenLayout.for_maps(7, N)


def test_all_attention_on_the_previous_action():
    layout = TokenLayout.interleaved(3, N)  # readout: step 2, its action token is 11
    metrics = layer_attention_metrics(maps_where(layout, lambda q: [11]), layout)
    assert metrics['apa'] == pytest.approx(1.0)
    assert metrics['alf'] == pytest.approx(0.0)
    assert metrics['ttar'] == math.inf
    assert metrics['entropy'] == pytest.approx(0.0, abs=1e-6)


def test_all_attention_on_the_last_frame():
    layout = TokenLayout.interleaved(3, N)
    metrics = layer_attention_metrics(maps_where(layout, lambda q: [8, 9, 10]), layout)
    assert metrics['alf'] == pytest.approx(1.0)
    assert metrics['apa'] == pytest.approx(0.0) and metrics['ttar'] == pytest.approx(0.0)
    assert metrics['entropy'] == pytest.approx(math.log(3))


def test_uniform_attention_has_no_preference():
    layout = TokenLayout.interleaved(5, N)  # readout sees all 20 tokens
    metrics = layer_attention_metrics(maps_where(layout, lambda q: []), layout)
    assert metrics['apa'] == pytest.approx(1 / 20)
    assert metrics['alf'] == pytest.approx(N / 20)
    assert metrics['ttar'] == pytest.approx(1.0)
    assert metrics['ri16'] == pytest.approx(16 / 20)
    assert metrics['entropy'] == pytest.approx(math.log(20))
    assert metrics['entropy_normalized'] == pytest.approx(1.0)


def test_recency_index_counts_the_latest_visible_tokens():
    layout = TokenLayout.interleaved(5, N)
    oldest = layer_attention_metrics(maps_where(layout, lambda q: [0]), layout)
    assert oldest['ri16'] == pytest.approx(0.0)
    # with a window of 2 the readout's latest visible keys are its own action (19) and 18
    latest = layer_attention_metrics(maps_where(layout, lambda q: [18]), layout, window=2)
    assert latest['ri2'] == pytest.approx(1.0)
    assert layer_attention_metrics(maps_where(layout, lambda q: [17]), layout,
                                   window=2)['ri2'] == pytest.approx(0.0)


def test_token_causal_layout_and_chosen_queries():
    layout = TokenLayout.interleaved(2, N, block_causal=False)
    assert not layout.visible()[4, 7]
    # query 5 (a frame token of step 1) sees the action of step 0 (token 3) as its latest
    queries = torch.zeros(len(layout), dtype=torch.bool)
    queries[5] = True
    metrics = layer_attention_metrics(maps_where(layout, lambda q: [3]), layout, queries)
    assert metrics['apa'] == pytest.approx(1.0)


def test_metrics_average_over_layers_and_are_flat():
    layout = TokenLayout.interleaved(3, N)
    maps = [maps_where(layout, lambda q: [11]), maps_where(layout, lambda q: [8, 9, 10])]
    metrics = attention_metrics(maps, layout)
    assert metrics['attn/layer0/apa'] == pytest.approx(1.0)
    assert metrics['attn/layer1/apa'] == pytest.approx(0.0)
    assert metrics['attn/apa'] == pytest.approx(0.5)
    assert metrics['attn/alf'] == pytest.approx(0.5)
    assert all(isinstance(v, float) for v in metrics.values())


def test_shape_errors():
    layout = TokenLayout.interleaved(2, N)
    with pytest.raises(ValueError, match=r'\[B, heads, L, L\]'):
        layer_attention_metrics(torch.ones(8, 8), layout)
    with pytest.raises(ValueError, match='covers 4 tokens'):
        layer_attention_metrics(torch.ones(1, 1, 4, 4), layout)
    with pytest.raises(ValueError, match='no query'):
        layer_attention_metrics(maps_where(layout, lambda q: []), layout,
                                torch.zeros(8, dtype=torch.bool))
    with pytest.raises(ValueError, match='no attention maps'):
        attention_metrics([], layout)


def tiny_predictor(history=3, depth=2, seed=0):
    torch.manual_seed(seed)
    config = TransformerPredictorConfig(tf_dim=16, tf_depth=depth, tf_heads=2,
                                        tf_history=history)
    return TransformerPredictor(config, (2, 2), latent_dim=8, n_actions=2).eval()


def batch(b=4, t=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(b, t, 4, 8, generator=generator)
    actions = torch.randint(0, 2, (b, t), generator=generator)
    actions[:, -1] = torch.tensor([0, 1, 0, 1])[:b]
    return latents, actions


def test_captured_maps_reproduce_the_predictors_attention_outputs():
    predictor = tiny_predictor()
    latents, actions = batch()
    outputs = []
    hooks = [block.attn.register_forward_hook(lambda m, i, o: outputs.append((i[0], o)))
             for block in predictor.blocks]
    prediction, maps = capture_attention_maps(predictor,
                                              lambda: predictor.predict(latents, actions))
    for hook in hooks:
        hook.remove()
    assert prediction.shape == (4, 4, 8) and len(maps) == 2
    layout = TokenLayout.for_maps(maps[0].shape[-1], predictor.tokens_per_frame)
    assert len(layout) == 15 and maps[0].shape == (4, 2, 15, 15)
    for block, attention, (x, out) in zip(predictor.blocks, maps, outputs):
        assert torch.allclose(attention.sum(-1), torch.ones(4, 2, 15))
        assert float(attention[..., ~layout.visible()].abs().max()) == 0.0
        attn = block.attn  # the module's own output, from the captured probabilities
        v = attn.qkv(x).reshape(4, 15, 3, 2, 8).permute(2, 0, 3, 1, 4)[2]
        mixed = (attention @ v).transpose(1, 2).reshape(4, 15, 16)
        assert torch.allclose(attn.proj(attn.norm(mixed)), out, atol=1e-5)
    metrics = attention_metrics(maps, layout)
    assert 0.0 <= metrics['attn/apa'] <= 1.0 and 0.0 <= metrics['attn/ri16'] <= 1.0


def test_capture_leaves_no_hooks_behind():
    predictor = tiny_predictor(depth=1)
    latents, actions = batch()
    capture_attention_maps(predictor, lambda: predictor.predict(latents, actions))
    assert all(not block.attn._forward_pre_hooks for block in predictor.blocks)


def ignores_actions(frames, actions):
    return frames.mean(dim=1)


def reads_last_action(frames, actions):
    return frames.mean(dim=1) + actions[:, -1, None, None].float()


def test_a_model_that_ignores_actions_scores_zero():
    latents, actions = batch()
    assert action_sweep_diversity(ignores_actions, latents, actions, 2) == {
        'sens/diversity': 0.0, 'sens/relative_diversity': 0.0}
    assert counterfactual_changes(ignores_actions, latents, actions) == {
        'cf/shuffle_change': 0.0, 'cf/zero_change': 0.0}


def test_a_model_that_reads_the_action_scores_its_effect():
    latents, actions = batch()
    assert action_sweep_diversity(reads_last_action, latents, actions, 3)[
        'sens/diversity'] == pytest.approx((1 + 4 + 1) / 3)
    changes = counterfactual_changes(reads_last_action, latents, actions,
                                     torch.Generator().manual_seed(0))
    assert changes['cf/zero_change'] == pytest.approx(0.5)  # two of four last actions are 1
    assert changes['cf/shuffle_change'] > 0


def test_real_predictor_starts_action_blind_and_becomes_sensitive():
    predictor = tiny_predictor()
    latents, actions = batch()
    assert action_sweep_diversity(predictor.predict, latents, actions, 2)[
        'sens/diversity'] == 0.0  # the delta head starts at zero
    torch.nn.init.normal_(predictor.to_delta.weight)
    assert action_sweep_diversity(predictor.predict, latents, actions, 2)[
        'sens/diversity'] > 0.0


def test_shuffled_actions_are_a_permutation():
    actions = torch.arange(12).reshape(3, 4)
    shuffled = shuffled_actions(actions, torch.Generator().manual_seed(0))
    assert shuffled.shape == actions.shape and sorted(shuffled.flatten().tolist()) == \
        list(range(12))
    assert not torch.equal(shuffled, actions)


def test_sweep_needs_two_actions():
    latents, actions = batch()
    with pytest.raises(ValueError, match='at least 2'):
        action_sweep_diversity(ignores_actions, latents, actions, 1)


def test_action_gradient_share():
    predictor = tiny_predictor()
    torch.nn.init.normal_(predictor.to_delta.weight)
    latents, actions = batch()
    predictor.predict(latents, actions).pow(2).mean().backward()
    share = action_gradient_share(predictor)
    assert 0.0 < share < 1.0
    plain = torch.nn.Linear(2, 2)
    plain(torch.ones(1, 2)).sum().backward()
    assert action_gradient_share(plain) == 0.0
    assert action_gradient_share(torch.nn.Linear(2, 2)) == 0.0  # no gradients yet


@pytest.mark.parametrize('predictor,attention_keys', [('transformer', True), ('lstm', False)])
def test_introspect_world_model(predictor, attention_keys):
    torch.manual_seed(0)
    model = WorldModel(ModelSpec.create(16, 2, tiny_configs('cnn', predictor, history=2))).eval()
    with torch.no_grad():
        latents = model.encode(torch.rand(4 * 2, 3, 16, 16))  # [B * T, N, D]
    latents = latents.reshape(4, 2, *latents.shape[1:])
    _, actions = batch(t=2)
    metrics = introspect_world_model(model, latents, actions, torch.Generator().manual_seed(0))
    assert ('attn/apa' in metrics) == attention_keys
    assert metrics['sens/diversity'] == 0.0 and metrics['cf/zero_change'] == 0.0  # untrained
    for parameter in model.predictor.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    assert introspect_world_model(model, latents, actions)['sens/diversity'] > 0.0
