"""`devrobot jetbot-secret`: create the robot service's shared secret and install it on both sides.

    devrobot jetbot-secret --host 192.168.1.42
    devrobot jetbot-secret --host 192.168.1.42 --print-only

Writes a new random secret to `--secret-file` on this computer (mode 0600), or keeps the secret
already there, then copies it over ssh into `--robot-secret-file` in the robot user's home
(mode 0600): the file names both sides read by default, so `robot_service.py` and `devrobot`
commands find it without flags. The secret travels on ssh's standard input, never on a command
line. `--print-only` prints the ssh command instead of running it (the local file is still
written). To change the secret, delete the local file and run the command again.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

from devrobot_core.errors import UsageError

from devrobot_jetbot.rpyc_backend import read_secret

DEFAULT_SECRET_FILE = '~/.devrobot_secret'  # JetBotConfig.secret_file's default
ROBOT_SECRET_FILE = '.devrobot_secret'  # robot_service.DEFAULT_SECRET_FILE, in the robot's home
# ssh would take a leading '-' as an option: host and user names must not start with one
_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.:-]*$')
_ROBOT_PATH = re.compile(r'^[A-Za-z0-9_.][A-Za-z0-9_./-]*$')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--host', required=True, help="the JetBot's IP address or host name")
    parser.add_argument('--user', default='jetbot', help='ssh user on the robot (jetbot)')
    parser.add_argument('--secret-file', default=DEFAULT_SECRET_FILE,
                        help=f'the secret on this computer (default {DEFAULT_SECRET_FILE})')
    parser.add_argument('--robot-secret-file', default=ROBOT_SECRET_FILE,
                        help="the secret on the robot, relative to the user's home (default "
                        f'{ROBOT_SECRET_FILE}, where robot_service.py looks)')
    parser.add_argument('--print-only', action='store_true',
                        help='print the ssh command that installs the secret instead of '
                        'running it')


def ssh_command(args: argparse.Namespace) -> list:
    """The ssh call that writes its standard input to the robot's secret file, mode 0600."""
    target = shlex.quote(args.robot_secret_file)
    remote = (f'umask 077 && cat > {target}.new && chmod 600 {target}.new && '
              f'mv {target}.new {target}')
    return ['ssh', f'{args.user}@{args.host}', remote]


def local_secret(path: Path) -> tuple:
    """(secret, what happened): the one in `path`, or a new one written there with mode 0600."""
    if path.exists():
        secret = read_secret(str(path))
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
            return secret, f'kept the secret in {path} (its mode is now 0600)'
        return secret, f'kept the secret in {path}'
    secret = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, 'w') as handle:
            handle.write(secret + '\n')
    except OSError as error:
        raise UsageError(f'cannot write the secret file {path}: {error.strerror}') from None
    return secret, f'wrote a new secret to {path} (mode 0600)'


def run_ssh(argv: list, secret: str) -> int:
    """Run ssh with the secret on its standard input; its exit status."""
    return subprocess.run(argv, input=secret + '\n', text=True).returncode


def main(args: argparse.Namespace, ssh=run_ssh) -> int:
    for flag, value in (('--host', args.host), ('--user', args.user)):
        if not _NAME.match(value or ''):
            raise UsageError(f'{flag} {value!r} is not a host or user name')
    if not _ROBOT_PATH.match(args.robot_secret_file) or '..' in args.robot_secret_file:
        raise UsageError(f'--robot-secret-file {args.robot_secret_file!r} must be a plain path '
                         "inside the robot user's home")
    path = Path(args.secret_file).expanduser()
    secret, done = local_secret(path)
    print(f'jetbot-secret: {done}', file=sys.stderr)
    command = ssh_command(args)
    shown = f'{shlex.join(command)} < {shlex.quote(str(path))}'
    if args.print_only:
        print(shown)
        return 0
    try:
        status = ssh(command, secret)
    except OSError as error:
        status, why = None, f'cannot run ssh: {error.strerror}'
    else:
        why = f'ssh exited with status {status}'
    if status != 0:
        print(f'jetbot-secret: error: {why}; nothing changed on the robot. Check that '
              f'`ssh {args.user}@{args.host}` works, then run this again, or install the secret '
              f'by hand: {shown}', file=sys.stderr)
        return 1
    print(f'jetbot-secret: installed it on {args.user}@{args.host} as '
          f'~/{args.robot_secret_file}. Restart robot_service.py there; devrobot commands here '
          f'read {path}.', file=sys.stderr)
    return 0
