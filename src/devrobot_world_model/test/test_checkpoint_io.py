"""Checkpoints: plain data, atomic writes, backup fallback, architecture checks, exact resume."""

import dataclasses
import errno
import io
import random

import numpy as np
import pytest
import torch

from devrobot_world_model.learning import checkpoint_io
from devrobot_world_model.learning.checkpoint_io import (
    CheckpointError, check_state_dict, load_checkpoint, load_state_dict_checked, save_checkpoint)


def tiny_model(hidden=8):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(),
                               torch.nn.Linear(hidden, 2))


def payload_of(model, optimizer, step):
    return {'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'step': step,
            'config': {'hidden': 8}, 'history': [[0.5, 1], [0.25, 0]]}


def test_save_then_load_round_trips_with_weights_only(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = save_checkpoint(tmp_path / 'checkpoints', payload_of(model, optimizer, 7))
    assert path == tmp_path / 'checkpoints' / 'checkpoint.pt'
    raw = torch.load(path, weights_only=True)  # a plain reader can open it
    assert raw['format_version'] == checkpoint_io.FORMAT_VERSION
    loaded = load_checkpoint(tmp_path / 'checkpoints')
    assert loaded['step'] == 7 and loaded['config'] == {'hidden': 8}
    for key, tensor in model.state_dict().items():
        assert torch.equal(loaded['model'][key], tensor)
    assert not list((tmp_path / 'checkpoints').glob('*.tmp'))


def test_second_save_keeps_the_previous_one_as_backup(tmp_path):
    save_checkpoint(tmp_path, {'step': 1})
    save_checkpoint(tmp_path, {'step': 2})
    assert load_checkpoint(tmp_path)['step'] == 2
    assert load_checkpoint(tmp_path / 'checkpoint_backup.pt')['step'] == 1


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'delete'])
def test_unusable_primary_falls_back_to_backup_with_a_warning(tmp_path, damage):
    save_checkpoint(tmp_path, {'step': 1, 'weights': torch.ones(1000)})
    save_checkpoint(tmp_path, {'step': 2, 'weights': torch.ones(1000)})
    primary = tmp_path / 'checkpoint.pt'
    if damage == 'truncate':
        primary.write_bytes(primary.read_bytes()[:300])
    elif damage == 'garbage':
        primary.write_bytes(b'not a checkpoint at all')
    else:
        primary.unlink()
    with pytest.warns(RuntimeWarning, match='backup'):
        assert load_checkpoint(tmp_path)['step'] == 1


def test_saving_over_a_damaged_primary_keeps_the_good_backup(tmp_path):
    save_checkpoint(tmp_path, {'step': 1})
    save_checkpoint(tmp_path, {'step': 2})
    (tmp_path / 'checkpoint.pt').write_bytes(b'damaged')
    with pytest.warns(RuntimeWarning):
        assert load_checkpoint(tmp_path)['step'] == 1  # resumed from the backup
    save_checkpoint(tmp_path, {'step': 3})
    assert load_checkpoint(tmp_path)['step'] == 3
    assert load_checkpoint(tmp_path / 'checkpoint_backup.pt')['step'] == 1


def test_both_files_corrupt_is_a_clear_error(tmp_path):
    save_checkpoint(tmp_path, {'step': 1})
    save_checkpoint(tmp_path, {'step': 2})
    for name in ('checkpoint.pt', 'checkpoint_backup.pt'):
        (tmp_path / name).write_bytes(b'\x00' * 10)
    with pytest.raises(CheckpointError, match='no usable checkpoint'):
        load_checkpoint(tmp_path)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match='no checkpoint at'):
        load_checkpoint(tmp_path / 'nowhere')


def test_newer_format_is_refused(tmp_path):
    torch.save({'format_version': checkpoint_io.FORMAT_VERSION + 1}, tmp_path / 'checkpoint.pt')
    with pytest.raises(CheckpointError, match='newer'):
        load_checkpoint(tmp_path)


@dataclasses.dataclass
class PickledConfig:
    hidden: int = 8


def test_a_pickled_object_is_not_loaded(tmp_path):
    torch.save({'format_version': 1, 'config': PickledConfig()}, tmp_path / 'checkpoint.pt')
    with pytest.raises(CheckpointError, match='cannot be read'):
        load_checkpoint(tmp_path)


def test_non_plain_payload_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"payload\['history'\]\[0\]: numpy.ndarray"):
        save_checkpoint(tmp_path, {'history': [np.zeros(3)]})
    assert not list(tmp_path.iterdir())


def test_plain_data_converts_arrays_dataclasses_and_enums(tmp_path):
    @dataclasses.dataclass
    class Entry:
        frame: np.ndarray
        reward: np.float32
        kind: checkpoint_io.enum.Enum

    class Kind(checkpoint_io.enum.Enum):
        MOVE = 'move'

    entry = Entry(np.arange(6, dtype=np.uint8).reshape(2, 3), np.float32(0.5), Kind.MOVE)
    history = checkpoint_io.recent_history([entry] * 150)
    assert len(history) == checkpoint_io.HISTORY_LENGTH
    save_checkpoint(tmp_path, {'history': history})
    stored = load_checkpoint(tmp_path)['history'][-1]
    assert torch.equal(stored['frame'], torch.arange(6, dtype=torch.uint8).reshape(2, 3))
    assert stored['reward'] == 0.5 and stored['kind'] == 'move'


class FullDisk(io.RawIOBase):
    """A file that accepts a few bytes and then reports ENOSPC, as a full disk does."""

    def __init__(self, capacity):
        self.capacity = capacity

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.capacity:
            raise OSError(errno.ENOSPC, 'No space left on device')
        self.capacity -= len(data)
        return len(data)


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, {'step': 1})
    save_checkpoint(tmp_path, {'step': 2})
    real_open = open

    def open_on_full_disk(path, mode='r', *args, **kwargs):
        if 'w' in mode:
            real_open(path, mode).close()  # the file appears, as on a real disk
            return FullDisk(capacity=64)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io, 'open', open_on_full_disk, raising=False)
    with pytest.raises(CheckpointError, match='No space left on device.*previous checkpoint'):
        save_checkpoint(tmp_path, {'step': 3, 'weights': torch.zeros(10000)})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)['step'] == 2
    assert load_checkpoint(tmp_path / 'checkpoint_backup.pt')['step'] == 1
    assert not list(tmp_path.glob('*.tmp'))


def test_failed_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, {'step': 1})

    def refuse(*args):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr(checkpoint_io.os, 'replace', refuse)
    with pytest.raises(CheckpointError, match='Read-only'):
        save_checkpoint(tmp_path, {'step': 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)['step'] == 1


def test_architecture_mismatch_names_the_first_difference():
    stored = tiny_model(hidden=8).state_dict()
    with pytest.raises(CheckpointError, match=r"predictor_0: '0.weight' has shape \[8, 4\] in "
                                              r'the checkpoint but \[16, 4\]'):
        check_state_dict(tiny_model(hidden=16), stored, 'predictor_0')
    deeper = torch.nn.Sequential(*tiny_model(), torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="'3.weight' is missing"):
        check_state_dict(deeper, stored, 'autoencoder')
    with pytest.raises(CheckpointError, match="has parameter '2.weight' that the model"):
        check_state_dict(torch.nn.Sequential(torch.nn.Linear(4, 8)), stored, 'autoencoder')
    check_state_dict(tiny_model(hidden=8), stored, 'autoencoder')  # a match passes


def test_compiled_wrapper_is_unwrapped():
    class Wrapper(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    model = tiny_model()
    assert checkpoint_io.uncompiled(Wrapper(model)) is model
    load_state_dict_checked(Wrapper(tiny_model()), model.state_dict(), 'model')


def train_steps(model, optimizer, generator, steps):
    for _ in range(steps):
        batch = torch.from_numpy(generator.standard_normal((16, 4)).astype(np.float32))
        noise = 0.1 * torch.randn(16, 2)  # torch's RNG matters too
        loss = ((model(batch) - batch[:, :2] + noise) ** 2).mean() + 0.01 * random.random()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    random.seed(1)
    torch.manual_seed(1)
    generator = np.random.default_rng(1)
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_steps(model, optimizer, generator, 5)
    save_checkpoint(tmp_path, {**payload_of(model, optimizer, 5),
                               'rng': checkpoint_io.capture_rng_state(generator)})
    train_steps(model, optimizer, generator, 5)  # the uninterrupted run

    random.seed(99)  # a new process: everything different until restored
    torch.manual_seed(99)
    payload = load_checkpoint(tmp_path)
    resumed = tiny_model()  # building modules draws from torch's RNG: restore it after
    load_state_dict_checked(resumed, payload['model'], 'model')
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=1e-2)
    resumed_optimizer.load_state_dict(payload['optimizer'])
    resumed_generator = np.random.default_rng(99)
    checkpoint_io.restore_rng_state(payload['rng'], resumed_generator)
    train_steps(resumed, resumed_optimizer, resumed_generator, 5)

    for key, tensor in model.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key
