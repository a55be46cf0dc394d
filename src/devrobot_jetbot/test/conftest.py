"""Fixtures: a real robot service on loopback with in-memory hardware, and a cuttable link."""

import socket
import threading
import time

import pytest

from devrobot_jetbot.onboard_hardware import MockHardware
from devrobot_jetbot.robot_service import make_server


class RunningService:
    """A started robot service; `hardware` records every motor call."""

    def __init__(self, secret=None, max_hold_s=1.0):
        self.hardware = MockHardware()
        self.server, self.watchdog = make_server(self.hardware, self.hardware, '127.0.0.1', 0,
                                                 secret=secret, max_hold_s=max_hold_s)
        self.port = self.server.port
        self.thread = threading.Thread(target=self.server.start, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10.0
        while not self.server.active and time.monotonic() < deadline:  # listening yet?
            time.sleep(0.001)

    def close(self):
        self.server.close()
        self.watchdog.close()
        self.thread.join(timeout=5)


@pytest.fixture
def start_service():
    started = []

    def start(**kwargs):
        service = RunningService(**kwargs)
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


class CuttableLink:
    """A TCP forwarder between client and service that can go silent or drop connections.

    `go_silent()` mimics a link lost in the field (WiFi gone, battery flat): no data passes,
    no socket closes, and new connections are refused.
    """

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.silent = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def go_silent(self):
        self.silent.set()
        self.listener.close()

    def drop_connections(self):
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.sockets.clear()

    def close(self):
        self.go_silent()
        self.drop_connections()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(('127.0.0.1', self.target_port))
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.silent.is_set():
                try:
                    sink.sendall(data)
                except OSError:
                    return


@pytest.fixture
def cuttable_link():
    made = []

    def make(target_port):
        link = CuttableLink(target_port)
        made.append(link)
        return link

    yield make
    for link in made:
        link.close()


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
