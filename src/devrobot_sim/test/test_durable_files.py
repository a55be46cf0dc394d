"""Atomic replacement and whole-commit files, on a disk that fills up."""

import errno
import os

import pytest
from bag_samples import FullDisk

from devrobot_core import durable_files
from devrobot_core.durable_files import StagedFile, write_atomically

REAL_WRITE_ALL = durable_files.write_all


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'stats.json'
    write_atomically(path, '{"steps": 1}\n')
    write_atomically(path, b'{"steps": 2}\n')
    assert path.read_text() == '{"steps": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['stats.json']


@pytest.mark.parametrize('room', [0, 5])
def test_a_full_disk_keeps_the_old_file_whole(tmp_path, monkeypatch, room):
    path = tmp_path / 'stats.json'
    path.write_text('{"steps": 1}\n')
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(room))
    with pytest.raises(OSError) as raised:
        write_atomically(path, '{"steps": 200000}\n')
    assert raised.value.errno == errno.ENOSPC
    assert path.read_text() == '{"steps": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['stats.json']


def test_staged_file_writes_only_on_commit_and_a_failed_commit_is_cut_back(tmp_path,
                                                                           monkeypatch):
    staged = StagedFile(tmp_path / 'f')
    staged.write(b'abc')
    assert staged.tell() == 3 and (tmp_path / 'f').read_bytes() == b''
    staged.commit()
    staged.write(b'def')
    staged.patch(4, b'E')
    staged.commit()
    assert (tmp_path / 'f').read_bytes() == b'abcdEf'
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(2))
    staged.write(b'ghijk')
    with pytest.raises(OSError):
        staged.commit()
    assert (tmp_path / 'f').read_bytes() == b'abcdEf'  # the two bytes that fit are gone again
    assert staged.tell() == 6
    monkeypatch.setattr(durable_files, 'write_all', REAL_WRITE_ALL)  # room again
    staged.write(b'gh')
    staged.close()
    assert (tmp_path / 'f').read_bytes() == b'abcdEfgh'


def test_write_all_continues_after_a_short_write(tmp_path, monkeypatch):
    writes = []
    real_write = os.write

    def one_byte_at_a_time(fd, data):
        writes.append(1)
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(os, 'write', one_byte_at_a_time)
    fd = os.open(tmp_path / 'f', os.O_WRONLY | os.O_CREAT)
    try:
        durable_files.write_all(fd, b'hello')
    finally:
        os.close(fd)
    assert (tmp_path / 'f').read_bytes() == b'hello' and len(writes) == 5


def test_a_second_writer_cannot_lock_a_file_being_written(tmp_path):
    staged = StagedFile(tmp_path / 'f')
    with open(tmp_path / 'f', 'rb') as other:
        assert not durable_files.lock_file(other.fileno())
    staged.close()
    with open(tmp_path / 'f', 'rb') as other:
        assert durable_files.lock_file(other.fileno())
