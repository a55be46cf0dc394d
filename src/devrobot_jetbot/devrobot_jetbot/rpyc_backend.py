"""The workstation side of the RPyC link: a client of the robot's service on port 18861.

Works with the original robot service (`get_camera_frame`, `set_motors(left, right)`) and with
the hardened one in `robot_service.py`, to which it also sends each speed's hold time so the
robot stops by itself if the link goes quiet. A failed call drops the link (LinkLostError); the
next call reconnects with exponential backoff, and when every attempt fails the backend raises
RobotUnreachableError with a message that says what to check.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from pathlib import Path
from typing import Callable

import rpyc

from devrobot_core.errors import UsageError

from devrobot_jetbot.backend import LinkLostError, RobotUnreachableError, WatchdogStoppedError
from devrobot_jetbot.image_codec import decode_jpeg_base64
from devrobot_jetbot.jetbot_config import JetBotConfig

HARDENED_SERVICE_NAME = 'DEVROBOT_JETBOT'  # robot_service.SERVICE_NAME
MAX_BACKOFF_S = 5.0
LINK_ERRORS = (EOFError, OSError)  # OSError covers refused, reset, timeouts (TimeoutError)


class AuthenticationFailed(ConnectionError):
    """The robot refused our answer to its challenge, or asked for none."""


def read_secret(path: str) -> str | None:
    """The shared secret from `path`, or None when no file is configured."""
    if not path:
        return None
    try:
        secret = Path(path).read_text().strip()
    except OSError as error:
        raise UsageError(f'cannot read the secret file {path}: {error.strerror}') from None
    if not secret:
        raise UsageError(f'the secret file {path} is empty')
    return secret


def answer_challenge(sock, secret: str, timeout_s: float) -> None:
    """Prove we know the secret: HMAC-SHA256 of the robot's challenge line."""
    sock.settimeout(timeout_s)
    line = b''
    try:
        while not line.endswith(b'\n'):
            byte = sock.recv(1)
            if not byte or len(line) > 200:
                raise AuthenticationFailed('the robot closed the connection during the '
                                           'challenge')
            line += byte
    except TimeoutError:
        raise AuthenticationFailed('the robot sent no challenge: it runs without a secret, '
                                   'so leave --secret-file unset') from None
    words = line.decode('ascii', 'replace').split()
    if len(words) != 2 or words[0] != 'DEVROBOT-CHALLENGE':
        raise AuthenticationFailed(f'unexpected challenge from the robot: {line[:60]!r}')
    digest = hmac.new(secret.encode('utf-8'), words[1].encode('ascii'), hashlib.sha256)
    sock.sendall((digest.hexdigest() + '\n').encode('ascii'))
    sock.settimeout(None)


class RpycBackend:
    """JetBot camera and motors over RPyC; thread-safe (one call on the link at a time)."""

    def __init__(self, config: JetBotConfig, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        if not config.host:
            raise UsageError("the rpyc backend needs the JetBot's address: --host IP "
                             '(host:=IP with ros2 launch)')
        self.config = config
        self.secret = read_secret(config.secret_file)
        self.sleep = sleep
        self.monotonic = monotonic
        self.address = f'{config.host}:{config.port}'
        self.hardened = False  # True when the robot runs robot_service.py (knows hold_s)
        self.connections_opened = 0
        self._conn = None
        self._lock = threading.RLock()

    def connect(self) -> None:
        with self._lock:
            if self._conn is None:
                self._reconnect()

    def read_frame(self):
        return decode_jpeg_base64(self._call('get_camera_frame'))

    def apply_motors(self, left: float, right: float, hold_s: float) -> None:
        if self.hardened:
            if self._call('set_motors', float(left), float(right), float(hold_s)) is True:
                raise WatchdogStoppedError(
                    "the robot's watchdog stopped the motors before this call reached it: the "
                    'link is slower than lease_grace_s allows')
        else:
            self._call('set_motors', float(left), float(right))

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.root.set_motors(0.0, 0.0)
            except Exception:  # noqa: B902 - closing the link stops the motors on our service
                pass
            self._drop()

    def _call(self, name: str, *args):
        with self._lock:
            if self._conn is None:
                self._reconnect()
            try:
                return getattr(self._conn.root, name)(*args)
            except LINK_ERRORS as error:
                self._drop()
                raise LinkLostError(f'link to the JetBot at {self.address} lost during '
                                    f'{name}: {error or type(error).__name__}') from error

    def _reconnect(self) -> None:
        """Open the link, retrying with exponential backoff; RobotUnreachableError at the end."""
        attempts = self.config.reconnect_attempts
        delay_s = self.config.reconnect_backoff_s
        started = self.monotonic()
        last_error = None
        for attempt in range(1, attempts + 1):
            try:
                self._conn = self._open()
                self.connections_opened += 1
                return
            except AuthenticationFailed as error:
                raise RobotUnreachableError(
                    f'the JetBot at {self.address} refused the connection: {error}') from None
            except LINK_ERRORS as error:
                last_error = error
            if attempt < attempts:
                self.sleep(delay_s)
                delay_s = min(max(delay_s * 2, 0.0), MAX_BACKOFF_S)
        elapsed_s = self.monotonic() - started
        raise RobotUnreachableError(
            f'the JetBot at {self.address} is unreachable: {attempts} connection attempts over '
            f'{elapsed_s:.1f} s failed (last error: {last_error or "none"}). Check that the '
            f'robot is on and charged, on the same network as this computer, and running '
            f'robot_service.py on port {self.config.port}.')

    def _open(self):
        stream = rpyc.SocketStream.connect(self.config.host, self.config.port,
                                           timeout=self.config.connect_timeout_s, attempts=1,
                                           nodelay=True)
        try:
            if self.secret is not None:
                answer_challenge(stream.sock, self.secret, self.config.connect_timeout_s)
            conn = rpyc.connect_stream(stream, config={
                'sync_request_timeout': self.config.call_timeout_s,
                'allow_public_attrs': False, 'allow_pickle': False})
        except BaseException:
            stream.close()
            raise
        try:
            self.hardened = conn.root.get_service_name() == HARDENED_SERVICE_NAME
        except EOFError:
            conn.close()
            if self.secret is not None:  # our service closes at once on a wrong answer
                raise AuthenticationFailed('it closed the link after our answer to its '
                                           'challenge: is the secret the same on both sides?')
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: B902 - the link is already broken
                pass
