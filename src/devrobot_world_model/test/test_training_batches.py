"""Replay arrays to tensors, with the random-shift augmentation applied to whole transitions."""

import platform

import numpy as np
import torch

from devrobot_world_model.learning.cpu_memory import keep_freed_memory
from devrobot_world_model.learning.training import batch_to_tensors, random_shift


def replay_batch(b=3, t=2, h=8, w=10, seed=0):
    rng = np.random.default_rng(seed)
    return {'frames': rng.integers(0, 256, (b, t, h, w, 3), dtype=np.uint8),
            'actions': rng.integers(0, 2, (b, t)),
            'next_frames': rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)}


def test_batches_become_unit_float_images_channels_first():
    batch = replay_batch()
    frames, actions, next_frames = batch_to_tensors(batch)
    assert frames.shape == (3, 2, 3, 8, 10) and next_frames.shape == (3, 3, 8, 10)
    assert actions.dtype == torch.int64 and actions.tolist() == batch['actions'].tolist()
    expected = torch.from_numpy(batch['frames'][1, 0]).permute(2, 0, 1).float() / 255
    assert torch.equal(frames[1, 0], expected)


def test_a_wrapped_shift_rolls_every_frame_of_a_transition_by_the_same_offset():
    batch = replay_batch()
    torch.manual_seed(3)
    frames, _, next_frames = batch_to_tensors(batch, shift_px=3)
    torch.manual_seed(3)
    offsets = torch.randint(-3, 4, (3, 2)).tolist()  # the draw batch_to_tensors made
    assert any(offset != [0, 0] for offset in offsets)
    plain_frames, _, plain_next = batch_to_tensors(batch)
    for i, (dy, dx) in enumerate(offsets):
        assert torch.equal(frames[i], plain_frames[i].roll((dy, dx), dims=(-2, -1)))
        assert torch.equal(next_frames[i], plain_next[i].roll((dy, dx), dims=(-2, -1)))


def test_an_unwrapped_shift_replicates_the_edges():
    frames = torch.arange(5 * 4, dtype=torch.uint8).reshape(1, 1, 5, 4, 1)  # [B, T, H, W, C]
    next_frames = frames[:, 0].clone()
    torch.manual_seed(0)
    while True:  # a draw that moves both ways
        state = torch.get_rng_state()
        dy, dx = torch.randint(-2, 3, (1, 2))[0].tolist()
        if dy and dx:
            break
    torch.set_rng_state(state)
    shifted, shifted_next = random_shift(frames, next_frames, 2, wrap=False)
    image = frames[0, 0, ..., 0]
    rows = (torch.arange(5) - dy).clamp(0, 4)
    cols = (torch.arange(4) - dx).clamp(0, 3)
    assert torch.equal(shifted[0, 0, ..., 0], image[rows][:, cols])
    assert torch.equal(shifted_next, shifted[:, 0])


def test_shifting_uint8_then_converting_equals_converting_then_shifting():
    batch = replay_batch(seed=1)
    frames = torch.from_numpy(batch['frames'])
    next_frames = torch.from_numpy(batch['next_frames'])
    for wrap in (True, False):
        torch.manual_seed(5)
        small = random_shift(frames, next_frames, 4, wrap)
        torch.manual_seed(5)
        large = random_shift(frames.float() / 255, next_frames.float() / 255, 4, wrap)
        assert torch.equal(small[0].float() / 255, large[0])
        assert torch.equal(small[1].float() / 255, large[1])


def test_no_shift_returns_the_frames_untouched():
    frames, next_frames = torch.zeros(2, 1, 4, 4, 3), torch.ones(2, 4, 4, 3)
    assert random_shift(frames, next_frames, 0) == (frames, next_frames)


def test_the_allocator_setting_takes_effect_on_glibc_and_is_applied_once():
    applied = keep_freed_memory()
    assert applied is (platform.libc_ver()[0] == 'glibc')
    assert keep_freed_memory() is applied
