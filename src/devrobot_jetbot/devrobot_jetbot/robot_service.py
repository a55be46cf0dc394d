"""The robot-side RPyC service, hardened: run this ON the JetBot.

    python3 robot_service.py                  # reads the shared secret from ~/.devrobot_secret

It exposes the two calls of the original service, so the original client works too, and one
more for the devrobot client:

    get_camera_frame() -> str         base64 of one JPEG camera frame
    set_motors(left, right[, hold_s])  speeds in [-1, 1]; hold_s: how long they may stay on
                                       (0 or less: stop now); returns True if the watchdog had
                                       stopped them meanwhile
    claim_motors(client_id, take_over) become the one client that drives the motors

Its watchdog (`motor_watchdog.py`) stops the motors when a command's time (`hold_s`) is up, when
no command arrives within `--max-hold-s` (the original client sends no `hold_s`), and at once
when the client that drove the motors goes away; a stop whose write fails is retried every
watchdog period until a zero write succeeds. One client drives the motors at a time: another
one is refused unless it takes them over, and then the first one's next call is refused with
'motors taken over'. The server (`robot_server.py`) caps connections and frame sizes.

A client must answer an HMAC challenge with the shared secret (`--secret-file`, made by
`devrobot jetbot-secret` on the workstation) before it may call anything; `--insecure` lets
anyone on the network in. Errors reach clients as one line, without tracebacks.

Python 3.6 syntax only (JetPack 4.6); needs rpyc and, for the real hardware, OpenCV with
GStreamer and Adafruit_MotorHAT. Copy it to the robot with `motor_watchdog.py`,
`robot_server.py` and `onboard_hardware.py` beside it.
"""

import argparse
import base64
import logging
import os
import signal
import sys

try:
    from devrobot_jetbot.motor_watchdog import (BoardFailed, MAX_HOLD_LIMIT_S, MotorWatchdog,
                                                Refused, checked_max_hold)
    from devrobot_jetbot.onboard_hardware import CsiCamera, MockHardware, MotorBoard
    from devrobot_jetbot.robot_server import (DEFAULT_MAX_CLIENTS, MAX_CLIENTS_LIMIT,
                                              HardenedServer, ListenerDied,
                                              challenge_authenticator, describe)
except ImportError:  # on the robot: the files side by side, no devrobot installed
    from motor_watchdog import (BoardFailed, MAX_HOLD_LIMIT_S, MotorWatchdog, Refused,
                                checked_max_hold)
    from onboard_hardware import CsiCamera, MockHardware, MotorBoard
    from robot_server import (DEFAULT_MAX_CLIENTS, MAX_CLIENTS_LIMIT, HardenedServer,
                              ListenerDied, challenge_authenticator, describe)

import rpyc

SERVICE_NAME = 'DEVROBOT_JETBOT'  # lets the workstation client know it may send hold_s
DEFAULT_PORT = 18861
DEFAULT_SECRET_FILE = '~/.devrobot_secret'

log = logging.getLogger('devrobot_jetbot.robot_service')


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


def client_error(call, error):
    """What a client sees of a failure: one line; the details stay in the robot's log."""
    log.error('%s failed', call, exc_info=(type(error), error, error.__traceback__))
    return RuntimeError('%s failed on the robot (%s); see the service log there'
                        % (call, type(error).__name__))


def make_service_class(camera, watchdog):
    """The RPyC service class: RPyC makes one instance per connection, one per client."""

    class JetBotService(rpyc.Service):
        ALIASES = [SERVICE_NAME]

        def on_connect(self, conn):
            self._label = peer_label(conn)
            log.info('client %s connected', self._label)

        def on_disconnect(self, conn):
            log.info('client %s disconnected', self._label)
            watchdog.release(self)

        def exposed_get_camera_frame(self):
            try:
                return encode_jpeg_base64(camera.read_bgr())
            except Exception as error:  # noqa: B902 - no traceback to the client
                raise client_error('get_camera_frame', error) from None

        def exposed_set_motors(self, left, right, hold_s=None):
            # True: the watchdog had stopped this client's motors (the original ignores it)
            return guarded('set_motors', watchdog.set, self, left, right, hold_s, self._label)

        def exposed_claim_motors(self, client_id=None, take_over=False):
            client_id = client_id if type(client_id) is str and len(client_id) <= 64 else None
            guarded('claim_motors', watchdog.claim, self, client_id, take_over is True,
                    self._label)

    return JetBotService


def guarded(call, function, *args):
    """Run a watchdog call; its refusals reach the client as one-line RuntimeErrors.

    RuntimeError because rpyc rebuilds builtin exceptions on the client, and its rebuilt
    OSErrors (PermissionError among them) lose their message there.
    """
    try:
        return function(*args)
    except (Refused, BoardFailed) as error:
        raise RuntimeError(str(error)) from None
    except Exception as error:  # noqa: B902 - a bug: logged here, one line there
        raise client_error(call, error) from None


def peer_label(conn):
    try:
        host, port = conn._config['endpoints'][1][:2]
        return '%s:%s' % (host, port)
    except Exception:  # noqa: B902 - only a label for the log and for refusals
        return 'a client'


def make_server(camera, motors, bind='0.0.0.0', port=DEFAULT_PORT, secret=None,
                max_hold_s=1.0, max_clients=DEFAULT_MAX_CLIENTS, watchdog_period_s=0.01,
                **authenticator_options):
    """A ready (not yet started) server and its running watchdog."""
    watchdog = MotorWatchdog(motors, max_hold_s=max_hold_s, period_s=watchdog_period_s)
    authenticator = (challenge_authenticator(secret, **authenticator_options) if secret
                     else None)
    server = HardenedServer(make_service_class(camera, watchdog), max_clients=max_clients,
                            hostname=bind, port=port, authenticator=authenticator,
                            protocol_config={'allow_public_attrs': False,
                                             'allow_pickle': False,
                                             'include_local_traceback': False,
                                             'include_local_version': False},
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
    parser.add_argument('--secret-file', default=None,
                        help='file holding the shared secret clients must prove they know '
                        '(default: $DEVROBOT_SECRET_FILE or %s)' % DEFAULT_SECRET_FILE)
    parser.add_argument('--insecure', action='store_true',
                        help='no secret: anyone who reaches the port drives the motors')
    parser.add_argument('--max-hold-s', type=float, default=1.0,
                        help='longest time motors run without a new command (default 1.0, at '
                        'most %g)' % MAX_HOLD_LIMIT_S)
    parser.add_argument('--max-clients', type=int, default=DEFAULT_MAX_CLIENTS,
                        help='connections served at once; more are closed at once (default %d)'
                        % DEFAULT_MAX_CLIENTS)
    parser.add_argument('--hardware', choices=('jetbot', 'mock'), default='jetbot',
                        help='real camera and motor board, or an in-memory mock')
    parser.add_argument('--motor-board', choices=MotorBoard.BOARDS, default='adafruit')
    parser.add_argument('--i2c-bus', type=int, default=1)
    parser.add_argument('--camera-fps', type=int, default=21)
    return parser.parse_args(argv)


class StartError(Exception):
    """A bad option or secret file: one line, exit status 2."""


def check_arguments(args):
    """Raise StartError naming the first bad option; returns nothing."""
    if not 1 <= args.port <= 65535:
        raise StartError('--port must be in 1..65535, got %d' % args.port)
    try:
        checked_max_hold(args.max_hold_s)
    except ValueError as error:
        raise StartError(str(error))
    if not 1 <= args.max_clients <= MAX_CLIENTS_LIMIT:
        raise StartError('--max-clients must be in 1..%d, got %d' % (MAX_CLIENTS_LIMIT,
                                                                     args.max_clients))
    if args.insecure and args.secret_file:
        raise StartError('--insecure and --secret-file contradict each other: choose one')


def load_secret(path):
    """The secret in `path` (stripped); StartError with one line when it cannot be used."""
    full = os.path.expanduser(path)
    try:
        with open(full, 'rb') as handle:
            data = handle.read(4097)
    except FileNotFoundError:
        raise StartError('the secret file %s does not exist: run `devrobot jetbot-secret --host '
                         "<this robot's address>` on the workstation to create it on both "
                         'machines, or start with --insecure' % full)
    except OSError as error:
        raise StartError('cannot read the secret file %s: %s' % (full, describe(error)))
    try:
        secret = data.decode('utf-8').strip()
    except UnicodeDecodeError:
        raise StartError('the secret file %s is not text' % full)
    if not secret:
        raise StartError('the secret file %s is empty' % full)
    if len(data) > 4096:
        raise StartError('the secret file %s is over 4 KiB: is it the right file?' % full)
    if os.stat(full).st_mode & 0o077:
        log.warning('the secret file %s is readable by other users: chmod 600 %s', full, full)
    return secret


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    secret = None
    try:
        check_arguments(args)
        if not args.insecure:
            secret = load_secret(args.secret_file or os.environ.get('DEVROBOT_SECRET_FILE')
                                 or DEFAULT_SECRET_FILE)
    except StartError as error:
        print('robot_service: error: %s' % error, file=sys.stderr)
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
                                       args.max_hold_s, args.max_clients)
    except (ImportError, OSError, RuntimeError, ValueError) as error:
        print('robot_service: cannot start: %s' % describe(error), file=sys.stderr)
        motors.close()
        camera.close()
        return 1
    if secret is None:
        log.warning('running WITHOUT a secret (--insecure): anyone who reaches port %d drives '
                    'the motors', server.port)
    log.info('serving the JetBot on %s:%d (secret: %s, max hold %.2f s, at most %d clients)',
             args.bind, server.port, 'yes' if secret else 'no', args.max_hold_s,
             args.max_clients)
    # systemctl stop sends SIGTERM: stop the motors on that way out too, not only on Ctrl-C
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    status = 0
    try:
        server.start()
    except KeyboardInterrupt:
        pass
    except ListenerDied as error:
        log.error('%s; exiting with status 1 (systemd restarts the service)', error)
        status = 1
    finally:
        server.close()
        watchdog.close()
        motors.close()
        camera.close()
    return status


if __name__ == '__main__':
    sys.exit(main())
