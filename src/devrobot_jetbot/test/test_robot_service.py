"""The robot service: its start-up checks, its errors to clients, Python 3.6, the copied files."""

import ast
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from devrobot_jetbot import robot_service
from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.rpyc_backend import RpycBackend
import pytest
import rpyc

PACKAGE = Path(__file__).resolve().parents[1] / 'devrobot_jetbot'
ROBOT_FILES = ('robot_service.py', 'motor_watchdog.py', 'robot_server.py', 'onboard_hardware.py')
# devrobot_jetbot is installed here; hide it so the service takes the robot's import path
LAUNCHER = ("import runpy, sys; sys.modules['devrobot_jetbot'] = None; "
            "sys.argv = ['robot_service.py'] + sys.argv[1:]; "
            "runpy.run_path('robot_service.py', run_name='__main__')")


@pytest.mark.parametrize('name', ROBOT_FILES)
def test_robot_side_files_parse_as_python_3_6(name):
    source = (PACKAGE / name).read_text()
    ast.parse(source, feature_version=(3, 6))  # walrus, positional-only, etc. fail here
    assert 'from __future__ import annotations' not in source
    assert 'dataclass' not in source
    assert '=}' not in source  # f-string self-documenting expressions are 3.8+
    imports = [node for node in ast.walk(ast.parse(source))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    modules = {(node.module or '') if isinstance(node, ast.ImportFrom) else node.names[0].name
               for node in imports}
    assert not any(m.startswith('devrobot_sim') or m.startswith('devrobot_core')
                   for m in modules)


def copy_robot_files(folder):
    for name in ROBOT_FILES:
        shutil.copy(PACKAGE / name, folder / name)


def wait_for_port(port, process, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1.0).close()
            return
        except OSError:
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.05)
    raise AssertionError('the service never listened')


@pytest.mark.parametrize('stop_signal', ['SIGINT', 'SIGTERM'])
def test_the_copied_files_run_as_the_robot_service_for_the_original_client(
        tmp_path, closed_port, stop_signal):
    """Run the copied files as on the robot: no devrobot, stopped by Ctrl-C or systemctl."""
    copy_robot_files(tmp_path)
    process = subprocess.Popen(
        [sys.executable, '-c', LAUNCHER, '--hardware', 'mock', '--bind', '127.0.0.1',
         '--port', str(closed_port), '--max-hold-s', '0.2', '--insecure'],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(closed_port, process)
        conn = rpyc.connect('127.0.0.1', closed_port)  # the original client: no secret
        assert conn.root.get_service_name() == 'DEVROBOT_JETBOT'
        conn.root.set_motors(0.2, 0.2)
        assert len(conn.root.get_camera_frame()) > 100
        conn.close()
    finally:
        process.send_signal(getattr(signal, stop_signal))
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert 'serving the JetBot' in output and 'motors stopped: service shut down' in output
    assert 'running WITHOUT a secret' in output


def test_the_service_asks_for_the_secret_in_its_default_file(tmp_path, closed_port):
    copy_robot_files(tmp_path)
    home = tmp_path / 'home'
    home.mkdir()
    (home / '.devrobot_secret').write_text('correct horse\n')
    env = dict(os.environ, HOME=str(home))
    env.pop('DEVROBOT_SECRET_FILE', None)
    process = subprocess.Popen(
        [sys.executable, '-c', LAUNCHER, '--hardware', 'mock', '--bind', '127.0.0.1',
         '--port', str(closed_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(closed_port, process)
        backend = RpycBackend(JetBotConfig(host='127.0.0.1', port=closed_port,
                                           secret_file=str(home / '.devrobot_secret'),
                                           call_timeout_s=15.0))  # a cold subprocess is slow
        backend.apply_motors(0.1, 0.1, 0.05)
        assert backend.read_frame().shape == (224, 224, 3)
        backend.close()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert 'secret: yes' in output


@pytest.mark.parametrize('argv, message', [
    (['--port', '70000'], '--port must be in 1..65535, got 70000'),
    (['--port', '0'], '--port must be in 1..65535, got 0'),
    (['--max-hold-s', 'inf'], '--max-hold-s must be a number of seconds in (0, 5], got inf'),
    (['--max-hold-s', 'nan'], 'got nan'),
    (['--max-hold-s', '1e300'], 'got 1e+300'),
    (['--max-hold-s', '0'], 'got 0.0'),
    (['--max-clients', '0'], '--max-clients must be in 1..256'),
    (['--insecure', '--secret-file', 'x'], 'contradict each other'),
    (['--secret-file', '{tmp}/missing'], 'the secret file {tmp}/missing does not exist: run '
     '`devrobot jetbot-secret --host'),
    ([], 'the secret file {tmp}/.devrobot_secret does not exist'),  # the default, in $HOME
    (['--secret-file', '{tmp}'], 'cannot read the secret file {tmp}: Is a directory'),
    (['--secret-file', '{tmp}/empty'], 'the secret file {tmp}/empty is empty'),
    (['--secret-file', '{tmp}/binary'], 'the secret file {tmp}/binary is not text'),
])
def test_bad_options_and_secret_files_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys,
                                                              argv, message):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('DEVROBOT_SECRET_FILE', raising=False)
    (tmp_path / 'empty').write_text(' \n')
    (tmp_path / 'binary').write_bytes(b'\xff\xfe\x00secret')
    argv = [part.replace('{tmp}', str(tmp_path)) for part in argv]
    # the real hardware is the default: a check that came after opening it would fail otherwise
    assert robot_service.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('robot_service: error: ')
    assert message.replace('{tmp}', str(tmp_path)) in lines[0]


def test_the_service_exits_1_when_its_listener_dies(tmp_path, monkeypatch, caplog):
    """Exit status 1, not 0: the systemd unit restarts the service then."""
    made = []

    def make_and_keep(*args, **kwargs):
        made.append(real_make_server(*args, **kwargs))
        return made[-1]

    def break_the_listener():
        deadline = time.monotonic() + 30
        while not (made and made[0][0].active) and time.monotonic() < deadline:
            time.sleep(0.01)
        made[0][0].listener.shutdown(socket.SHUT_RDWR)  # accept() now fails with EINVAL

    real_make_server = robot_service.make_server
    monkeypatch.setattr(robot_service, 'make_server', make_and_keep)
    previous = signal.getsignal(signal.SIGTERM)
    breaker = threading.Thread(target=break_the_listener)
    breaker.start()
    try:
        status = robot_service.main(['--hardware', 'mock', '--bind', '127.0.0.1', '--insecure',
                                     '--port', str(free_port())])
    finally:
        signal.signal(signal.SIGTERM, previous)
        breaker.join()
    assert status == 1
    assert any('the listening socket failed' in r.getMessage() for r in caplog.records)
    assert made[0][1].motors.speeds() == (0.0, 0.0)


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class BrokenCamera:
    def read_bgr(self):
        raise FileNotFoundError(2, 'No such file or directory', '/opt/secret/install/cam.so')


def test_errors_reach_clients_as_one_line_without_tracebacks_or_paths(start_service):
    service = start_service(camera=BrokenCamera())
    first = rpyc.connect('127.0.0.1', service.port)
    second = rpyc.connect('127.0.0.1', service.port)
    try:
        first.root.set_motors(0.2, 0.2, 0.5)
        failures = []
        for call in (first.root.get_camera_frame,
                     lambda: second.root.set_motors(1.0, 1.0, 0.5),
                     lambda: first.root.exposed_nothing_here,
                     lambda: first.root._conn):
            with pytest.raises(Exception) as caught:
                call()
            failures.append(str(caught.value))
    finally:
        first.close()
        second.close()
    for text in failures:
        assert 'Traceback (most recent call last)' not in text and 'File "' not in text
        assert '/opt/secret' not in text and '.py' not in text and 'site-packages' not in text
    assert failures[0].startswith('get_camera_frame failed on the robot (FileNotFoundError)')
    assert failures[1].startswith('motors busy: 127.0.0.1:')
    assert 'drives the motors; stop it, or take them over explicitly' in failures[1]
    assert [text.split('\n')[0] for text in failures[2:]] == [
        "'JetBotService' object has no attribute 'exposed_nothing_here'", "cannot access '_conn'"]
