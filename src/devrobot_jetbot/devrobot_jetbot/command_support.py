"""What `devrobot live-view` and `devrobot try-action` share: flags, the robot, output folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devrobot_core.config_fields import add_config_arguments, config_from_arguments
from devrobot_core.errors import UsageError

from devrobot_jetbot.jetbot_config import JetBotConfig
from devrobot_jetbot.jetbot_robot import JetBotRobot

# flags these commands do not need (the action space belongs to learning sessions)
_SKIPPED_FIELDS = ('action_space',)


def add_robot_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, JetBotConfig, skip=_SKIPPED_FIELDS)


def robot_from_arguments(args: argparse.Namespace, **kwargs) -> JetBotRobot:
    """The JetBot the flags describe; bad flags become a one-line UsageError."""
    try:
        config = config_from_arguments(JetBotConfig, args)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return JetBotRobot(config, **kwargs)


def report_unreachable(command_name: str, error: ConnectionError) -> int:
    """Print why the robot could not be reached, as one line; the exit status to return."""
    print(f'devrobot {command_name}: error: {error}', file=sys.stderr)
    return 1


def output_folder(path: str | None, must_not_hold: tuple = ()) -> Path:
    """Create `path` (and parents); refuse when it already holds any of `must_not_hold`."""
    if not path:
        raise UsageError('--out DIR is required')
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f'--out {folder} exists and is not a folder')
    clashes = [name for name in must_not_hold if (folder / name).exists()]
    if clashes:
        raise UsageError(f'{folder} already holds {", ".join(clashes)}; choose another --out '
                         f'(nothing was overwritten)')
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f'cannot create {folder}: {error.strerror}') from None
    return folder
