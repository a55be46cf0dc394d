"""The robot-side RPyC service, hardened: run this ON the JetBot.

    python3 robot_service.py --bind 0.0.0.0 --port 18861

It exposes exactly the two calls of the original service, so the original client works too:

    get_camera_frame() -> str         base64 of one JPEG camera frame
    set_motors(left, right[, hold_s])  speeds in [-1, 1]; hold_s: how long they may stay on;
                                       returns True if the watchdog had stopped them meanwhile

and its own watchdog stops the motors when a command's time (`hold_s`) is up, when no command
arrives within `--max-hold-s` (the original client sends no `hold_s`), and at once when the
client that drove the motors goes away. With `--secret-file`, a client must answer an HMAC
challenge before it may call anything.

Python 3.6 syntax only (JetPack 4.6); needs rpyc and, for the real hardware, OpenCV with
GStreamer and Adafruit_MotorHAT. Copy it to the robot with `onboard_hardware.py` beside it.
"""

import argparse
import base64
import hashlib
import hmac
import logging
import os
import signal
import socket
import sys
import threading
import time

try:
    from devrobot_jetbot.onboard_hardware import CsiCamera, MockHardware, MotorBoard, clamp_unit
except ImportError:  # on the robot: the two files side by side, no devrobot installed
    from onboard_hardware import CsiCamera, MockHardware, MotorBoard, clamp_unit

import rpyc
from rpyc.utils.authenticators import AuthenticationError
from rpyc.utils.server import ThreadedServer

SERVICE_NAME = 'DEVROBOT_JETBOT'  # lets the workstation client know it may send hold_s
DEFAULT_PORT = 18861
CHALLENGE_TIMEOUT_S = 3.0

log = logging.getLogger('devrobot_jetbot.robot_service')


class MotorWatchdog(object):
    """Owns the motors: every speed comes with a deadline, after which the motors stop."""

    def __init__(self, motors, max_hold_s=1.0, period_s=0.01, clock=time.monotonic):
        if not max_hold_s > 0:
            raise ValueError('max_hold_s must be positive, got %r' % (max_hold_s,))
        self.motors = motors
        self.max_hold_s = float(max_hold_s)
        self.period_s = period_s
        self.clock = clock
        self.stops = []  # (time, reason) of every stop the watchdog made, newest last
        self._lock = threading.Lock()
        self._owner = None  # the client that set the speeds now applied
        self._deadline = None  # when the applied speeds expire; None while stopped
        self._deadline_reason = ''
        self._expired = False  # the deadline stopped the owner's speeds before its next call
        self._closed = threading.Event()
        self._thread = None

    def set(self, owner, left, right, hold_s=None):
        """Apply speeds from `owner` for at most `hold_s` (or `max_hold_s`) seconds.

        Returns True when the watchdog had stopped this owner's previous speeds because their
        time ran out before this call came: the command in progress did not run as planned,
        and (for a client that sends hold times) the motors stay stopped.
        """
        left, right = clamp_unit(left), clamp_unit(right)
        limited = positive_seconds(hold_s)
        with self._lock:
            was_cut = self._expired and owner is self._owner
            self._expired = False
            if was_cut and limited is not None:
                # a devrobot client ends the command when told: no restart for a few ms
                left = right = 0.0
            self.motors.set_speeds(left, right)
            self._owner = owner
            if left == 0.0 and right == 0.0:
                self._deadline = None
            elif limited is not None:
                self._deadline = self.clock() + min(limited, self.max_hold_s)
                self._deadline_reason = "the command's time is up"
            else:
                self._deadline = self.clock() + self.max_hold_s
                self._deadline_reason = 'no command arrived within %.3f s' % self.max_hold_s
        return was_cut

    def release(self, owner):
        """`owner` went away: if it drove the motors, stop them now."""
        with self._lock:
            if owner is self._owner and self._deadline is not None:
                self._stop_locked('the client went away')
            if owner is self._owner:
                self._owner = None

    def check(self):
        with self._lock:
            if self._deadline is not None and self.clock() >= self._deadline:
                self._stop_locked(self._deadline_reason)
                self._expired = True

    def start(self):
        self._thread = threading.Thread(target=self._run, name='motor-watchdog')
        self._thread.daemon = True
        self._thread.start()

    def close(self):
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._stop_locked('service shut down')

    def _run(self):
        while not self._closed.wait(self.period_s):
            try:
                self.check()
            except Exception:  # noqa: B902 - keep watching; a failing stop is retried
                log.exception('watchdog could not stop the motors; retrying')

    def _stop_locked(self, reason):
        self._deadline = None
        self.stops.append((self.clock(), reason))
        self.motors.set_speeds(0.0, 0.0)
        log.info('motors stopped: %s', reason)


def positive_seconds(value):
    """`value` as a positive finite float, or None (absent, malformed, zero or negative)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if 0.0 < value < float('inf') else None


def encode_jpeg_base64(frame_bgr, quality=90):
    """JPEG of a BGR frame, base64 text (what the original service returned)."""
    try:
        import cv2
        ok, buffer = cv2.imencode('.jpg', frame_bgr, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if not ok:
            raise RuntimeError('JPEG encoding failed')
        data = buffer.tobytes()
    except ImportError:  # a workstation without OpenCV (tests, the mock): Pillow does it
        import io
        from PIL import Image
        stream = io.BytesIO()
        Image.fromarray(frame_bgr[:, :, ::-1]).save(stream, format='JPEG', quality=quality)
        data = stream.getvalue()
    return base64.b64encode(data).decode('ascii')


def make_service_class(camera, watchdog):
    """The RPyC service class: RPyC makes one instance per connection, one per client."""

    class JetBotService(rpyc.Service):
        ALIASES = [SERVICE_NAME]

        def on_connect(self, conn):
            log.info('client connected')

        def on_disconnect(self, conn):
            log.info('client disconnected')
            watchdog.release(self)

        def exposed_get_camera_frame(self):
            return encode_jpeg_base64(camera.read_bgr())

        def exposed_set_motors(self, left, right, hold_s=None):
            # True: the watchdog had stopped this client's motors (the original ignores it)
            return watchdog.set(self, left, right, hold_s)

    return JetBotService


def challenge_authenticator(secret):
    """Require an HMAC-SHA256 of a fresh random challenge under the shared secret."""
    key = secret.encode('utf-8')

    def authenticate(sock):
        challenge = os.urandom(16).hex()
        try:
            sock.settimeout(CHALLENGE_TIMEOUT_S)
            sock.sendall(('DEVROBOT-CHALLENGE %s\n' % challenge).encode('ascii'))
            answer = read_line(sock)
        except (OSError, socket.timeout):
            raise AuthenticationError('no answer to the challenge')
        finally:
            sock.settimeout(None)
        expected = hmac.new(key, challenge.encode('ascii'), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(answer.encode('ascii', 'replace'), expected.encode('ascii')):
            log.warning('rejected a client with a wrong or missing secret')
            raise AuthenticationError('wrong secret')
        return sock, None

    return authenticate


def read_line(sock, limit=200):
    """One newline-terminated ASCII line from a socket, without reading past it."""
    data = b''
    while not data.endswith(b'\n'):
        byte = sock.recv(1)
        if not byte or len(data) > limit:
            raise OSError('connection closed during the challenge')
        data += byte
    return data.decode('ascii', 'replace').strip()


def make_server(camera, motors, bind='0.0.0.0', port=DEFAULT_PORT, secret=None,
                max_hold_s=1.0):
    """A ready (not yet started) server and its running watchdog."""
    watchdog = MotorWatchdog(motors, max_hold_s=max_hold_s)
    server = ThreadedServer(make_service_class(camera, watchdog), hostname=bind, port=port,
                            authenticator=challenge_authenticator(secret) if secret else None,
                            protocol_config={'allow_public_attrs': False,
                                             'allow_pickle': False},
                            auto_register=False)
    watchdog.start()
    return server, watchdog


def raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt()


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--bind', default='0.0.0.0',
                        help='address to listen on (default: all; 127.0.0.1 for local only)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT, help='TCP port (18861)')
    parser.add_argument('--secret-file', default=os.environ.get('DEVROBOT_SECRET_FILE'),
                        help='file holding a shared secret clients must prove they know')
    parser.add_argument('--max-hold-s', type=float, default=1.0,
                        help='longest time motors run without a new command (default 1.0)')
    parser.add_argument('--hardware', choices=('jetbot', 'mock'), default='jetbot',
                        help='real camera and motor board, or an in-memory mock')
    parser.add_argument('--motor-board', choices=MotorBoard.BOARDS, default='adafruit')
    parser.add_argument('--i2c-bus', type=int, default=1)
    parser.add_argument('--camera-fps', type=int, default=21)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    secret = None
    if args.secret_file:
        with open(args.secret_file) as handle:
            secret = handle.read().strip()
        if not secret:
            print('robot_service: the secret file %s is empty' % args.secret_file,
                  file=sys.stderr)
            return 2
    if not args.max_hold_s > 0:
        print('robot_service: --max-hold-s must be positive', file=sys.stderr)
        return 2
    if args.hardware == 'mock':
        camera = motors = MockHardware()
    else:
        camera, motors = CsiCamera(fps=args.camera_fps), MotorBoard(args.motor_board,
                                                                    args.i2c_bus)
    try:
        motors.open()
        camera.open()
        server, watchdog = make_server(camera, motors, args.bind, args.port, secret,
                                       args.max_hold_s)
    except (ImportError, OSError, RuntimeError) as error:
        print('robot_service: cannot start: %s' % error, file=sys.stderr)
        motors.close()
        camera.close()
        return 1
    log.info('serving the JetBot on %s:%d (secret: %s, max hold %.2f s)', args.bind,
             server.port, 'yes' if secret else 'no', args.max_hold_s)
    # systemctl stop sends SIGTERM: stop the motors on that way out too, not only on Ctrl-C
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    try:
        server.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        watchdog.close()
        motors.close()
        camera.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
