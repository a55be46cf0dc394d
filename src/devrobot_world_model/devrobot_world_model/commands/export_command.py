"""`devrobot export PATH --out FILE.mcap [--predictions --checkpoint DIR]`: for Foxglove.

One MCAP holds the session's topics and, with --predictions, the model's reconstruction, its
predicted next frame for every action (sensor_msgs/Image topics) and its error per step.

PATH is a bag, several bags, a folder of bags or a run folder (whose checkpoints/ is used when
--checkpoint is not given). The bags are only read; FILE is never overwritten.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devrobot_core.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('path', nargs='+', metavar='PATH',
                        help='Session bag(s), a folder of bags, or a run folder.')
    parser.add_argument('--out', required=True, metavar='FILE.mcap',
                        help='The MCAP file to write (must not exist).')
    parser.add_argument('--predictions', action='store_true',
                        help="Add the model's reconstruction, per-action predictions and "
                        'prediction error as topics.')
    parser.add_argument('--checkpoint', metavar='DIR',
                        help="World-model checkpoint (default: the run folder's checkpoints/).")
    parser.add_argument('--device', default='cpu',
                        help="Where the model runs: 'cpu' (default), 'cuda', 'auto'.")


def main(args: argparse.Namespace) -> int:
    from devrobot_world_model.explorer.bag_index import BagError, BagIndex
    from devrobot_world_model.explorer.mcap_export import McapExport
    from devrobot_world_model.explorer.sources import resolve

    out = Path(args.out)
    if out.suffix != '.mcap':
        raise UsageError(f'--out must name an .mcap file, got {out}')
    if out.exists():
        raise UsageError(f'{out} exists; choose a new file (an export never overwrites)')
    if not out.parent.is_dir():
        raise UsageError(f'the folder of {out} does not exist')
    sources = resolve(args.path, args.checkpoint)
    if not sources.bags:
        raise UsageError('no session bag to export')
    bags = []
    try:
        for number, path in enumerate(sources.bags):
            bag = BagIndex(path, number)
            while not bag.complete and bag.refresh(max_bytes=None):
                pass
            bags.append(bag)
    except BagError as error:
        raise UsageError(str(error)) from None
    view = load_model(sources, bags, args.device) if args.predictions else None
    try:
        export = McapExport(out)
    except OSError as error:
        raise UsageError(f'cannot write {out}: {error.strerror or error}') from None
    try:
        steps = 0
        for bag in bags:
            export.copy_bag(bag)
            if view is not None:
                steps += export.add_predictions(bag, view)
        export.close()
    except BaseException:
        export.abandon()
        raise
    print(f'wrote {out}: {export.messages} messages from {len(bags)} bag(s)'
          + (f', predictions for {steps} steps' if view is not None else ''), file=sys.stderr)
    return 0


def load_model(sources, bags, device: str):
    """The model view for --predictions; UsageError when there is none or it fits a bag not."""
    from devrobot_world_model.learning.checkpoint_io import CheckpointError
    from devrobot_world_model.explorer.model_views import load_view

    if sources.checkpoint is None:
        raise UsageError('--predictions needs a model: give --checkpoint DIR (or a run folder '
                         'with checkpoints/)')
    try:
        view = load_view(sources.checkpoint, device)
    except (CheckpointError, ValueError) as error:
        raise UsageError(f'cannot use the checkpoint {sources.checkpoint}: {error}') from None
    for bag in bags:
        space = bag.action_space if bag.action_space_source == 'session info' else ()
        problem = view.mismatch(space, bag.frame_size)
        if problem:
            raise UsageError(f'the checkpoint {sources.checkpoint} does not fit {bag.path}: '
                             f'{problem}')
        if bag.action_space_source != 'session info':
            bag.use_action_space(view.action_space, 'checkpoint')
    return view
