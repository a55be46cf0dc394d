"""The robot service's network side: an RPyC server that stays up and bounds what a client costs.

Runs on the robot beside `robot_service.py` (Python 3.6 syntax, nothing from devrobot). What it
adds to rpyc's ThreadedServer:

- a connection cap (`max_clients`): connections beyond it are closed at once, so idle sockets
  cannot use up the service's threads or file descriptors;
- a serving loop that drops a client after a malformed request with one log line, at once
  (rpyc's own loop may wait for an answer to its goodbye for 30 s);
- an accept loop that survives a full descriptor table (EMFILE and friends: it waits and tries
  again) and raises ListenerDied when the listening socket itself fails, so the service exits
  with a non-zero status and systemd restarts it (rpyc's own loop ends quietly instead);
- a frame-size limit (`MAX_FRAME_BYTES`) checked on the frame header before the body is read,
  and again while decompressing, so a small compressed frame cannot inflate in memory;
- an HMAC challenge with one total deadline (`CHALLENGE_TIMEOUT_S`), however slowly the client
  sends its answer.
"""

import binascii
import errno
import hashlib
import hmac
import logging
import os
import socket
import time
import zlib

from rpyc.core import Channel, SocketStream
from rpyc.utils.authenticators import AuthenticationError
from rpyc.utils.server import ThreadedServer

CHALLENGE_TIMEOUT_S = 3.0  # total time a client has to answer the challenge
MAX_FRAME_BYTES = 64 * 1024  # a client's largest request, compressed and decompressed
DEFAULT_MAX_CLIENTS = 8
MAX_CLIENTS_LIMIT = 256
_BUSY_RETRY_S = 0.1  # how long accept waits when the process has no descriptor left
_REPORT_EVERY_S = 10.0  # refused or failed accepts are logged at most this often
# accept() errors that mean "not now" (no descriptors, a client that left), not a broken listener
_TRANSIENT_ACCEPT_ERRORS = frozenset(
    getattr(errno, name) for name in ('EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ECONNABORTED',
                                      'EPROTO', 'EPERM', 'EINTR', 'EAGAIN', 'ECONNRESET')
    if hasattr(errno, name))

log = logging.getLogger('devrobot_jetbot.robot_server')


class ListenerDied(Exception):
    """The listening socket failed for good: the service must exit non-zero and be restarted."""


class FrameTooLarge(EOFError):
    """A client sent a frame over the size limit; rpyc treats EOFError as a closed link."""


class BoundedChannel(Channel):
    """rpyc's Channel with a frame-size limit, checked before reading and while inflating."""

    max_frame_bytes = MAX_FRAME_BYTES

    def recv(self):
        header = self.stream.read(self.FRAME_HEADER.size)
        length, compressed = self.FRAME_HEADER.unpack(header)
        if length > self.max_frame_bytes:
            raise self._refuse('a frame of %d bytes' % length)
        data = self.stream.read(length + len(self.FLUSHER))[:-len(self.FLUSHER)]
        if compressed:
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(data, self.max_frame_bytes)
            except zlib.error:
                raise self._refuse('a corrupt compressed frame')
            if inflater.unconsumed_tail:
                raise self._refuse('a compressed frame that inflates past the limit')
        return data

    def _refuse(self, what):
        """Close the link at once (rpyc would otherwise wait for a reply to its goodbye)."""
        log.warning('dropped a client that sent %s (limit %d bytes)', what,
                    self.max_frame_bytes)
        self.close()
        return FrameTooLarge(what)


class HardenedServer(ThreadedServer):
    """A ThreadedServer with a connection cap, a resilient accept loop and bounded frames."""

    def __init__(self, service, max_clients=DEFAULT_MAX_CLIENTS, **kwargs):
        if not 1 <= max_clients <= MAX_CLIENTS_LIMIT:
            raise ValueError('max_clients must be in 1..%d, got %r' % (MAX_CLIENTS_LIMIT,
                                                                       max_clients))
        self.max_clients = max_clients
        self.refused = 0  # connections closed at once because max_clients were connected
        self.accept_failures = 0  # accept() calls that failed for want of resources
        self._last_report = {}
        ThreadedServer.__init__(self, service, **kwargs)

    def accept(self):
        """Accept one connection (or return when closed); ListenerDied if the listener broke."""
        while self.active:
            try:
                sock, address = self.listener.accept()
            except socket.timeout:
                continue
            except OSError as error:
                if not self.active:  # closed by another thread
                    return
                if error.errno in _TRANSIENT_ACCEPT_ERRORS:
                    self.accept_failures += 1
                    self._report('accept', 'cannot accept connections for now (%s); %d failures '
                                 'so far, retrying', describe(error), self.accept_failures)
                    time.sleep(_BUSY_RETRY_S)
                    continue
                raise ListenerDied('the listening socket failed: %s' % describe(error))
            break
        else:
            return
        if len(self.clients) >= self.max_clients:
            self.refused += 1
            close_quietly(sock)
            self._report('refused', 'refused a connection from %s: %d clients are connected '
                         '(--max-clients); %d refused so far', address[0], self.max_clients,
                         self.refused)
            return
        sock.setblocking(True)
        self.clients.add(sock)
        try:
            self._accept_method(sock)
        except Exception as error:  # noqa: B902 - e.g. no thread left: drop this one, stay up
            self.clients.discard(sock)
            close_quietly(sock)
            self._report('spawn', 'could not serve a connection: %s', describe(error))

    def _serve_client(self, sock, credentials):
        address = sock.getpeername()
        config = dict(self.protocol_config, credentials=credentials,
                      endpoints=(sock.getsockname(), address), logger=self.logger)
        conn = self.service._connect(BoundedChannel(SocketStream(sock)), config)
        try:
            while not conn.closed:
                conn.serve(None)
        except EOFError:  # the client left (or sent a frame over the limit)
            pass
        except Exception as error:  # noqa: B902 - a malformed request: one log line, not a trace
            log.warning('dropped client %s:%s after a protocol error (%s: %s); is its rpyc of '
                        'the same major version?', address[0], address[1],
                        type(error).__name__, describe(error))
        finally:
            # the socket first: rpyc's goodbye would wait for an answer, up to its timeout
            conn._channel.close()
            conn.close()

    def _report(self, kind, message, *args):
        """Log a warning at most once per `_REPORT_EVERY_S` for each kind: a flood is one line."""
        now = time.monotonic()
        last = self._last_report.get(kind)
        if last is None or now - last >= _REPORT_EVERY_S:
            self._last_report[kind] = now
            log.warning(message, *args)


def challenge_authenticator(secret, timeout_s=CHALLENGE_TIMEOUT_S, clock=time.monotonic):
    """Require an HMAC-SHA256 of a fresh random challenge, all within `timeout_s` in total."""
    key = secret.encode('utf-8')

    def authenticate(sock):
        deadline = clock() + timeout_s
        challenge = binascii.hexlify(os.urandom(16)).decode('ascii')
        try:
            sock.settimeout(timeout_s)
            sock.sendall(('DEVROBOT-CHALLENGE %s\n' % challenge).encode('ascii'))
            answer = read_line(sock, deadline, clock=clock)
        except OSError:  # socket.timeout included: the deadline passed
            log.warning('dropped a client that gave no answer to the challenge within %.1f s',
                        timeout_s)
            raise AuthenticationError('no answer to the challenge')
        finally:
            try:
                sock.settimeout(None)
            except OSError:
                pass
        expected = hmac.new(key, challenge.encode('ascii'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(answer.encode('ascii', 'replace'), expected.encode('ascii')):
            log.warning('rejected a client with a wrong or missing secret')
            raise AuthenticationError('wrong secret')
        return sock, None

    return authenticate


def read_line(sock, deadline, limit=200, clock=time.monotonic):
    """One newline-terminated ASCII line, read before `deadline`, without reading past it."""
    data = b''
    while not data.endswith(b'\n'):
        remaining = deadline - clock()
        if remaining <= 0:
            raise socket.timeout('the challenge deadline passed')
        sock.settimeout(remaining)
        byte = sock.recv(1)
        if not byte or len(data) > limit:
            raise OSError('connection closed during the challenge')
        data += byte
    return data.decode('ascii', 'replace').strip()


def close_quietly(sock):
    try:
        sock.close()
    except OSError:
        pass


def describe(error):
    """An OSError as 'strerror' (or its text): no paths, no traceback."""
    return getattr(error, 'strerror', None) or str(error) or type(error).__name__
