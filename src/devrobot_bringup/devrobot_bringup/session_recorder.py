"""Run a recorder that stops a moment after the nodes it records.

    python3 -m devrobot_bringup.session_recorder --grace-s 2 -- ros2 bag record ...

At a Ctrl-C every process of a launch is signalled at once (by the terminal, by `docker stop`
through tini, or by launch itself when it runs without a terminal). The nodes then publish
what ends the session (a driver's STOPPED state for a command cut short) within a fraction of a
second, and `ros2 bag record`, stopped at the same instant, would miss it. So the recorder runs
in its own session, which no group signal reaches, and this process passes a SIGINT or SIGTERM
on to it `grace_s` later. Signals during the grace change nothing: a launch without a terminal
forwards the same Ctrl-C a few milliseconds after the terminal's own. The recorder closes its
bag on SIGINT; its exit status is this process's.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

POLL_S = 0.05


def run(cmd: list, grace_s: float, clock=time.monotonic, sleep=time.sleep) -> int:
    """Start `cmd` in its own session; end it `grace_s` after the first SIGINT or SIGTERM."""
    signals_seen = []

    def on_signal(signum, frame):
        signals_seen.append(signum)

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        child = subprocess.Popen(cmd, start_new_session=True)
        while child.poll() is None and not signals_seen:
            sleep(POLL_S)
        if child.poll() is None:
            deadline = clock() + grace_s
            while child.poll() is None and clock() < deadline:
                sleep(POLL_S)
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='session_recorder', description=__doc__.split('\n')[0])
    parser.add_argument('--grace-s', type=float, default=2.0,
                        help='Seconds between the first SIGINT or SIGTERM and the recorder\'s.')
    parser.add_argument('cmd', nargs=argparse.REMAINDER, help='-- the recorder command')
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ['--'] else args.cmd
    if not cmd:
        parser.error('no recorder command given (after --)')
    if not args.grace_s >= 0:
        parser.error(f'--grace-s must be >= 0, got {args.grace_s}')
    return run(cmd, args.grace_s)


if __name__ == '__main__':
    sys.exit(main())
