"""`devrobot train`: learn a world model offline from recorded session bags.

The bags' transitions go through the same assembler and the same Learner as a live session (its
trainer on this thread: no robot waits), so `--out DIR` ends up like a run folder
(`DIR/checkpoints`, `DIR/metrics.jsonl`, `DIR/config.yaml`: the resolved configuration, which
`--config` reads back) and a second call resumes from it. The model is built for the bags'
frame size. Without a robot to wait for, one 0.2 s step of a session costs only its share of
the minibatch updates, which is what makes this far faster than real time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

from devrobot_core.config_fields import (add_config_group, config_from_arguments, parameter_values,
                                         register_options)
from devrobot_core.errors import UsageError
from devrobot_core.input_checks import readable_path, writable_folder
from devrobot_core.parameter_file import save_run_config, WORLD_MODEL_NODE
from devrobot_core.recorded_policy import filter_transitions, parse_action_filter
from devrobot_world_model.learning.plateau import (
    EPOCH_LOSS_KEY, epoch_loss, PlateauConfig, PlateauDetector)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from devrobot_world_model.commands.cli_support import add_learning_arguments
    parser.add_argument('--bag', nargs='+', metavar='PATH',
                        help='Session bag folders (recorded by devrobot run or ros2 bag record); '
                        'required, here or in --config.')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='Run folder for checkpoints and metrics (resumed when present).')
    parser.add_argument('--epochs', type=int, default=1,
                        help='Passes over the bags (default: 1).')
    parser.add_argument('--json', action='store_true', help='Print the summary as JSON.')
    parser.add_argument('--allow-partial', action='store_true',
                        help='Train on the readable part of damaged or unfinished bags '
                        '(otherwise they are refused; `devrobot repair BAG` fixes them).')
    parser.add_argument('--filter-action', metavar='FILTER', default='',
                        help='Learn only from commands matching FILTER: an action index (1) '
                        'or values (right=0.12, left=0,right=0.12,duration=0.2).')
    parser.add_argument('--until-plateau', action='store_true',
                        help='Repeat the bags until the training loss stops improving '
                        '(--plateau.patience, --plateau.min-delta, --plateau.min-epochs, '
                        '--plateau.max-epochs); replaces --epochs.')
    register_options(parser, SECTION, ('bag', 'epochs', 'filter_action', 'until_plateau'))
    add_config_group(parser, PlateauConfig, 'plateau', SECTION)
    add_learning_arguments(parser, skip=UNUSED_LEARNER_FIELDS)


SECTION = 'devrobot_train'  # this command's own settings in a parameter file
# Not the trainer's: how a robot acts, and the frame size (the bags').
UNUSED_LEARNER_FIELDS = ('policy', 'epsilon', 'quality_gate', 'quality_threshold', 'image_size',
                         'actor_lag_steps')
CONFIG_HEADER = """The resolved configuration of a `devrobot train`, as a ROS 2 parameter file.
`devrobot train --config THIS_FILE --out DIR` trains again (the run folder is not part of it);
the world_model node reads its section."""


def bag_action_space(sessions: list) -> tuple:
    """The action space every bag agrees on; UsageError when they differ or none says."""
    from devrobot_core.motor import action_space_from_dicts, MotorCommand
    spaces = {}
    for session in sessions:
        if not session.action_space:
            raise UsageError(f'bag {session.path} has no session info (action space); record '
                             'it with devrobot run or import it with devrobot import-session')
        commands = tuple(session.action_space)
        spaces[str(session.path)] = (commands if isinstance(commands[0], MotorCommand)
                                     else action_space_from_dicts(commands))
    first = next(iter(spaces.values()))
    for path, space in spaces.items():
        if len(space) != len(first) or not all(a.same_action(b) for a, b in zip(space, first)):
            raise UsageError(f'bag {path} has another action space than {sessions[0].path}')
    return first


def save_config(out: pathlib.Path, args, plateau_config, learner_config, model_configs):
    """`out/config.yaml`: the bags (absolute paths), the passes, the learner and the model."""
    from devrobot_world_model.commands.cli_support import learning_parameters
    own = {'bag': [str(pathlib.Path(path).resolve()) for path in args.bag],
           'epochs': args.epochs, 'filter_action': args.filter_action or '',
           'until_plateau': bool(args.until_plateau), **parameter_values(plateau_config)}
    try:
        out.mkdir(parents=True, exist_ok=True)
        save_run_config(out, {SECTION: own, WORLD_MODEL_NODE: learning_parameters(
            learner_config, model_configs)}, CONFIG_HEADER)
    except OSError as error:
        raise UsageError(f'cannot write the run folder {out}: {error.strerror}') from None


def bags_image_size(bags: list, allow_partial: bool = False) -> int | None:
    """The side of the first frame of every bag; UsageError when they differ or are not square.

    Reads each bag only up to its first image, so mixed sizes are refused before training
    starts (and before a checkpoint is touched). None when no bag holds a frame.
    """
    from devrobot_core.motor import Frame
    from devrobot_core.bags.session_bag import read_session
    sizes = {}
    for path in bags:
        _, events = read_session(path, allow_partial)
        try:
            frame = next((event for event in events if isinstance(event, Frame)), None)
        finally:
            events.close()
        if frame is not None:
            sizes[path] = tuple(np.shape(frame.pixels))
    shapes = set(sizes.values())
    if len(shapes) > 1:
        described = ', '.join(f'{path}: {"x".join(map(str, shape))}'
                              for path, shape in sizes.items())
        raise UsageError(f'the bags hold frames of different sizes ({described}); train on '
                         'bags of one frame size at a time, each size in its own --out')
    if not shapes:
        return None
    shape = shapes.pop()
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
        raise UsageError(f'the bags hold {"x".join(map(str, shape))} frames; the world model '
                         'learns from square rgb8 frames')
    return shape[0]


def main(args: argparse.Namespace) -> int:
    from devrobot_core.bags.session_bag import read_session, SessionBagError
    from devrobot_core.transitions import transitions_from_events
    from devrobot_world_model.commands.cli_support import check_learning_configs, learning_configs
    from devrobot_world_model.learning.learner import Learner, start_process
    from devrobot_world_model.learning.learner_checkpoint import ImageSizeError
    from devrobot_world_model.learning.metrics import MetricsLogger

    if not args.bag:
        raise UsageError('--bag is required (or bag in the devrobot_train section of --config)')
    if args.epochs < 1:
        raise UsageError('--epochs must be at least 1')
    learner_config, model_configs = learning_configs(args, policy='random', actor_lag_steps=0)
    bags = [readable_path(path, '--bag') for path in args.bag]
    try:  # a bag it cannot use is refused before the run folder is made
        sessions = [read_session(path, args.allow_partial)[0] for path in bags]
        image_size = bags_image_size(bags, args.allow_partial)
    except SessionBagError as error:
        raise UsageError(str(error)) from None
    out = writable_folder(args.out, '--out')
    for session in sessions:
        if session.damage:
            print(f'devrobot train: {session.damage}; training on its readable part',
                  file=sys.stderr)
    action_space = bag_action_space(sessions)
    try:
        action_filter = (parse_action_filter(args.filter_action, action_space)
                         if args.filter_action else None)
        plateau_config = config_from_arguments(PlateauConfig, args)
        plateau = PlateauDetector(plateau_config) if args.until_plateau else None
        if image_size is not None:
            check_learning_configs(learner_config, model_configs, image_size,
                                   len(action_space))
    except ValueError as error:
        raise UsageError(str(error)) from None
    epochs = plateau.config.max_epochs if plateau else args.epochs
    if image_size is not None:
        learner_config = dataclasses.replace(learner_config, image_size=image_size)
    start_process(learner_config.seed, learner_config.torch_threads)
    try:
        learner = Learner(action_space, learner_config, model_configs,
                          checkpoint_dir=out / 'checkpoints')
    except ImageSizeError as error:  # nothing was written: the checkpoint folder stays as it was
        raise UsageError(f'the checkpoint in {out} was trained on {error.trained} px frames, '
                         f'the bags hold {error.asked} px frames: use another --out') from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    save_config(out, args, plateau_config, learner_config, model_configs)
    logger = MetricsLogger(out, learner_config.wandb_project or None, learner_config.wandb_mode,
                           config=dataclasses.asdict(learner_config))
    learner.logger = logger  # the prediction grid, with wandb
    started, session_s, transitions = time.perf_counter(), 0.0, 0
    try:
        for _ in range(epochs):
            epoch_metrics = []
            for path in bags:
                _, events = read_session(path, args.allow_partial)
                first_ns = None
                for transition in filter_transitions(transitions_from_events(events),
                                                     action_filter):
                    metrics = learner.observe(transition)
                    logger.log(metrics, learner.steps)
                    epoch_metrics.append({EPOCH_LOSS_KEY: metrics.get(EPOCH_LOSS_KEY)})
                    transitions += 1
                    if first_ns is None:
                        first_ns = transition.frame.stamp_ns
                    last_ns = transition.next_frame.stamp_ns
                if first_ns is not None:  # the recorded session's own duration
                    session_s += (last_ns - first_ns) * 1e-9
            if plateau is not None and plateau.update(epoch_loss(epoch_metrics)):
                break
    except SessionBagError as error:
        raise UsageError(str(error)) from None
    finally:
        try:
            learner.close()
        finally:
            logger.close()
    wall_s = time.perf_counter() - started
    summary = {'bags': [str(p) for p in bags], 'out': str(out),
               'epochs': plateau.epochs if plateau else args.epochs,
               'transitions': transitions, 'updates': learner.updates,
               'steps_total': learner.steps, 'wall_s': round(wall_s, 2),
               'session_s': round(session_s, 2),
               'faster_than_real_time': round(session_s / wall_s, 1) if wall_s else None,
               'bag_reader': sessions[0].reader}
    if transitions == 0:
        raise UsageError('the bags hold no usable transitions (completed commands with an image '
                         'before and after)')
    print(json.dumps(summary) if args.json else
          f"trained on {transitions} transitions ({learner.updates} updates) in {wall_s:.1f} s, "
          f"{summary['faster_than_real_time']}x real time (bags read with "
          f"{sessions[0].reader}); checkpoints in {out / 'checkpoints'}")
    return 0
