"""Checkpoints as plain data, written atomically, with a one-deep backup.

A checkpoint is one file holding one dict of plain data: state dicts of the un-compiled modules,
optimizer states, counters, recent history as lists or tensors, the config as a dict. Nothing is
pickled as an object, so `torch.load(weights_only=True)` reads it and a checkpoint never runs
code. What goes into the dict is the caller's choice; this module only writes, reads and checks:

    save_checkpoint(folder, {'config': asdict(config), 'autoencoder': uncompiled(ae).state_dict(),
                             'optimizer': opt.state_dict(), 'step': step})
    payload = load_checkpoint(folder)              # falls back to the backup, with a warning
    load_state_dict_checked(ae, payload['autoencoder'], 'autoencoder')  # names the 1st mismatch

Files in `folder`: `checkpoint.pt` (the newest) and `checkpoint_backup.pt` (the one before).
A save writes `checkpoint.pt.tmp` first, checks that it reads back, and only then moves the
previous checkpoint to the backup and the new one into place, so a crash or a full disk at any
point leaves at least one complete checkpoint.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import os
import pathlib
import random
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from devrobot_core.errors import UsageError

FORMAT_VERSION = 1
CHECKPOINT_NAME = 'checkpoint.pt'
BACKUP_NAME = 'checkpoint_backup.pt'
TEMPORARY_SUFFIX = '.tmp'
HISTORY_LENGTH = 100  # how many recent history entries a checkpoint keeps, as in the original

_PLAIN_SCALARS = (bool, int, float, str, type(None))
_PLAIN_CONTAINERS = (dict, OrderedDict, list, tuple)


class CheckpointError(UsageError):
    """A checkpoint that cannot be written or used: missing, corrupt, mismatched, disk full.

    It is a UsageError so that `devrobot` prints it as one line and exits 2.
    """


def checkpoint_path(folder: str | os.PathLike) -> pathlib.Path:
    """The primary checkpoint file; `folder` may also name a checkpoint file itself."""
    folder = pathlib.Path(folder)
    return folder if folder.suffix == '.pt' else folder / CHECKPOINT_NAME


def backup_path(primary: pathlib.Path) -> pathlib.Path:
    """`checkpoint.pt` -> `checkpoint_backup.pt`, beside it."""
    return primary.with_name(primary.stem + '_backup' + primary.suffix)


def has_checkpoint(folder: str | os.PathLike) -> bool:
    """True when `folder` holds a primary or a backup checkpoint (a run can resume)."""
    primary = checkpoint_path(folder)
    return primary.is_file() or backup_path(primary).is_file()


# -- plain data -----------------------------------------------------------------------------

def plain_data(value: Any) -> Any:
    """Convert `value` to data that `torch.load(weights_only=True)` reads back.

    numpy arrays become tensors, numpy scalars Python numbers, dataclasses and enums their
    fields and values, paths strings; containers are converted item by item. Tensors are
    detached and moved to the CPU. Anything else raises TypeError.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, enum.Enum):
        return plain_data(value.value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (str, type(None))):
        return value if value is None else str(value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value).copy())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain_data(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f'cannot store a {type(value).__name__} in a checkpoint as plain data')


def recent_history(entries, length: int = HISTORY_LENGTH) -> list:
    """The last `length` entries of a history buffer, converted to plain data."""
    entries = list(entries)
    return [plain_data(e) for e in entries[max(0, len(entries) - length):]]


def find_non_plain(value: Any, where: str = 'payload') -> str | None:
    """Describe the first item that is not plain data (`payload['x'][3]: ndarray`), or None."""
    kind = type(value)
    if kind in _PLAIN_SCALARS or kind in (torch.Tensor, torch.nn.Parameter, torch.Size):
        return None
    if kind in (dict, OrderedDict):
        for key, item in value.items():
            found = (find_non_plain(key, f'{where} key {key!r}')
                     or find_non_plain(item, f'{where}[{key!r}]'))
            if found:
                return found
        return None
    if kind in (list, tuple):
        for index, item in enumerate(value):
            found = find_non_plain(item, f'{where}[{index}]')
            if found:
                return found
        return None
    return f'{where}: {kind.__module__}.{kind.__qualname__}'


# -- random number generators ---------------------------------------------------------------

def capture_rng_state(generator: np.random.Generator | None = None) -> dict:
    """The state of Python's, torch's (and CUDA's) and optionally a numpy generator's RNG.

    Store it in the checkpoint and pass it to `restore_rng_state` so that a resumed run draws
    the same masks and minibatches as an uninterrupted one. Restore it last, after building
    the modules (initialising them draws from torch's RNG).
    """
    state = {'python': plain_data(random.getstate()), 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = list(torch.cuda.get_rng_state_all())
    if generator is not None:
        state['numpy'] = plain_data(generator.bit_generator.state)
    return state


def restore_rng_state(state: dict, generator: np.random.Generator | None = None) -> None:
    """Put back what `capture_rng_state` stored (the numpy part only when given a generator)."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
    if generator is not None and 'numpy' in state:
        generator.bit_generator.state = state['numpy']


# -- save -----------------------------------------------------------------------------------

def save_checkpoint(folder: str | os.PathLike, payload: dict) -> pathlib.Path:
    """Write `payload` (plain data) atomically as the newest checkpoint; return its path.

    The previous checkpoint becomes the backup (unless it is damaged: then the backup, the last
    good one, stays). When writing fails (a full disk, a read-only
    folder) the previous checkpoint and its backup are left untouched and CheckpointError says
    why. A payload with non-plain items (an ndarray, a dataclass) raises TypeError naming the
    first one: convert it with `plain_data` first.
    """
    problem = find_non_plain(payload)
    if problem:
        raise TypeError(f'checkpoint payload is not plain data at {problem}; '
                        'convert it with checkpoint_io.plain_data()')
    primary = checkpoint_path(folder)
    temporary = primary.with_name(primary.name + TEMPORARY_SUFFIX)
    try:
        primary.parent.mkdir(parents=True, exist_ok=True)
        # Serialise in memory first: torch turns a failed write of its own into an opaque
        # RuntimeError, while a plain write reports the OS's reason (ENOSPC: disk full).
        buffer = io.BytesIO()
        torch.save({**payload, 'format_version': FORMAT_VERSION}, buffer)
        with open(temporary, 'wb') as stream:
            stream.write(buffer.getbuffer())
            stream.flush()
            os.fsync(stream.fileno())
        _read(temporary)  # never rotate in a file that cannot be read back
        if primary.exists() and _readable(primary):
            os.replace(primary, backup_path(primary))
        # else a damaged primary is simply replaced: the backup keeps the last good one
        os.replace(temporary, primary)
        _sync_folder(primary.parent)
    except (OSError, RuntimeError, CheckpointError) as error:
        # torch reports a failed write of its zip stream as RuntimeError, the OS as OSError
        _remove_quietly(temporary)
        raise CheckpointError(
            f'could not save the checkpoint to {primary} ({_reason(error)}); '
            'the previous checkpoint is kept') from error
    return primary


def _remove_quietly(path: pathlib.Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _sync_folder(folder: pathlib.Path) -> None:
    """Make the renames durable; some file systems cannot open folders, which is harmless."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# -- load -----------------------------------------------------------------------------------

def load_checkpoint(folder: str | os.PathLike, map_location: Any = 'cpu') -> dict:
    """Read the newest usable checkpoint in `folder` (or the `.pt` file named) as plain data.

    A corrupt, truncated or missing primary falls back to the backup with a RuntimeWarning.
    Raises CheckpointError when there is no checkpoint, when neither file can be read, or when
    the file was written by a newer format.
    """
    primary = checkpoint_path(folder)
    backup = backup_path(primary)
    if not primary.exists() and not backup.exists():
        raise CheckpointError(f'no checkpoint at {primary}')
    problems = []
    for index, candidate in enumerate((primary, backup)):
        if not candidate.exists():
            problems.append(f'{candidate.name}: missing')
            continue
        try:
            payload = _read(candidate, map_location)
        except CheckpointError as error:
            problems.append(str(error))
            continue
        if index > 0:
            warnings.warn(f'checkpoint {primary} is unusable ({problems[0]}); '
                          f'loaded the backup {candidate.name} instead', RuntimeWarning,
                          stacklevel=2)
        return payload
    raise CheckpointError(f'no usable checkpoint in {primary.parent}: ' + '; '.join(problems))


def _read(path: pathlib.Path, map_location: Any = 'cpu', mmap: bool = False) -> dict:
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as error:  # torch raises many kinds for truncated or foreign files
        raise CheckpointError(f'{path.name}: cannot be read ({_reason(error)})') from error
    if not isinstance(payload, dict) or 'format_version' not in payload:
        raise CheckpointError(f'{path.name}: not a devrobot checkpoint (no format_version)')
    version = payload['format_version']
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f'{path.name}: checkpoint format {version!r} is newer than this '
                              f'devrobot reads ({FORMAT_VERSION}); update devrobot')
    return payload


def _readable(path: pathlib.Path) -> bool:
    try:
        _read(path, mmap=True)  # memory-mapped: checks the structure without reading it all
    except CheckpointError:
        return False
    return True


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0]}' if text else type(error).__name__


# -- architecture checks --------------------------------------------------------------------

def uncompiled(module: torch.nn.Module) -> torch.nn.Module:
    """The module a `torch.compile` wrapper holds (or the module itself): save its state dict."""
    return getattr(module, '_orig_mod', module)


def check_state_dict(module: torch.nn.Module, state_dict: dict, name: str) -> None:
    """Raise CheckpointError naming the first key or shape where `state_dict` and `module` differ.

    `module` is the one freshly built from the stored config; `name` says which part of the
    checkpoint this is (`autoencoder`, `predictor_0`) so the message points at it.
    """
    expected = uncompiled(module).state_dict()
    if not isinstance(state_dict, dict):
        raise CheckpointError(f'{name}: the checkpoint holds a {type(state_dict).__name__}, '
                              'not a state dict')
    hint = 'the checkpoint was written for a different architecture than this config builds'
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(f'{name}: parameter {key!r} is missing from the checkpoint; '
                                  f'{hint}')
        stored = state_dict[key]
        if not isinstance(stored, torch.Tensor):
            raise CheckpointError(f'{name}: {key!r} in the checkpoint is not a tensor')
        if tuple(stored.shape) != tuple(tensor.shape):
            raise CheckpointError(
                f'{name}: {key!r} has shape {list(stored.shape)} in the checkpoint but '
                f'{list(tensor.shape)} in the model built from the config; {hint}')
    for key in state_dict:
        if key not in expected:
            raise CheckpointError(f'{name}: the checkpoint has parameter {key!r} that the model '
                                  f'built from the config lacks; {hint}')


def load_state_dict_checked(module: torch.nn.Module, state_dict: dict, name: str) -> None:
    """Check `state_dict` against `module` (see `check_state_dict`), then load it strictly."""
    check_state_dict(module, state_dict, name)
    uncompiled(module).load_state_dict(state_dict, strict=True)
