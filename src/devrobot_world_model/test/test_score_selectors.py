"""The learned selectors on hand-made score tables: each picks what it should."""

import numpy as np
import pytest

from devrobot_world_model.learning.score_selectors import (
    choose, FallingShare, optimistic_progress, PROGRESS_FLOOR, selector_scores)

# stay: learned, little disagreement; move: still learning; noise: heads disagree, no progress
TABLE = {'predicted_error': [-8.0, -5.0, -2.0], 'disagreement': [0.01, 0.04, 0.10],
         'progress': [0.0, 0.3, 0.0], 'falling': [0.1, 0.9, 0.0]}


def best(kind, parts=TABLE):
    return int(np.argmax(selector_scores(kind, parts)))


def test_each_selector_prefers_its_own_signal():
    assert best('predicted-error') == 2  # drawn to the noise
    assert best('disagreement') == 2  # so is plain disagreement
    assert best('progress') == 1
    assert best('uncertainty') == 1  # disagreement where there is progress
    scores = selector_scores('uncertainty', TABLE)
    floor = PROGRESS_FLOOR
    assert scores.tolist() == pytest.approx([0.2 * (0.1 + floor), 0.8 * (0.9 + floor),
                                             2.0 * floor])


def test_without_a_falling_action_disagreement_decides():
    parts = dict(TABLE, falling=[0.0, 0.0, 0.0])
    assert best('uncertainty', parts) == 2
    parts = dict(TABLE, disagreement=[0.01, 0.04, 0.001], falling=[0.0, 0.0, 0.0])
    assert best('uncertainty', parts) == 1


def test_disagreement_orders_the_learning_actions_whatever_their_progress():
    # stay's tiny error falls fastest in log terms; the heads are surer of it: move first
    parts = dict(TABLE, progress=[0.9, 0.05, 0.0], falling=[1.0, 1.0, 0.0])
    assert best('uncertainty', parts) == 1
    scores = selector_scores('uncertainty', parts)
    assert scores[1] / scores[0] == pytest.approx(4.0)  # the disagreement's ratio, no more
    parts = dict(parts, disagreement=[0.09, 0.04, 0.10])
    assert best('uncertainty', parts) == 0


def test_without_a_falling_share_the_latest_progress_is_the_gate():
    parts = dict(TABLE, falling=None)
    floor = PROGRESS_FLOOR
    assert selector_scores('uncertainty', parts).tolist() == pytest.approx(
        [0.2 * floor, 0.8 * (1 + floor), 2.0 * floor])


def test_the_falling_share_demotes_a_flat_error_not_one_zero_among_falls():
    share = FallingShare(3, memory=10)
    rng = np.random.default_rng(0)
    for _ in range(200):  # learnable: no fall one window in three; noise: never a fall
        share.update([0.2, 0.0 if rng.random() < 1 / 3 else 0.1, 0.0])
    assert share.share[0] == pytest.approx(1.0)
    assert 0.4 < share.share[1] < 0.95
    assert share.share[2] < 1e-6
    parts = dict(TABLE, progress=[0.2, 0.0, 0.0], falling=share.share.tolist())
    assert best('uncertainty', parts) == 1  # a zero this step: move is still the one to learn


def test_the_falling_share_starts_at_one_averages_and_round_trips():
    share = FallingShare(3, memory=4)
    assert share.share.tolist() == [1.0, 1.0, 1.0]
    share.update([0.1, 0.0, np.nan])  # not measured: as good as the best measured
    assert share.share.tolist() == [1.0, 0.75, 1.0]
    share.update([0.0, 0.0, 0.0])
    assert share.share.tolist() == pytest.approx([0.75, 0.5625, 0.75])
    copy = FallingShare(3, memory=4)
    copy.load_state_dict(share.state_dict())
    assert copy.share.tolist() == share.share.tolist()
    with pytest.raises(ValueError, match='memory'):
        FallingShare(3, memory=0)


def test_unmeasured_progress_counts_as_the_best_measured():
    assert optimistic_progress([np.nan, 0.2, 0.1]).tolist() == [0.2, 0.2, 0.1]
    assert optimistic_progress([np.nan, np.nan]).tolist() == [1.0, 1.0]
    assert optimistic_progress([np.nan, 0.0]).tolist() == [1.0, 0.0]
    parts = dict(TABLE, progress=[np.nan, np.nan, np.nan])
    assert selector_scores('uncertainty', parts).tolist() == [1.0, 1.0, 1.0]  # no evidence
    parts = dict(TABLE, progress=[np.nan, 0.1, 0.0], falling=None)
    scores = selector_scores('uncertainty', parts)  # stay not yet measured: as good as move
    assert scores.tolist() == pytest.approx(
        [0.2 * (1 + PROGRESS_FLOOR), 0.8 * (1 + PROGRESS_FLOOR), 2.0 * PROGRESS_FLOOR])


def test_missing_parts():
    legacy = {'predicted_error': [1.0, 2.0], 'disagreement': None, 'progress': None}
    assert selector_scores('uncertainty', legacy).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match='ensemble'):
        selector_scores('disagreement', legacy)
    with pytest.raises(ValueError, match='held-back'):
        selector_scores('progress', legacy)
    with pytest.raises(ValueError, match='unknown'):
        selector_scores('curious', legacy)


def test_choose_takes_the_best_breaks_ties_at_random_and_explores():
    rng = np.random.default_rng(0)
    assert {choose([0.1, 0.5, 0.2], rng, 0.0) for _ in range(20)} == {(1, 'best')}
    tied = [choose([0.0, 0.0, 0.0], rng, 0.0) for _ in range(300)]
    assert {how for _, how in tied} == {'tie'}
    assert np.bincount([i for i, _ in tied], minlength=3).min() > 60
    explored = [choose([0.0, 1.0], rng, 0.5) for _ in range(2000)]
    random_share = np.mean([how == 'epsilon' for _, how in explored])
    assert 0.45 < random_share < 0.55
    assert np.mean([i == 0 for i, _ in explored]) == pytest.approx(0.25, abs=0.04)
