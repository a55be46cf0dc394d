"""`devrobot repair BAG...`: make damaged, cut-short or unclosed session bags readable again.

A recording killed (SIGKILL, a power loss) or stopped by a full disk keeps every step that
reached the disk, but has no index or metadata.yaml; a bag with flipped bits has chunks that
fail their checksums. Repair keeps every whole message and rebuilds the rest (see bag_repair);
a whole bag is left untouched. No ROS needed (`ros2 bag reindex` does a part of this for ROS
users). Prints one line per bag.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devrobot_core.errors import FatalError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('bags', nargs='+', metavar='BAG',
                        help='bag folders to repair (e.g. runs/sim/bags/session_...)')


def main(args: argparse.Namespace) -> int:
    from devrobot_core.bags.bag_repair import repair_bag, RepairError

    for bag in args.bags:
        try:
            report = repair_bag(Path(bag))
        except RepairError as error:
            raise UsageError(str(error)) from None
        except OSError as error:
            raise FatalError(f'cannot repair {bag}: {error.strerror or error} (nothing '
                             'readable was lost; try again when that is fixed)') from None
        print(report.line())
    return 0
