"""A disk budget for recorded sessions (the original's `RECORDING_MAX_DISK_GB`).

Recording never stops for lack of room that old sessions hold: when the session bags in a
folder add up to more than the budget, the oldest are deleted until the rest fit. Only bag
folders are ever deleted (a direct subfolder holding `metadata.yaml` or `*.mcap` / `*.db3`
files and nothing but files), never the session being recorded, never a bag written to in the
last `min_age_s` seconds (another recorder may be busy with it), and never through a symlink.
The original kept one budget per robot type; here the budget is per folder, and devrobot keeps
one folder of bags per robot type or run.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from devrobot_core.config_fields import setting

BAG_FILE_SUFFIXES = ('.mcap', '.db3')
BYTES_PER_GB = 1024 ** 3


@dataclass
class SessionStorageConfig:
    """Where recordings may grow to, and how often that is checked during a session."""

    recording_max_disk_gb: float = setting(
        10.0, 'Delete the oldest session bags when the bags folder exceeds this many GB '
        '(0: never delete).')
    disk_check_interval_s: float = setting(
        30.0, 'Seconds between disk budget checks while recording.')


class SessionStorageError(Exception):
    """A session bag could not be deleted; the message says which and why."""


def _entries(folder: Path) -> list:
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def is_session_bag(path) -> bool:
    """A real folder (not a symlink) of bag files only: metadata.yaml or *.mcap / *.db3."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    entries = _entries(path)
    if any(not entry.is_file(follow_symlinks=False) for entry in entries):
        return False  # something else lives here too: not ours to delete
    names = [entry.name for entry in entries]
    return 'metadata.yaml' in names or any(n.endswith(BAG_FILE_SUFFIXES) for n in names)


def folder_size_bytes(path) -> int:
    """Bytes of the regular files under `path` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:  # deleted meanwhile
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def last_written_s(path) -> float:
    """The newest modification time of the folder and its files (seconds since the epoch)."""
    times = [os.lstat(path).st_mtime]
    for entry in _entries(Path(path)):
        try:
            times.append(entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            continue
    return max(times)


def session_bags_oldest_first(sessions_folder) -> list:
    """The bag folders directly inside `sessions_folder`, least recently written first."""
    bags = [Path(entry.path) for entry in _entries(Path(sessions_folder))
            if is_session_bag(entry.path)]
    return sorted(bags, key=lambda bag: (last_written_s(bag), bag.name))


def _resolved(paths: Iterable) -> list:
    return [Path(p).resolve() for p in paths if p is not None]


def _protected(bag: Path, keep: list) -> bool:
    bag = bag.resolve()
    return any(bag == k or bag in k.parents or k in bag.parents for k in keep)


def enforce_disk_budget(sessions_folder, max_bytes: int, keep=None, min_age_s: float = 60.0,
                        now_s: float | None = None) -> list:
    """Delete the oldest session bags in `sessions_folder` until its bags fit in `max_bytes`.

    `keep` is the path (or a list of paths) of bags never to delete, e.g. the session being
    recorded; its size counts when it lies in the folder. Bags written in the last
    `min_age_s` seconds are kept too. Returns the deleted bag folders, oldest first; when
    deleting every candidate still cannot make the bags fit, they are all deleted and the
    rest stays. Raises ValueError for a negative budget, SessionStorageError when a bag
    cannot be deleted (the bags deleted before it stay deleted and are named in the message).
    """
    if max_bytes < 0:
        raise ValueError(f'a disk budget cannot be negative, got {max_bytes} bytes')
    keep_paths = _resolved([keep] if isinstance(keep, (str, os.PathLike)) else keep or [])
    now_s = time.time() if now_s is None else now_s
    bags = session_bags_oldest_first(sessions_folder)
    sizes = {bag: folder_size_bytes(bag) for bag in bags}
    total = sum(sizes.values())
    deleted = []
    for bag in bags:
        if total <= max_bytes:
            break
        if _protected(bag, keep_paths) or now_s - last_written_s(bag) < min_age_s:
            continue
        try:
            shutil.rmtree(bag)
        except OSError as error:
            done = f' (deleted before it: {", ".join(str(d) for d in deleted)})' if deleted else ''
            raise SessionStorageError(f'cannot delete old session {bag}: '
                                      f'{error.strerror or error}{done}') from None
        deleted.append(bag)
        total -= sizes[bag]
    return deleted


class DiskBudget:
    """Checks the budget at most every `interval_s` while a session records (call `check`).

    Deletions and a failed deletion are told to `report` (a logger); a failure never ends
    the session: recording on is worth more than the cleanup.
    """

    def __init__(self, sessions_folder, max_bytes: int, keep=None, interval_s: float = 30.0,
                 min_age_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 report: Callable[[str], None] = lambda message: None):
        if max_bytes < 0:
            raise ValueError(f'a disk budget cannot be negative, got {max_bytes} bytes')
        self.sessions_folder = Path(sessions_folder)
        self.max_bytes = max_bytes
        self.keep = keep
        self.interval_s = interval_s
        self.min_age_s = min_age_s
        self.clock = clock
        self.report = report
        self.deleted: list = []
        self._next_check_s = None

    @classmethod
    def from_config(cls, config: SessionStorageConfig, sessions_folder, keep=None,
                    **kwargs) -> 'DiskBudget | None':
        """The budget the config asks for, or None when it disables deleting (0 GB)."""
        if config.recording_max_disk_gb < 0:
            raise ValueError('recording_max_disk_gb cannot be negative, got '
                             f'{config.recording_max_disk_gb}')
        if config.recording_max_disk_gb == 0:
            return None
        return cls(sessions_folder, int(config.recording_max_disk_gb * BYTES_PER_GB), keep,
                   config.disk_check_interval_s, **kwargs)

    def check(self, force: bool = False) -> list:
        """Enforce the budget when a check is due (the first call always is); deleted bags."""
        now = self.clock()
        if not force and self._next_check_s is not None and now < self._next_check_s:
            return []
        self._next_check_s = now + self.interval_s
        try:
            deleted = enforce_disk_budget(self.sessions_folder, self.max_bytes, self.keep,
                                          self.min_age_s)
        except SessionStorageError as error:
            self.report(str(error))
            return []
        for bag in deleted:
            self.report(f'disk budget: deleted old session {bag}')
        self.deleted.extend(deleted)
        return deleted
