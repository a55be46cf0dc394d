"""Paths from the command line, checked where they enter: one UsageError line naming the path.

Each check looks at the file type before anything opens it: reading a FIFO (or a device) for a
bag, a frame or a checkpoint would block forever or stream without end.

    bag = readable_path(args.bag, '--bag')                 # a file or a folder of files
    out = writable_folder(args.out, '--out')               # created when missing, probed
    new = new_path(args.out, '--out')                      # must not exist; its parent writable
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from devrobot_core.errors import UsageError


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device')):
        if test(mode):
            return name
    return 'not a regular file'


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise UsageError(f'{what} {path}: no such file or folder') from None
    except OSError as error:
        raise UsageError(f'{what} {path}: cannot be read ({error.strerror or error})') from None


def readable_path(path, what: str) -> Path:
    """Return `path` if it is a readable regular file or folder; else raise UsageError.

    A folder's entries must be files or folders too: a bag folder holding a FIFO would block
    its reader.
    """
    path = Path(path)
    info = _stat(path, what)
    if stat.S_ISDIR(info.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f'{what} {path}: the folder cannot be read (permission denied)')
        try:
            entries = list(os.scandir(path))
        except OSError as error:
            raise UsageError(f'{what} {path}: cannot be read ({error.strerror or error})') \
                from None
        for entry in entries:
            mode = _stat(Path(entry.path), what).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UsageError(f'{what} {path}: {entry.name} is {_kind(mode)}, not a file')
        return path
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f'{what} {path}: is {_kind(info.st_mode)}, not a file or folder')
    if not os.access(path, os.R_OK):
        raise UsageError(f'{what} {path}: the file cannot be read (permission denied)')
    return path


def writable_folder(path, what: str) -> Path:
    """Return `path` as a folder this process can write in (created when missing).

    Raises UsageError naming the folder and the reason when it cannot be written.
    """
    path = Path(path)
    probe = path / f'.write_test_{uuid.uuid4().hex}'
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b'ok')
        probe.unlink()
    except OSError as error:
        raise UsageError(f'cannot write the {what} folder {path}: '
                         f'{error.strerror or error}') from None
    return path


def new_path(path, what: str) -> Path:
    """Return `path` if nothing exists there and it can be created; else raise UsageError.

    The nearest existing folder above it must be writable (the missing ones between are created
    by the writer).
    """
    path = Path(path)
    if os.path.lexists(path):
        raise UsageError(f'{what} {path} already exists: choose a new path')
    parent = path.absolute().parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    info = _stat(parent, f'{what} {path}: the folder')
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f'{what} {path}: {parent} is not a folder')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f'{what} {path}: the folder {parent} cannot be written '
                         '(permission denied)')
    return path
