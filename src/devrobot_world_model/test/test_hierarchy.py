"""Hierarchy levels: plans, composition against the dot world's truth, creation, codes."""

import numpy as np
import pytest
import torch

from devrobot_sim.toroidal_dot import Effect, ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.evaluation import horizons
from devrobot_world_model.learning.hierarchy import (
    HierarchyConfig, method_plan, plan_levels, predict_horizon, SequenceEncoder)
from devrobot_world_model.learning.level_competence import CompetentLevels
from devrobot_world_model.model.prediction_api import PredictionModel
from devrobot_world_model.model.world_model import ModelSpec, WorldModel
from tiny_models import tiny_configs

SIM = ToroidalDotConfig(image_size=32, dot_radius=2, move_pixels=5, seed=3)


def test_plans_take_the_largest_levels_first():
    assert plan_levels(13, 4) == [3, 2, 0]
    assert plan_levels(16, 4) == [3, 3]
    assert plan_levels(7, 1) == [0] * 7
    assert plan_levels(8, 4) == [3]
    assert method_plan('direct', 8, 4) == [3]
    assert method_plan('direct', 8, 3) is None and method_plan('direct', 6, 4) is None
    assert method_plan('rollout', 3, 4) == [0, 0, 0]
    assert method_plan('rollout-latent', 3, 4) == [0, 0, 0]
    assert method_plan('composed-latent', 13, 4) == [3, 2, 0]
    for unknown in ('teleport', 'direct-latent', '-latent'):
        with pytest.raises(ValueError):
            method_plan(unknown, 3, 4)


def oracle_step(calls):
    """A perfect level of the dot world: the frame rolled by move_pixels per move in the chunk."""
    def step(level, frames, chunk):
        assert chunk.shape[1] == 2 ** level  # each level gets exactly its span of actions
        calls.append(level)
        moves = (np.asarray(chunk) == 1).sum(axis=1)
        return np.stack([np.roll(f, SIM.move_pixels * m, axis=1) for f, m in zip(frames, moves)])
    return step


def test_composed_horizons_match_the_dot_worlds_exact_truth():
    world = ToroidalDotWorld(SIM)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, (5, 13))
    starts = rng.integers(0, SIM.image_size, (5, 2))
    frames, truths = [], []
    for (x, y), row in zip(starts, actions):
        world.dot_x, world.dot_y = int(x), int(y)
        frames.append(world.render())
        for action in row:
            world.apply(world.effects[action])
        truths.append(world.render())
    calls = []
    predicted, used = predict_horizon(oracle_step(calls), np.stack(frames), actions,
                                      plan_levels(13, 4))
    assert used == 3 and calls == [3, 2, 0]
    assert np.array_equal(predicted, np.stack(truths))
    with pytest.raises(ValueError, match='spans'):
        predict_horizon(oracle_step([]), np.stack(frames), actions, [3])


def test_horizon_evaluation_scores_each_method_against_the_truth():
    def sequence_fn(frames, actions, method):
        plan = method_plan(method, actions.shape[1], levels=3)  # spans 1, 2, 4
        return None if plan is None else predict_horizon(oracle_step([]), frames, actions, plan)
    result = horizons.evaluate_horizons(sequence_fn, SIM, states=12, seed=1,
                                        horizons=(1, 2, 8), batch_size=5)
    assert set(result) == {'horizon_1', 'horizon_2', 'horizon_8'}
    assert result['horizon_8']['direct'] is None  # no level spans 8 steps
    assert result['horizon_8']['composed']['calls'] == 2
    assert result['horizon_8']['rollout']['calls'] == 8
    for methods in result.values():
        for scores in filter(None, methods.values()):
            assert scores['r2'] == pytest.approx(1.0)
            assert scores['position_error_px_median'] == pytest.approx(0.0, abs=1e-6)

    def copy_fn(frames, actions, method):
        return frames.copy(), 1
    copied = horizons.evaluate_horizons(copy_fn, SIM, states=12, seed=1, horizons=(8,))
    assert copied['horizon_8']['rollout']['position_error_px_median'] > 5


class FakeCheck:
    def __init__(self, r2, px=0.5):
        self.figures = {'r2_min': r2, 'position_error_px': px, 'runs': 50}

    def summary(self):
        return self.figures


def test_levels_are_created_only_after_their_parent_passes_checks_in_a_row():
    model = WorldModel(ModelSpec.create(16, 2, tiny_configs(hierarchy_levels=4) + [
        HierarchyConfig(level_checks=3, level_r2=0.9, level_position_px=1.0)]))
    strategy = CompetentLevels(model)
    sequence = [(0, 0.95), (0, 0.97), (0, 0.5), (0, 0.93), (0, 0.94), (0, 0.96),  # 3 in a row
                (1, 0.99), (1, 0.99), (0, 0.99), (1, 0.91),                        # level 1 too
                (2, 0.95), (2, 0.95), (2, 0.95), (2, 0.95)]                        # 3 is the top
    created = []
    for view, (level, r2) in enumerate(sequence, start=1):
        metrics = strategy._checked(model, level, FakeCheck(r2), view * 50)
        if 'hierarchy/level_created' in metrics:
            created.append((metrics['hierarchy/level_created'], view * 50))
    assert created == [(1, 300), (2, 500), (3, 650)]
    assert model.level_created_at.tolist() == [0, 300, 500, 650]
    assert model.active_levels == 4
    # the position counts too, and a NaN R² (no group scored) is not competent
    assert not strategy.competent({'r2_min': 0.99, 'position_error_px': 3.0})
    assert not strategy.competent({'r2_min': float('nan'), 'position_error_px': 0.1})
    assert strategy.state_dict()['level_streaks'] == {'0': 4, '1': 3, '2': 4}


def test_discrete_codes_and_their_nmi():
    torch.manual_seed(0)
    encoder = SequenceEncoder(n_actions=2, span=4, dim=8, codes=6, commitment=0.25)
    sequences = torch.from_numpy(horizons.level_sequences(2, 4))
    assert sequences.shape == (16, 4)
    encoded, codes, loss = encoder(sequences)
    assert encoded.shape == (16, 8) and codes.shape == (16,) and codes.max() < 6
    assert bool(encoder.initialised) and loss.item() >= 0
    moves = sequences.sum(dim=1).numpy()
    assert horizons.normalised_mutual_information(moves, moves) == pytest.approx(1.0)
    assert horizons.normalised_mutual_information(moves, 10 - moves) == pytest.approx(1.0)
    assert horizons.normalised_mutual_information(moves, np.zeros(16)) == pytest.approx(0.0)
    split = np.where(moves == 2, sequences[:, 0].numpy() + 10, moves)  # one class cut in two
    assert 0.8 < horizons.normalised_mutual_information(split, moves) < 1.0
    assert len(horizons.level_sequences(2, 16)) == horizons.MAX_ENUMERATED


def test_an_unused_code_moves_onto_an_outlying_encoding_only():
    encoder = SequenceEncoder(n_actions=2, span=2, dim=2, codes=3, commitment=0.25,
                              restart_after=8)
    with torch.no_grad():
        encoder.codebook.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0]]))
    spread = torch.tensor([[0.1, 0.0], [0.0, 0.1], [1.1, 0.0], [0.9, 0.0]])
    outlier = torch.cat([spread, torch.tensor([[0.0, 5.0]])])
    codes = encoder.nearest_codes(outlier)
    assert codes.tolist() == [0, 0, 1, 1, 0]  # code 2 is far from everything: unused
    assert not encoder.restart_unused(outlier, codes)  # 5 sequences seen: not yet 8 unused
    assert not encoder.restart_unused(spread, encoder.nearest_codes(spread))  # no outlier
    assert encoder.restart_unused(outlier, codes)
    assert encoder.codebook.weight[2].tolist() == [0.0, 5.0]
    assert encoder.nearest_codes(outlier).tolist() == [0, 0, 1, 1, 2]
    assert int(encoder.restarts) == 1 and int(encoder.seen) == 14
    # the counts are not saved: checkpoints keep the layout of encoders without restarts
    assert set(encoder.state_dict()) == set(SequenceEncoder(2, 2, 2, 3, 0.25).state_dict())


def train_codes(restart_after: int, span: int = 8, updates: int = 800) -> tuple:
    """Codes learned for the dot's shift after `span` random moves: (codes used, NMI)."""
    torch.manual_seed(0)
    encoder = SequenceEncoder(2, span, 16, 16, 0.25, restart_after)
    head = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 2))
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=3e-4)
    for _ in range(updates):
        actions = torch.randint(2, (16, span))
        angle = 2 * np.pi * actions.sum(dim=1) * 27 / 224  # 27 px per move on a 224 px torus
        code, _, code_loss = encoder(actions)
        target = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        loss = (head(code) - target).pow(2).mean() + code_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sequences = horizons.level_sequences(2, span)
    codes = encoder.eval()(torch.from_numpy(sequences))[1].numpy()
    return len(np.unique(codes)), horizons.normalised_mutual_information(
        codes, sequences.sum(axis=1))


def test_restarts_give_rare_numbers_of_moves_their_own_codes():
    # 0 or 8 moves among 8 steps come once in 256 sequences: without restarts they share a code
    used, nmi = train_codes(restart_after=0)
    assert used < 9 and nmi < 0.99
    used, nmi = train_codes(restart_after=1000)
    assert used == 9 and nmi == pytest.approx(1.0)
    used, nmi = train_codes(restart_after=1000, span=4)  # and groups that have one stay whole
    assert used == 5 and nmi == pytest.approx(1.0)


def test_nmi_of_codes_independent_of_the_moves_is_near_zero():
    rng = np.random.default_rng(0)
    moves = rng.integers(0, 5, 20000)
    independent = rng.integers(0, 16, 20000)  # codes drawn without looking at the moves
    assert horizons.normalised_mutual_information(independent, moves) < 0.01
    relabelled = (7 * moves + 3) % 16  # a one-to-one mapping, other labels
    assert horizons.normalised_mutual_information(relabelled, moves) == pytest.approx(1.0)


def test_the_prediction_api_predicts_sequences_by_each_plan():
    model = WorldModel(ModelSpec.create(16, 2, tiny_configs(hierarchy_levels=3))).eval()
    world = ToroidalDotWorld(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    api = PredictionModel(model, world.action_space)
    frames = np.stack([world.render()] * 2)
    sequences = [[world.action_space[1]] * 4, [world.action_space[0]] * 4]
    assert api.levels == 1 and api.level_created_at() == [0, -1, -1]
    assert api.predict_sequence(frames, sequences, 'direct') is None  # no level created
    predicted, calls = api.predict_sequence(frames, sequences, 'rollout')
    assert predicted.shape == (2, 16, 16, 3) and predicted.dtype == np.uint8 and calls == 4
    model.level_created_at[1:] = torch.tensor([5, 9])
    assert api.predict_sequence(frames, sequences, 'composed')[1] == 1
    assert api.predict_sequence(frames, sequences, 'direct')[1] == 1
    assert api.level_codes(2, sequences).shape == (2,)
    codes = horizons.code_nmi(lambda level, s: api.level_codes(
        level, [[world.action_space[a] for a in row] for row in s]), 3, 2, move_action=1)
    assert set(codes) == {'level_1', 'level_2'} and codes['level_2']['sequences'] == 16
    assert 0.0 <= codes['level_2']['nmi_moves'] <= 1.0
    no_codes = WorldModel(ModelSpec.create(16, 2, tiny_configs(hierarchy_levels=2) + [
        HierarchyConfig(level_codes=0)])).eval()
    assert PredictionModel(no_codes, world.action_space).level_codes(
        1, [row[:2] for row in sequences]) is None


def test_effects_of_the_dot_world_used_here():
    assert ToroidalDotWorld(SIM).effects == (Effect.STAY, Effect.MOVE)


def test_latent_methods_carry_the_predicted_latents_from_call_to_call():
    model = WorldModel(ModelSpec.create(16, 2, tiny_configs(hierarchy_levels=3))).eval()
    model.level_created_at[1:] = torch.tensor([5, 9])
    world = ToroidalDotWorld(ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3))
    api = PredictionModel(model, world.action_space)
    frames = np.stack([world.render()] * 2)
    actions = torch.tensor([[1, 0, 1, 1, 0, 1, 0], [0, 0, 1, 1, 1, 0, 1]])
    sequences = [[world.action_space[a] for a in row] for row in actions.tolist()]
    with torch.no_grad():  # 7 = 4 + 2 + 1, latents straight from call to call
        latents = api.encode(frames)
        for level, chunk in ((2, actions[:, :4]), (1, actions[:, 4:6]), (0, actions[:, 6:])):
            latents = model.predict_level(level, latents, chunk)[0]
        by_hand = api.decode(latents)
    predicted, calls = api.predict_sequence(frames, sequences, 'composed-latent')
    assert calls == 3 and np.array_equal(predicted, by_hand)
    through_frames, _ = api.predict_sequence(frames, sequences, 'composed')
    assert not np.array_equal(through_frames, by_hand)  # re-encoding the frames differs
    one_step = [row[:1] for row in sequences]  # one call: nothing passes between calls
    assert np.array_equal(api.predict_sequence(frames, one_step, 'rollout-latent')[0],
                          api.predict_sequence(frames, one_step, 'rollout')[0])
