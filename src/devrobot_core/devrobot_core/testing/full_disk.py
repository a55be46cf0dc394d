"""A full disk for tests: a stand-in for `durable_files.write_all` that runs out of room."""

import errno
import os


class FullDisk:
    """A stand-in for durable_files.write_all: the disk holds `room` more bytes, then ENOSPC.

    Like a real full disk, a write that does not fit writes what fits, then fails.
    """

    def __init__(self, room: int):
        self.room = room

    def __call__(self, fd, data):
        data = bytes(data)
        fits = data[:max(self.room, 0)]
        if fits:
            os.write(fd, fits)
            self.room -= len(fits)
        if len(fits) < len(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
