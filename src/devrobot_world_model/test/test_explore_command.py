"""`devrobot explore` from the command line: it serves, and bad input gets one line, exit 2."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from explorer_support import folder_digest, mcap_file, record_session, train_checkpoint

from devrobot_bringup.cli import main as devrobot

# a mark, not a skip while importing (it would skip the whole folder under launch_testing)
pytestmark = pytest.mark.skipif(importlib.util.find_spec('uvicorn') is None,
                                reason='uvicorn is not installed')


def explore_process(*args):
    return subprocess.Popen([sys.executable, '-m', 'devrobot_bringup.cli', 'explore', *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))


@pytest.mark.parametrize('make, message', [
    (lambda tmp: tmp / 'missing', 'does not exist'),
    (lambda tmp: (tmp / 'empty').mkdir() or tmp / 'empty', 'neither a session bag'),
    (lambda tmp: (tmp / 'x.mcap').write_bytes(b'junk') and tmp / 'x.mcap', 'not an MCAP file'),
])
def test_not_a_bag(tmp_path, capsys, make, message):
    assert devrobot(['explore', str(make(tmp_path)), '--port', '0']) == 2
    error = capsys.readouterr().err
    assert message in error and error.count('\n') == 1 and 'Traceback' not in error


def test_a_truncated_bag_and_a_bad_port(tmp_path, capsys):
    record_session(tmp_path / 'bag', steps=5)
    assert devrobot(['explore', str(tmp_path / 'bag'), '--port', '70000']) == 2
    assert '--port must be in 0..65535' in capsys.readouterr().err
    path = mcap_file(tmp_path / 'bag')
    path.write_bytes(path.read_bytes()[:-40])
    assert devrobot(['explore', str(tmp_path / 'bag'), '--port', '0']) == 2
    error = capsys.readouterr().err
    assert 'truncated' in error and error.count('\n') == 1


def test_a_port_in_use(tmp_path, capsys):
    record_session(tmp_path / 'bag', steps=3)
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        assert devrobot(['explore', str(tmp_path / 'bag'), '--port', str(port)]) == 2
    finally:
        taken.close()
    error = capsys.readouterr().err
    assert f'port {port} is in use' in error and error.count('\n') == 1


@pytest.mark.parametrize('other', ['actions', 'size'])
def test_a_checkpoint_that_fits_no_bag(tmp_path, other):
    record_session(tmp_path / 'bag', steps=8)
    if other == 'actions':
        record_session(tmp_path / 'other', steps=8, distractor=True)
    else:
        record_session(tmp_path / 'other', steps=8, size=32)
    checkpoint = train_checkpoint(tmp_path / 'other', tmp_path / 'run')
    before = folder_digest(tmp_path)
    process = explore_process(str(tmp_path / 'bag'), '--checkpoint', str(checkpoint),
                              '--port', '0')
    out, error = process.communicate(timeout=120)
    assert process.returncode == 2, error
    lines = error.strip().splitlines()
    assert len(lines) == 1 and 'does not fit' in lines[0]
    assert ('action space' if other == 'actions' else '32x32') in lines[0]
    assert folder_digest(tmp_path) == before


def test_it_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    record_session(tmp_path / 'bag', steps=6)
    process = explore_process(str(tmp_path / 'bag'), '--port', '0')
    try:
        line = process.stdout.readline()
        assert line.startswith('devrobot explore: http://127.0.0.1:'), line
        url = line.split()[2]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert '<script src="/static/explorer.js">' in page and 'https://' not in page
        for _ in range(100):
            session = json.loads(urllib.request.urlopen(url + 'api/session', timeout=10).read())
            if session['bags'][0]['complete']:
                break
        assert session['bags'][0]['steps'] == 6 and session['model']['state'] == 'none'
    finally:
        process.send_signal(signal.SIGINT)
        _, error = process.communicate(timeout=30)
    assert process.returncode == 130 and 'Traceback' not in error


def test_a_corrupt_checkpoint(tmp_path):
    record_session(tmp_path / 'bag', steps=4)
    (tmp_path / 'checkpoints').mkdir()
    (tmp_path / 'checkpoints' / 'checkpoint.pt').write_bytes(b'not a checkpoint')
    process = explore_process(str(tmp_path / 'bag'), '--checkpoint',
                              str(tmp_path / 'checkpoints'), '--port', '0')
    _, error = process.communicate(timeout=120)
    assert process.returncode == 2
    lines = error.strip().splitlines()
    assert len(lines) == 1 and 'cannot use the checkpoint' in lines[0], error
