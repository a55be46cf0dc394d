"""Files that survive a kill, a power loss and a full disk: whole or not at all.

`write_atomically` replaces a file (stats.json, metadata.yaml, a report) through a temporary
file that is synced before the rename, so a reader sees the old content or the new one, never
a cut one. `StagedFile` is an append-only file that takes bytes in memory and writes them in
whole commits: a commit that fails (ENOSPC) is cut off again, so the file always ends at the
end of the last commit that succeeded. Every write to disk goes through `write_all`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not on Windows: no locks there
    fcntl = None


def write_all(fd: int, data) -> None:
    """Write every byte of `data` to `fd` (a short write continues; an error raises OSError)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def sync_folder(folder) -> None:
    """Make a rename or a new file in `folder` survive a power loss (where the OS allows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot sync a folder; the data itself is synced
        pass
    finally:
        os.close(fd)


def sync_file(path) -> None:
    """Push a file someone else wrote (e.g. rosbags' metadata.yaml) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path, data) -> None:
    """Replace `path` with `data` (bytes or str): a reader sees the old file or the new one.

    Raises OSError (e.g. ENOSPC) with the old file untouched and no temporary file left.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode('utf-8')
    temporary = path.with_name(f'.{path.name}.tmp')
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        try:
            temporary.unlink()
        except OSError:
            pass
        raise
    sync_folder(path.parent)


def lock_file(fd: int) -> bool:
    """Take an exclusive lock on an open file; False when another process holds one.

    A recording holds it for as long as it writes (the OS drops it when the process dies,
    also by SIGKILL), so a repair can tell a bag that is still being recorded.
    """
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
    return True  # a filesystem without locks: nothing to hold


class StagedFile:
    """A new append-only file written in whole commits; the writer's `bio` for rosbags' mcap.

    `write` and `tell` behave as on a file (offsets count the staged bytes too); `commit`
    writes what is staged (and syncs it, or leaves that to `sync`). A failed commit drops the
    staged bytes and cuts the file back to its last commit before raising, so what is on disk
    stays a clean prefix.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                          0o644)
        lock_file(self.fd)  # a new file: no one else holds it
        self.committed = 0  # bytes written to the file (a kill keeps them)
        self.synced = 0  # bytes synced to the disk (a power loss keeps them)
        self.staged = bytearray()
        self._folder_synced = False

    def write(self, data) -> int:
        self.staged += data
        return len(data)

    def tell(self) -> int:
        return self.committed + len(self.staged)

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite staged bytes at file offset `offset` (not yet committed)."""
        start = offset - self.committed
        if start < 0 or start + len(data) > len(self.staged):
            raise ValueError(f'offset {offset} is not in the staged bytes')
        self.staged[start:start + len(data)] = data

    def commit(self, sync: bool = True) -> None:
        """Write the staged bytes; with `sync`, also make them (and all before) durable."""
        if self.staged:
            try:
                write_all(self.fd, self.staged)
            except OSError:
                self.roll_back()
                raise
            self.committed += len(self.staged)
            self.staged.clear()
        if sync:
            self.sync()

    def sync(self) -> None:
        """Make every committed byte durable (another thread may call this; it takes no lock).

        Raises OSError when the OS cannot (an I/O error): the bytes may then be lost on a
        power loss, though a process kill keeps them.
        """
        target = self.committed
        if target > self.synced or not self._folder_synced:
            os.fsync(self.fd)
            if not self._folder_synced:  # the file's name must survive a power loss too
                sync_folder(self.path.parent)
                self._folder_synced = True
            self.synced = max(self.synced, target)

    def roll_back(self) -> None:
        """Forget the staged bytes and cut the file back to its last commit (best effort)."""
        self.staged.clear()
        try:
            os.ftruncate(self.fd, self.committed)
            os.lseek(self.fd, self.committed, os.SEEK_SET)
        except OSError:
            pass

    def close(self) -> None:
        """Commit what is staged and close the file (also when the commit fails)."""
        try:
            self.commit()
        finally:
            self.abort()

    def abort(self) -> None:
        """Close without writing what is staged."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
