"""Paths checked where they enter: one UsageError line naming the path, nothing opened."""

import os
import socket

import pytest

from devrobot_core.errors import UsageError
from devrobot_core.input_checks import new_path, readable_path, writable_folder


def test_readable_paths_are_files_or_folders_of_files(tmp_path):
    (tmp_path / 'bag').mkdir()
    (tmp_path / 'bag' / 'metadata.yaml').write_text('x')
    (tmp_path / 'file.pt').write_bytes(b'x')
    assert readable_path(tmp_path / 'bag', '--bag') == tmp_path / 'bag'
    assert readable_path(str(tmp_path / 'file.pt'), '--checkpoint') == tmp_path / 'file.pt'


def test_what_cannot_be_read_is_named_in_one_line(tmp_path):
    os.mkfifo(tmp_path / 'fifo')
    (tmp_path / 'bag').mkdir()
    os.mkfifo(tmp_path / 'bag' / 'data.mcap')
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / 'sock'))
    (tmp_path / 'file').write_text('x')
    try:
        for path, message in [(tmp_path / 'missing', 'no such file or folder'),
                              (tmp_path / 'fifo', 'is a FIFO, not a file or folder'),
                              (tmp_path / 'sock', 'is a socket'),
                              (tmp_path / 'bag', 'data.mcap is a FIFO, not a file'),
                              (tmp_path / 'file' / 'below', 'cannot be read')]:
            with pytest.raises(UsageError) as caught:
                readable_path(path, '--bag')
            text = str(caught.value)
            assert text.startswith(f'--bag {path}') and message in text and '\n' not in text
    finally:
        listener.close()


def test_permissions_are_checked_with_the_process_rights(tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('x')
    monkeypatch.setattr(os, 'access', lambda path, mode: False)  # as a user without rights
    with pytest.raises(UsageError, match='the file cannot be read'):
        readable_path(tmp_path / 'file', '--checkpoint')
    with pytest.raises(UsageError, match='the folder cannot be read'):
        readable_path(tmp_path, '--bag')
    with pytest.raises(UsageError, match='cannot be written'):
        new_path(tmp_path / 'new', '--out')


def test_writable_folders_are_created_and_probed(tmp_path):
    assert writable_folder(tmp_path / 'a' / 'b', '--out').is_dir()
    assert list((tmp_path / 'a' / 'b').iterdir()) == []  # the probe is gone
    (tmp_path / 'file').write_text('x')
    with pytest.raises(UsageError, match=f'cannot write the --out folder {tmp_path}/file/run'):
        writable_folder(tmp_path / 'file' / 'run', '--out')
    with pytest.raises(UsageError, match='cannot write the --out folder /proc/devrobot'):
        writable_folder('/proc/devrobot', '--out')


def test_new_paths_must_not_exist_and_their_folder_be_writable(tmp_path):
    assert new_path(tmp_path / 'x' / 'y' / 'bag', '--out') == tmp_path / 'x' / 'y' / 'bag'
    (tmp_path / 'taken').mkdir()
    os.symlink(tmp_path / 'nowhere', tmp_path / 'dangling')
    (tmp_path / 'file').write_text('x')
    for path, message in [(tmp_path / 'taken', 'already exists'),
                          (tmp_path / 'dangling', 'already exists'),
                          (tmp_path / 'file' / 'bag', 'is not a folder')]:
        with pytest.raises(UsageError, match=message):
            new_path(path, '--out')
