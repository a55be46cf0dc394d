"""`devrobot try-action`: execute one motor command; save the frames before and after it.

    devrobot try-action --host 192.168.1.42 --left 0 --right 0.12 --duration 0.2 --out try1/

Writes before.png, after.png, difference.png (|after - before|, brightened) and outcome.json,
and prints how the command ended and how much of the picture changed. This is the original
system's action-testing notebook as one command.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from devrobot_core.errors import UsageError
from devrobot_core.motor import MotorCommand, MotorStatus

from devrobot_jetbot.backend import RobotUnreachableError
from devrobot_jetbot.command_support import (add_robot_arguments, output_folder,
                                             report_unreachable, robot_from_arguments)
from devrobot_jetbot.image_codec import save_rgb

OUTPUT_FILES = ('before.png', 'after.png', 'difference.png', 'outcome.json')
CHANGED_LEVEL = 25  # a pixel "changed" when a channel moved by more than this (of 255)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--left', type=float, default=0.0, help='left motor speed [-1, 1]')
    parser.add_argument('--right', type=float, default=0.12, help='right motor speed [-1, 1]')
    parser.add_argument('--duration', type=float, default=0.2,
                        help='hold time in seconds (ramps come on top)')
    parser.add_argument('--settle-s', type=float, default=0.3,
                        help='wait after the motors stop before the "after" frame')
    parser.add_argument('--out', required=True, help='folder for the frames and the outcome')
    add_robot_arguments(parser)


def frame_difference(before: np.ndarray, after: np.ndarray) -> tuple:
    """(|after - before| brightened for viewing, fraction of pixels that changed)."""
    difference = np.abs(after.astype(np.int16) - before.astype(np.int16))
    changed = float((difference.max(axis=2) > CHANGED_LEVEL).mean())
    visible = np.clip(difference * 4, 0, 255).astype(np.uint8)
    return visible, changed


def main(args: argparse.Namespace) -> int:
    folder = output_folder(args.out, must_not_hold=OUTPUT_FILES)
    if not args.settle_s >= 0:
        raise UsageError(f'--settle-s must be >= 0, got {args.settle_s}')
    robot = robot_from_arguments(args)
    try:
        robot.connect()
        before = robot.read()
        command = MotorCommand(args.left, args.right, args.duration, robot.clock.now_ns())
        outcome = robot.send(command)
        robot.clock.sleep(args.settle_s)
        after = robot.read()
    except RobotUnreachableError as error:
        return report_unreachable('try-action', error)
    finally:
        robot.close()
    visible, changed = frame_difference(before.pixels, after.pixels)
    save_rgb(folder / 'before.png', before.pixels)
    save_rgb(folder / 'after.png', after.pixels)
    save_rgb(folder / 'difference.png', visible)
    record = {'command': {'left': args.left, 'right': args.right, 'duration': args.duration},
              'applied': {'left': outcome.left, 'right': outcome.right},
              'status': outcome.status.name, 'reason': outcome.reason,
              'run_s': (outcome.end_ns - outcome.start_ns) / 1e9,
              'changed_fraction': changed}
    (folder / 'outcome.json').write_text(json.dumps(record, indent=2) + '\n')
    print(f'try-action: {outcome.status.name} (applied left={outcome.left:.3f} '
          f'right={outcome.right:.3f} for {record["run_s"]:.3f} s'
          f'{", " + outcome.reason if outcome.reason else ""}); '
          f'{changed:.1%} of the pixels changed; saved to {folder}', file=sys.stderr)
    return 0 if outcome.status == MotorStatus.COMPLETED else 1
