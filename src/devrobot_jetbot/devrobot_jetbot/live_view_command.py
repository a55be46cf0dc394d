"""`devrobot live-view`: the JetBot's camera in a window (q quits), or saved to a folder.

    devrobot live-view --host 192.168.1.42
    devrobot live-view --host 192.168.1.42 --headless --out frames/ --frames 50

It never moves the motors (connecting makes sure they are stopped).
"""

from __future__ import annotations

import argparse
import re
import sys

from devrobot_core.errors import UsageError

from devrobot_jetbot.backend import RobotUnreachableError
from devrobot_jetbot.command_support import (add_robot_arguments, output_folder,
                                             report_unreachable, robot_from_arguments)
from devrobot_jetbot.image_codec import save_rgb

WINDOW_TITLE = 'JetBot live view (q to quit)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--headless', action='store_true',
                        help='no window: save frames as PNG files into --out')
    parser.add_argument('--out', help='folder for saved frames (with --headless)')
    parser.add_argument('--frames', type=int, default=None,
                        help='stop after this many frames (default: 10 headless, '
                             'until q in the window)')
    parser.add_argument('--rate-hz', type=float, default=10.0,
                        help='frames per second to fetch, at most (default 10)')
    add_robot_arguments(parser)


def main(args: argparse.Namespace) -> int:
    if args.frames is not None and args.frames < 1:
        raise UsageError(f'--frames must be at least 1, got {args.frames}')
    if not args.rate_hz > 0:
        raise UsageError(f'--rate-hz must be positive, got {args.rate_hz}')
    if args.headless:
        folder = output_folder(args.out)
        show = saver(folder)
        limit = args.frames or 10
    else:
        show = window()
        limit = args.frames
    robot = robot_from_arguments(args)
    shown = 0
    period_s = 1.0 / args.rate_hz
    try:
        robot.connect()
        while limit is None or shown < limit:
            started = robot.clock.now_ns()
            if not show(robot.read().pixels):
                break
            shown += 1
            robot.clock.sleep(period_s - (robot.clock.now_ns() - started) / 1e9)
    except RobotUnreachableError as error:
        return report_unreachable('live-view', error)
    finally:
        robot.close()
        if not args.headless:
            _close_window()
    where = f' into {args.out}' if args.headless else ''
    print(f'live-view: {shown} frames{where}', file=sys.stderr)
    return 0


def saver(folder):
    """Save each frame as frame_NNNNN.png, numbering on after any frames already there."""
    taken = [int(m.group(1)) for p in folder.glob('frame_*.png')
             if (m := re.fullmatch(r'frame_(\d+)\.png', p.name))]
    counter = [max(taken, default=-1) + 1]

    def show(rgb) -> bool:
        save_rgb(folder / f'frame_{counter[0]:05d}.png', rgb)
        counter[0] += 1
        return True

    return show


def window():
    try:
        import cv2
    except ImportError:
        raise UsageError('the live window needs OpenCV (pip install opencv-python, or apt '
                         'install python3-opencv); or save frames: --headless --out DIR') from None

    def show(rgb) -> bool:
        cv2.imshow(WINDOW_TITLE, rgb[:, :, ::-1])
        return (cv2.waitKey(1) & 0xFF) != ord('q')

    return show


def _close_window():
    try:
        import cv2
    except ImportError:
        return
    cv2.destroyAllWindows()
