"""The robot service's server: frame limit, connection cap, challenge deadline, dead listener.

Floods and slow clients run against real sockets on loopback.
"""

import errno
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib

from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.robot_server import (BoundedChannel, FrameTooLarge, HardenedServer,
                                          ListenerDied, MAX_FRAME_BYTES)
from devrobot_jetbot.rpyc_backend import RpycBackend
import pytest
import rpyc

SLACK_S = 3.0  # a loaded 2-core machine may stall threads for a long time
HEADER = struct.Struct('!LB')  # rpyc's frame header: length, compressed flag


def client_config(port, secret_file='', **overrides):
    # a generous call timeout: a service just started in a subprocess on a loaded machine may
    # take seconds for its first camera frame, and these tests are not about call timing
    values = dict(host='127.0.0.1', port=port, secret_file=secret_file, connect_timeout_s=2.0,
                  call_timeout_s=15.0, reconnect_attempts=8, reconnect_backoff_s=0.1)
    values.update(overrides)
    return JetBotConfig(**values)


def closed_by_peer(sock, timeout_s):
    """True when the other side closes `sock` within `timeout_s` (reads EOF or a reset)."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True


class FakeStream:
    def __init__(self, data):
        self.data, self.asked = data, []

    def read(self, count):
        self.asked.append(count)
        chunk, self.data = self.data[:count], self.data[count:]
        return chunk

    def close(self):
        self.data = b''


def frame(payload, compressed=False):
    return HEADER.pack(len(payload), int(compressed)) + payload + b'\n'


def test_a_frame_over_the_limit_is_refused_from_its_header_before_the_body_is_read():
    stream = FakeStream(HEADER.pack(1 << 30, 0))  # claims 1 GiB
    with pytest.raises(FrameTooLarge):
        BoundedChannel(stream).recv()
    assert stream.asked == [HEADER.size]


def test_a_small_compressed_frame_may_not_inflate_past_the_limit():
    bomb = zlib.compress(bytes(50 * 1024 * 1024))  # 50 KiB that inflate to 50 MiB
    assert len(bomb) < MAX_FRAME_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge):
            BoundedChannel(FakeStream(frame(bomb, compressed=True))).recv()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_FRAME_BYTES + len(bomb) * 2
    fine = zlib.compress(b'x' * 5000)
    assert BoundedChannel(FakeStream(frame(fine, compressed=True))).recv() == b'x' * 5000
    assert BoundedChannel(FakeStream(frame(b'plain'))).recv() == b'plain'


def test_a_compressed_bomb_over_the_network_drops_only_its_sender(start_service):
    service = start_service()
    inflater = zlib.compressobj()
    bomb = b''.join(inflater.compress(bytes(1 << 20)) for _ in range(256)) + inflater.flush()
    assert 200 * 1024 < len(bomb) < 300 * 1024
    for payload in (bomb, bomb[:MAX_FRAME_BYTES - 16]):  # 255 KiB; then one under the limit
        with socket.create_connection(('127.0.0.1', service.port)) as attacker:
            try:
                attacker.sendall(frame(payload, compressed=True))
            except OSError:  # reset: the service closed it after reading the header
                pass
            assert closed_by_peer(attacker, SLACK_S)
    backend = RpycBackend(client_config(service.port))
    assert backend.read_frame().shape == (224, 224, 3)
    backend.close()


def test_a_malformed_request_drops_its_sender_with_one_log_line(start_service, caplog):
    service = start_service()
    with socket.create_connection(('127.0.0.1', service.port)) as fuzzer:
        fuzzer.sendall(frame(b'\x00\x01garbage'))
        assert closed_by_peer(fuzzer, SLACK_S)
    lines = [r.getMessage() for r in caplog.records if 'protocol error' in r.getMessage()]
    assert len(lines) == 1 and not any(r.exc_info for r in caplog.records)
    backend = RpycBackend(client_config(service.port))
    assert backend.read_frame().shape == (224, 224, 3)
    backend.close()


def test_connections_beyond_the_cap_are_closed_at_once_and_slots_free_up(start_service):
    service = start_service(max_clients=2)
    idle = [socket.create_connection(('127.0.0.1', service.port)) for _ in range(2)]
    deadline = time.monotonic() + SLACK_S
    while len(service.server.clients) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    extra = socket.create_connection(('127.0.0.1', service.port))
    assert closed_by_peer(extra, SLACK_S)
    assert service.server.refused >= 1
    for sock in idle + [extra]:
        sock.close()
    backend = RpycBackend(client_config(service.port))  # retries while the slots free up
    assert backend.read_frame().shape == (224, 224, 3)
    backend.close()


def test_a_byte_dripping_client_is_dropped_at_the_total_challenge_deadline(start_service,
                                                                           tmp_path):
    service = start_service(secret='correct horse', timeout_s=0.6)
    with socket.create_connection(('127.0.0.1', service.port)) as dripper:
        dripper.settimeout(SLACK_S)
        assert dripper.recv(100).startswith(b'DEVROBOT-CHALLENGE ')
        started = time.monotonic()
        dropped_after = None
        for _ in range(200):  # each byte well inside a per-byte timeout of 0.6 s
            try:
                dripper.sendall(b'a')
                if closed_by_peer(dripper, 0.15):
                    dropped_after = time.monotonic() - started
                    break
            except OSError:
                dropped_after = time.monotonic() - started
                break
    assert dropped_after is not None and 0.5 <= dropped_after <= 0.6 + SLACK_S
    secret = tmp_path / 'secret'
    secret.write_text('correct horse')
    backend = RpycBackend(client_config(service.port, secret_file=str(secret)))
    assert backend.read_frame().shape == (224, 224, 3)
    backend.close()


class FakeListener:
    """Raises the given errors from accept(), one per call, then a socket.timeout forever."""

    def __init__(self, *errors):
        self.errors = list(errors)

    def accept(self):
        if self.errors:
            raise self.errors.pop(0)
        raise socket.timeout()


def idle_server(listener, **options):
    server = HardenedServer(rpyc.Service, hostname='127.0.0.1', port=0, auto_register=False,
                            **options)
    server.listener.close()
    server.listener, server.active = listener, True
    return server


def test_running_out_of_descriptors_is_waited_out_but_a_broken_listener_is_raised():
    server = idle_server(FakeListener(OSError(errno.EMFILE, 'Too many open files'),
                                      OSError(errno.EBADF, 'Bad file descriptor')))
    with pytest.raises(ListenerDied, match='Bad file descriptor'):
        server.accept()
    assert server.accept_failures == 1
    with pytest.raises(ValueError, match='max_clients'):
        HardenedServer(rpyc.Service, hostname='127.0.0.1', port=0, max_clients=0)


def start_limited_service(tmp_path, port, secret_file, max_clients, nofile):
    """The robot service in a subprocess whose file descriptors are limited to `nofile`."""
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return subprocess.Popen(
        [sys.executable, '-m', 'devrobot_jetbot.robot_service', '--hardware', 'mock', '--bind',
         '127.0.0.1', '--port', str(port), '--secret-file', str(secret_file), '--max-clients',
         str(max_clients)], cwd=tmp_path, preexec_fn=limit, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize('max_clients', [8, 200])  # 200: past the descriptor limit
def test_a_flood_of_idle_sockets_under_a_low_descriptor_limit_does_not_kill_the_service(
        tmp_path, closed_port, max_clients):
    secret = tmp_path / 'secret'
    secret.write_text('correct horse')
    os.chmod(secret, 0o600)
    process = start_limited_service(tmp_path, closed_port, secret, max_clients, nofile=40)
    flood = []
    try:
        backend = RpycBackend(client_config(closed_port, secret_file=str(secret),
                                            reconnect_attempts=60))
        backend.connect()  # up: 60 attempts 0.1..5 s apart
        backend.close()
        for _ in range(120):
            flood.append(socket.create_connection(('127.0.0.1', closed_port), timeout=5))
        time.sleep(1.0)  # the flood sits there, idle
        assert process.poll() is None, process.stdout.read()
        for sock in flood:
            sock.close()
        backend = RpycBackend(client_config(closed_port, secret_file=str(secret),
                                            reconnect_attempts=20))
        backend.apply_motors(0.2, 0.2, 0.1)
        assert backend.read_frame().shape == (224, 224, 3)
        backend.close()
        assert process.poll() is None
    finally:
        for sock in flood:
            sock.close()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    expected = ('refused a connection' if max_clients == 8
                else 'cannot accept connections for now (Too many open files)')
    assert expected in output, output
