"""Fixtures: a real robot service on loopback with in-memory hardware, and a cuttable link."""

import socket
import threading
import time

import pytest

from devrobot_core.testing.cuttable_link import CuttableLink
from devrobot_jetbot.onboard_hardware import MockHardware
from devrobot_jetbot.robot_service import make_server


class RunningService:
    """A started robot service; `hardware` records every motor call.

    Keyword arguments go to `make_server` (secret, max_hold_s, max_clients, timeout_s of the
    challenge); `camera` replaces the mock camera.
    """

    def __init__(self, camera=None, **options):
        self.hardware = MockHardware()
        self.server, self.watchdog = make_server(camera or self.hardware, self.hardware,
                                                 '127.0.0.1', 0, **options)
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
