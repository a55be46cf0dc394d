"""The replay buffer: uniform sampling, shared frames, history that stops at breaks."""

import numpy as np
import pytest

from devrobot_world_model.learning.replay_buffer import ReplayBuffer


def frame(value):
    return np.full((2, 2, 3), value, dtype=np.uint8)


def fill(buffer, count, start=0, chained=True):
    """Transitions value v -> v + 1 with action v % 2; chained ones share their frames."""
    for v in range(start, start + count):
        buffer.add(frame(v), v % 2, frame(v + 1), stamp_ns=v if chained else None,
                   next_stamp_ns=v + 1)


def test_samples_come_from_what_was_added_with_matching_parts():
    buffer = ReplayBuffer(10, (2, 2, 3), seed=1)
    fill(buffer, 6)
    batch = buffer.sample(50)
    assert batch['frames'].shape == (50, 1, 2, 2, 3) and batch['actions'].shape == (50, 1)
    values = batch['frames'][:, 0, 0, 0, 0].astype(int)
    assert set(values) == set(range(6))  # 50 draws from 6 cover them all
    assert np.array_equal(batch['next_frames'][:, 0, 0, 0], values + 1)
    assert np.array_equal(batch['actions'][:, 0], values % 2)


def test_capacity_keeps_the_newest_and_chained_frames_are_stored_once():
    buffer = ReplayBuffer(4, (2, 2, 3))
    fill(buffer, 10)
    assert len(buffer) == 4
    assert set(buffer.sample(100)['frames'][:, 0, 0, 0, 0]) == {6, 7, 8, 9}
    assert buffer.frames_stored == 11  # 10 chained transitions: 11 distinct frames


def test_history_follows_the_chain_and_repeats_the_first_frame_after_a_break():
    buffer = ReplayBuffer(10, (2, 2, 3))
    fill(buffer, 3)  # 0 -> 1 -> 2 -> 3
    fill(buffer, 2, start=20, chained=False)  # 20 -> 21 starts a new chain
    batch = buffer.batch(np.array([2, 4]), history=3)
    assert batch['frames'][0, :, 0, 0, 0].tolist() == [0, 1, 2]
    assert batch['actions'][0].tolist() == [0, 1, 0]
    assert batch['frames'][1, :, 0, 0, 0].tolist() == [21, 21, 21]  # 20 -> 21 broke the chain


def test_recent_and_extend_restore_the_same_transitions():
    buffer = ReplayBuffer(8, (2, 2, 3))
    fill(buffer, 5)
    saved = buffer.recent(3)
    again = ReplayBuffer(8, (2, 2, 3))
    again.extend(saved)
    assert len(again) == 3
    restored = again.recent(3)
    for key in ('frames', 'actions', 'next_frames'):
        assert np.array_equal(restored[key], saved[key])
    assert again.batch(np.array([2]), history=3)['frames'][0, :, 0, 0, 0].tolist() == [2, 3, 4]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='capacity'):
        ReplayBuffer(0, (2, 2, 3))
    buffer = ReplayBuffer(2, (2, 2, 3))
    with pytest.raises(ValueError, match='empty'):
        buffer.sample(1)
    with pytest.raises(ValueError, match='uint8'):
        buffer.add(np.zeros((3, 3, 3), np.uint8), 0, frame(0))


def test_sequences_only_come_from_unbroken_chains():
    buffer = ReplayBuffer(10, (2, 2, 3), seed=2)
    fill(buffer, 3)  # 0 -> 1 -> 2 -> 3
    fill(buffer, 2, start=20, chained=False)
    runs = buffer.sample_sequences(8, 3)
    assert runs['frames'].shape[1] == 1
    assert set(runs['frames'][:, 0, 0, 0, 0]) == {0}  # the only chain of three starts at 0
    assert runs['actions'][0].tolist() == [0, 1, 0]
    assert set(runs['next_frames'][:, 0, 0, 0]) == {3}
    assert buffer.sample_sequences(8, 5) is None


def test_extend_into_a_smaller_buffer_adds_only_the_newest(monkeypatch):
    buffer = ReplayBuffer(8, (2, 2, 3))
    fill(buffer, 6)
    saved = buffer.recent(6)
    small = ReplayBuffer(2, (2, 2, 3))
    added = []
    monkeypatch.setattr(small, 'add', lambda *args, **kwargs: added.append(args[1]))
    small.extend(saved)
    assert added == [4 % 2, 5 % 2]  # two adds, not six: the work is bounded by the capacity
    smaller = ReplayBuffer(2, (2, 2, 3))
    smaller.extend(saved)
    assert smaller.recent(2)['frames'][:, 0, 0, 0].tolist() == [4, 5]
    assert smaller.recent(2)['follows'].tolist() == [False, True]  # the first kept starts anew


def test_a_buffer_that_cannot_fit_in_memory_is_refused_with_the_figures():
    with pytest.raises(ValueError, match=r'a replay buffer of 100000000 transitions of '
                       r'224x224x3 frames needs 28038.0 GiB, more than the [\d.]+ GiB'):
        ReplayBuffer(10 ** 8, (224, 224, 3))


def test_a_view_samples_only_what_was_there_when_its_step_was_added():
    buffer = ReplayBuffer(4, (2, 2, 3), seed=1, slack=2)
    fill(buffer, 6)  # transitions 0..5; a view of 4 holds 0..3
    assert set(buffer.sample(200, view=4)['frames'][:, 0, 0, 0, 0]) == {0, 1, 2, 3}
    fill(buffer, 2, start=6)  # the actor runs two ahead: still inside the slack
    assert set(buffer.sample(200, view=6)['frames'][:, 0, 0, 0, 0]) == {2, 3, 4, 5}
    assert buffer.sample_sequences(50, 2, view=6)['frames'][:, 0, 0, 0, 0].max() <= 4
    with pytest.raises(ValueError, match='outside what the buffer holds'):
        buffer.sample(1, view=3)  # transition 0 of that view has been overwritten
    with pytest.raises(ValueError, match='outside what the buffer holds'):
        buffer.sample(1, view=9)  # not added yet


def test_the_same_seed_and_view_draw_the_same_batch_whatever_was_added_since():
    first, second = ReplayBuffer(8, (2, 2, 3), seed=3, slack=3), \
        ReplayBuffer(8, (2, 2, 3), seed=3, slack=3)
    fill(first, 10)
    fill(second, 13)
    a, b = first.sample(16, history=2, view=10), second.sample(16, history=2, view=10)
    for key in ('frames', 'actions', 'next_frames'):
        assert np.array_equal(a[key], b[key])
