"""The workstation side of the RPyC link: a client of the robot's service on port 18861.

Works with the original robot service (`get_camera_frame`, `set_motors(left, right)`) and with
the hardened one in `robot_service.py`, to which it also sends each speed's hold time so the
robot stops by itself if the link goes quiet. Before its first motor call on a connection to the
hardened service it claims the motors under an id of its own, so a reconnection after a lost
link gets them back; another client's motors are taken over only with `take_over`. A refusal
(another client drives them, or took them over) raises MotorsUnavailableError, a motor board
failure RobotFaultError: both end the session. A failed call drops the link (LinkLostError); the
next call reconnects with exponential backoff, and when every attempt fails the backend raises
RobotUnreachableError with a message that says what to check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import rpyc

from devrobot_core.errors import UsageError

from devrobot_jetbot.backend import (LinkLostError, MotorsUnavailableError, RobotFaultError,
                                     RobotUnreachableError, WatchdogStoppedError)
from devrobot_jetbot.image_codec import decode_jpeg_base64
from devrobot_jetbot.jetbot_config import JetBotConfig

HARDENED_SERVICE_NAME = 'DEVROBOT_JETBOT'  # robot_service.SERVICE_NAME
# how the robot's refusals start: motor_watchdog.MOTORS_BUSY and MOTORS_TAKEN_OVER
REFUSALS = ('motors busy', 'motors taken over')
MAX_BACKOFF_S = 5.0
CHALLENGE_PEEK_S = 0.3  # how long a client without a secret waits to see if one is asked for
LINK_ERRORS = (EOFError, OSError)  # OSError covers refused, reset, timeouts (TimeoutError)


class AuthenticationFailed(ConnectionError):
    """The robot refused our answer to its challenge, or asked for none."""


def read_secret(path: str) -> str | None:
    """The shared secret from `path` (`~` expanded), or None when no file is configured."""
    if not path:
        return None
    full = Path(path).expanduser()
    try:
        secret = full.read_text().strip()
    except FileNotFoundError:
        raise UsageError(f'the secret file {full} does not exist: `devrobot jetbot-secret --host '
                         f"IP` creates it here and on the robot (--jetbot.secret-file '' for a "
                         f'robot service started with --insecure)') from None
    except OSError as error:
        raise UsageError(f'cannot read the secret file {full}: {error.strerror}') from None
    except UnicodeDecodeError:
        raise UsageError(f'the secret file {full} is not text') from None
    if not secret:
        raise UsageError(f'the secret file {full} is empty')
    return secret


def answer_challenge(sock, secret: str, timeout_s: float) -> None:
    """Prove we know the secret: HMAC-SHA256 of the robot's challenge line."""
    sock.settimeout(timeout_s)
    line = b''
    try:
        while not line.endswith(b'\n'):
            byte = sock.recv(1)
            if not byte:  # a link error, retried: the robot may be at its connection cap
                raise ConnectionResetError('the robot closed the connection before its '
                                           'challenge (too many clients connected?)')
            if len(line) > 200:
                raise AuthenticationFailed('the robot sent an overlong challenge line')
            line += byte
    except TimeoutError:
        raise AuthenticationFailed("the robot sent no challenge: it runs with --insecure, so "
                                   "pass --jetbot.secret-file ''") from None
    words = line.decode('ascii', 'replace').split()
    if len(words) != 2 or words[0] != 'DEVROBOT-CHALLENGE':
        raise AuthenticationFailed(f'unexpected challenge from the robot: {line[:60]!r}')
    digest = hmac.new(secret.encode('utf-8'), words[1].encode('ascii'), hashlib.sha256)
    sock.sendall((digest.hexdigest() + '\n').encode('ascii'))
    sock.settimeout(None)


def expect_no_challenge(sock, wait_s: float) -> None:
    """Without a secret: fail clearly if the robot asks for one (it does so at once)."""
    sock.settimeout(wait_s)
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return  # silence: a service started with --insecure waits for our first request
    finally:
        sock.settimeout(None)
    if not first:  # a link error, retried: the robot may be at its connection cap
        raise ConnectionResetError('the robot closed the connection at once (too many clients '
                                   'connected?)')
    raise AuthenticationFailed('it asks for a secret: set --jetbot.secret-file (devrobot '
                               'jetbot-secret makes one for both sides)')


class RpycBackend:
    """JetBot camera and motors over RPyC; thread-safe (one call on the link at a time)."""

    def __init__(self, config: JetBotConfig, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic):
        if not config.host:
            raise UsageError("the rpyc backend needs the JetBot's address: --jetbot.host IP "
                             '(host:=IP with ros2 launch)')
        self.config = config
        self.secret = read_secret(config.secret_file)
        self.sleep = sleep
        self.monotonic = monotonic
        self.address = f'{config.host}:{config.port}'
        self.hardened = False  # True when the robot runs robot_service.py (knows hold_s)
        self.connections_opened = 0
        # our id on the robot: it gives the motors back to us after a reconnection
        self.client_id = secrets.token_hex(8)
        self._conn = None
        self._drove = False  # this connection has sent motor speeds (and claimed the motors)
        self._lock = threading.RLock()

    def connect(self) -> None:
        with self._lock:
            if self._conn is None:
                self._reconnect()

    def read_frame(self):
        return decode_jpeg_base64(self._call('get_camera_frame'))

    def apply_motors(self, left: float, right: float, hold_s: float) -> None:
        with self._lock:
            if self._conn is None:
                self._reconnect()
            if self.hardened:
                if not self._drove:
                    self._claim_motors()
                cut = self._call('set_motors', float(left), float(right), float(hold_s))
            else:
                self._call('set_motors', float(left), float(right))
                cut = False
            self._drove = True
        if cut is True:
            raise WatchdogStoppedError(
                "the robot's watchdog stopped the motors before this call reached it: the "
                'link is slower than lease_grace_s allows')

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            if self._drove:
                try:
                    self._conn.root.set_motors(0.0, 0.0)
                except Exception:  # noqa: B902 - closing the link stops the motors on our service
                    pass
            self._drop()

    def _claim_motors(self) -> None:
        try:
            self._call('claim_motors', self.client_id, bool(self.config.take_over))
        except AttributeError:  # a robot_service.py from before motor ownership
            pass

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
            except RuntimeError as error:  # the robot's one-line report of a refusal or failure
                if name not in ('set_motors', 'claim_motors'):
                    raise
                text = remote_text(error)
                kind = (MotorsUnavailableError if text.startswith(REFUSALS)
                        else RobotFaultError)
                raise kind(f'the JetBot at {self.address}: {text}') from None

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
            else:
                expect_no_challenge(stream.sock, min(CHALLENGE_PEEK_S,
                                                     self.config.connect_timeout_s))
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
        except ValueError as error:  # rpyc could not parse the answer
            conn.close()
            raise AuthenticationFailed(
                f'its answer was not understood ({error}): is its rpyc of the same major version '
                f'as this computer\'s ({rpyc.__version__})?') from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._drove = False
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: B902 - the link is already broken
                pass


def remote_text(error: BaseException) -> str:
    """The message of an error the robot sent, without rpyc's remote-traceback trailer."""
    return str(error.args[0]) if error.args else type(error).__name__
