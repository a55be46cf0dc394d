"""The robot's motor watchdog: one client at a time, every speed with a deadline, stops retried.

Runs on the robot beside `robot_service.py` (Python 3.6 syntax, nothing from devrobot) and is
tested on the workstation under a fake clock. The watchdog owns the motor board:

- every speed comes with a deadline: the client's hold time, capped at `max_hold_s` (at most
  MAX_HOLD_LIMIT_S), or `max_hold_s` when the client sends none (the original client); a hold
  time of 0 or less stops the motors at once;
- a stop is kept pending until a zero write succeeds: `check()` (every `period_s` on the
  watchdog's thread) retries it, and the log says when it failed and when it worked again;
- one client drives the motors at a time: another one is refused (Refused, a PermissionError)
  unless it takes them over, and then the first one's next call is refused with
  'motors taken over'.
"""

import logging
import threading
import time

try:
    from devrobot_jetbot.onboard_hardware import clamp_unit
except ImportError:  # on the robot: the files side by side, no devrobot installed
    from onboard_hardware import clamp_unit

MAX_HOLD_LIMIT_S = 5.0  # the longest --max-hold-s: how long a silent original client may drive
MOTORS_BUSY = 'motors busy'  # error prefixes the devrobot client recognises
MOTORS_TAKEN_OVER = 'motors taken over'
_STOP_LOG_EVERY = 100  # a stop that keeps failing is logged on attempts 1, 100, 200, ...
_CLOSE_ATTEMPTS_S = 1.0  # how long shutting down keeps trying to stop the motors

log = logging.getLogger('devrobot_jetbot.motor_watchdog')


class Refused(PermissionError):
    """Another client drives the motors, or took them over: sent to the client as it is."""


class BoardFailed(RuntimeError):
    """The motor board failed a write: sent to the client as it is."""


class MotorWatchdog(object):
    """Owns the motors: one client at a time, every speed with a deadline, stops retried."""

    def __init__(self, motors, max_hold_s=1.0, period_s=0.01, clock=time.monotonic):
        self.max_hold_s = checked_max_hold(max_hold_s)
        if not 0.0 < period_s <= 0.1:
            raise ValueError('period_s must be in (0, 0.1], got %r' % (period_s,))
        self.motors = motors
        self.period_s = period_s
        self.clock = clock
        self.stops = []  # (time, reason) of every stop that reached the motors, newest last
        self._lock = threading.Lock()
        self._owner = None  # the client that drives the motors
        self._owner_id = None  # the id it claimed them with (None: by its first set_motors)
        self._owner_label = ''
        self._taken_over = {}  # former owner -> label of the client that took the motors over
        self._deadline = None  # when the applied speeds expire; None while stopped
        self._deadline_reason = ''
        self._expired = False  # the deadline stopped the owner's speeds before its next call
        self._pending_stop = None  # why the motors must stop, while no zero write succeeded
        self._pending_since = 0.0
        self._stop_failures = 0
        self._closed = threading.Event()
        self._thread = None

    def claim(self, owner, client_id=None, take_over=False, label='another client'):
        """Make `owner` the one client that drives the motors.

        Granted when nobody drives them, when `owner` already does, when the owner claimed them
        with the same `client_id` (that client reconnected), or with `take_over`: then the motors
        stop and the former owner's next call is refused. Otherwise Refused.
        """
        with self._lock:
            if self._owner is not None and self._owner is not owner:
                same_client = client_id is not None and client_id == self._owner_id
                if not (same_client or take_over):
                    raise Refused(self._busy_message())
                if not same_client:
                    log.warning('%s took the motors over from %s', label, self._owner_label)
                    if self._deadline is not None:
                        self._stop_locked('taken over by %s' % label)
                self._taken_over[self._owner] = label
            self._taken_over.pop(owner, None)
            if self._owner is not owner:
                self._expired = False
            self._owner, self._owner_id, self._owner_label = owner, client_id, label

    def set(self, owner, left, right, hold_s=None, label='another client'):
        """Apply speeds from `owner` for at most `hold_s` (or `max_hold_s`) seconds.

        `hold_s` of 0 or less (or not a number) stops the motors now. Returns True when the
        watchdog had stopped this owner's previous speeds because their time ran out before this
        call came: the command in progress did not run as planned, and (for a client that sends
        hold times) the motors stay stopped. Refused when another client drives the motors or
        took them over; BoardFailed when the motor board fails (a stop is then pending).
        """
        left, right = clamp_unit(left), clamp_unit(right)
        hold = hold_seconds(hold_s)
        with self._lock:
            if owner in self._taken_over:
                raise Refused('%s: %s took the motors over; this client may not drive them '
                              'any more' % (MOTORS_TAKEN_OVER, self._taken_over[owner]))
            if self._owner is None:
                self._owner, self._owner_id, self._owner_label = owner, None, label
            elif self._owner is not owner:
                raise Refused(self._busy_message())
            was_cut = self._expired
            self._expired = False
            if hold == 0.0 or (was_cut and hold is not None):
                # stop now; a devrobot client ends a cut command when told: no restart
                left = right = 0.0
            stopping = left == 0.0 and right == 0.0
            try:
                self.motors.set_speeds(left, right)
            except Exception as error:  # noqa: B902 - any board failure: stop, then say so
                log.error('motor write (%.3f, %.3f) failed: %s', left, right, describe(error))
                self._stop_locked('the client stopped them' if stopping
                                  else 'a motor write failed')
                raise BoardFailed('the motor board failed (%s); the watchdog is stopping the '
                                  'motors' % describe(error))
            if self._pending_stop is not None:
                if stopping:  # the zero write the pending stop waited for
                    self._stopped_locked()
                else:  # new speeds, with their own deadline, replace the stop
                    log.warning('the motor board answers again after %d failed stops; the '
                                'client set new speeds', self._stop_failures)
                    self._pending_stop, self._stop_failures = None, 0
            if stopping:
                self._deadline = None
            elif hold is not None:
                self._deadline = self.clock() + min(hold, self.max_hold_s)
                self._deadline_reason = "the command's time is up"
            else:
                self._deadline = self.clock() + self.max_hold_s
                self._deadline_reason = 'no command arrived within %.3f s' % self.max_hold_s
        return was_cut

    def release(self, owner):
        """`owner` went away: if it drove the motors, stop them now and free them."""
        with self._lock:
            self._taken_over.pop(owner, None)
            if owner is not self._owner:
                return
            if self._deadline is not None:
                self._stop_locked('the client went away')
            self._owner = self._owner_id = None
            self._expired = False

    def check(self):
        """Retry a pending stop, or stop the motors when their deadline has passed."""
        with self._lock:
            if self._pending_stop is not None:
                self._try_stop_locked()
            elif self._deadline is not None and self.clock() >= self._deadline:
                self._stop_locked(self._deadline_reason)
                self._expired = True

    @property
    def stop_pending(self):
        """True while a stop waits for a zero write that succeeds."""
        return self._pending_stop is not None

    def start(self):
        self._thread = threading.Thread(target=self._run, name='motor-watchdog')
        self._thread.daemon = True
        self._thread.start()

    def close(self):
        """Stop the watchdog thread and the motors (trying for about a second)."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._stop_locked('service shut down')
            for _ in range(int(_CLOSE_ATTEMPTS_S / self.period_s)):
                if self._pending_stop is None:
                    return
                time.sleep(self.period_s)
                self._try_stop_locked()
            log.error('could not stop the motors before shutting down: the board keeps failing')

    def _run(self):
        while not self._closed.wait(self.period_s):
            try:
                self.check()
            except Exception:  # noqa: B902 - a bug here must not end the watching
                log.exception('watchdog check failed; still watching')

    def _stop_locked(self, reason):
        """The motors must stop: write zero now; if that fails, `check` retries every period."""
        self._deadline = None
        if self._pending_stop is None:
            self._pending_stop = reason
            self._pending_since = self.clock()
            self._stop_failures = 0
        self._try_stop_locked()

    def _try_stop_locked(self):
        try:
            self.motors.set_speeds(0.0, 0.0)
        except Exception as error:  # noqa: B902 - I2C errors and whatever else the board raises
            self._stop_failures += 1
            if self._stop_failures == 1 or self._stop_failures % _STOP_LOG_EVERY == 0:
                log.error('could not stop the motors (%s): %s; retrying every %.0f ms '
                          '(attempt %d)', self._pending_stop, describe(error),
                          self.period_s * 1000, self._stop_failures)
            return
        self._stopped_locked()

    def _stopped_locked(self):
        """A zero write succeeded: the pending stop is done."""
        reason, failures = self._pending_stop, self._stop_failures
        self._pending_stop, self._stop_failures = None, 0
        self.stops.append((self.clock(), reason))
        if failures:
            log.warning('motors stopped: %s, after %d failed attempts over %.3f s', reason,
                        failures, self.clock() - self._pending_since)
        else:
            log.info('motors stopped: %s', reason)

    def _busy_message(self):
        return ('%s: %s drives the motors; stop it, or take them over explicitly (devrobot: '
                '--take-over)' % (MOTORS_BUSY, self._owner_label))


def checked_max_hold(value):
    """`value` as seconds in (0, MAX_HOLD_LIMIT_S]; ValueError for anything else (inf, nan)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float('nan')
    if not 0.0 < seconds <= MAX_HOLD_LIMIT_S:
        raise ValueError('--max-hold-s must be a number of seconds in (0, %g], got %r'
                         % (MAX_HOLD_LIMIT_S, value))
    return seconds


def hold_seconds(value):
    """A client's hold time: None when it sent none; 0.0 (stop now) for 0, negative or NaN."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return value if value > 0.0 else 0.0  # NaN compares False: stop


def describe(error):
    """An error as its OS message (or its text): no paths, no traceback."""
    return getattr(error, 'strerror', None) or str(error) or type(error).__name__
