"""`devrobot train`: learn a world model offline from recorded session bags.

The bags' transitions go through the same assembler and the same Learner as a live session (its
trainer on this thread: no robot waits), so `--out DIR` ends up like a run folder
(`DIR/checkpoints`, `DIR/metrics.jsonl`) and a second call resumes from it. Without a robot to
wait for, one 0.2 s step of a session costs only its share of the minibatch updates, which is
what makes this far faster than real time.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from devrobot_core.config_fields import add_config_arguments, config_from_arguments
from devrobot_core.errors import UsageError
from devrobot_core.recorded_policy import filter_transitions, parse_action_filter
from devrobot_world_model.learning.plateau import (
    EPOCH_LOSS_KEY, epoch_loss, PlateauConfig, PlateauDetector)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from devrobot_world_model.commands.cli_support import add_learning_arguments
    parser.add_argument('--bag', nargs='+', required=True, metavar='PATH',
                        help='Session bag folders (recorded by devrobot run or ros2 bag record).')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='Run folder for checkpoints and metrics (resumed when present).')
    parser.add_argument('--epochs', type=int, default=1,
                        help='Passes over the bags (default: 1).')
    parser.add_argument('--json', action='store_true', help='Print the summary as JSON.')
    parser.add_argument('--filter-action', metavar='FILTER',
                        help='Learn only from commands matching FILTER: an action index (1) '
                        'or values (right=0.12, left=0,right=0.12,duration=0.2).')
    parser.add_argument('--until-plateau', action='store_true',
                        help='Repeat the bags until the training loss stops improving '
                        '(--patience, --min-delta, --min-epochs, --max-epochs); '
                        'replaces --epochs.')
    add_config_arguments(parser, PlateauConfig)
    add_learning_arguments(parser, skip=('policy', 'epsilon', 'quality_gate',
                                         'quality_threshold', 'image_size', 'actor_lag_steps'))


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


def bags_image_size(paths: list) -> int:
    """The side of the frames in the first bag, px (the model is built for it)."""
    from devrobot_core.motor import Frame
    from devrobot_core.bags.session_bag import read_session
    for event in read_session(paths[0])[1]:
        if isinstance(event, Frame):
            return int(event.pixels.shape[0])
    raise UsageError(f'bag {paths[0]} holds no camera frames')


def main(args: argparse.Namespace) -> int:
    from devrobot_core.bags.session_bag import read_session, SessionBagError
    from devrobot_core.transitions import transitions_from_events
    from dataclasses import asdict
    from devrobot_world_model.commands.cli_support import learning_configs
    from devrobot_world_model.learning.learner import Learner, start_process
    from devrobot_world_model.learning.metrics import MetricsLogger

    if args.epochs < 1:
        raise UsageError('--epochs must be at least 1')
    try:
        sessions = [read_session(path)[0] for path in args.bag]
    except SessionBagError as error:
        raise UsageError(str(error)) from None
    action_space = bag_action_space(sessions)
    try:
        action_filter = (parse_action_filter(args.filter_action, action_space)
                         if args.filter_action else None)
        plateau = (PlateauDetector(config_from_arguments(PlateauConfig, args))
                   if args.until_plateau else None)
    except ValueError as error:
        raise UsageError(str(error)) from None
    epochs = plateau.config.max_epochs if plateau else args.epochs
    learner_config, model_configs = learning_configs(
        args, policy='random', image_size=bags_image_size(args.bag), actor_lag_steps=0)
    start_process(learner_config.seed)
    out = pathlib.Path(args.out)
    learner = Learner(action_space, learner_config, model_configs,
                      checkpoint_dir=out / 'checkpoints')
    logger = MetricsLogger(out, learner_config.wandb_project or None, learner_config.wandb_mode,
                           config=asdict(learner_config))
    started, session_s, transitions = time.perf_counter(), 0.0, 0
    try:
        for _ in range(epochs):
            epoch_metrics = []
            for path in args.bag:
                _, events = read_session(path)
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
    summary = {'bags': [str(p) for p in args.bag], 'out': str(out),
               'epochs': plateau.epochs if plateau else args.epochs,
               'transitions': transitions, 'updates': learner.updates,
               'steps_total': learner.steps, 'wall_s': round(wall_s, 2),
               'session_s': round(session_s, 2),
               'faster_than_real_time': round(session_s / wall_s, 1) if wall_s else None}
    if transitions == 0:
        raise UsageError('the bags hold no usable transitions (completed commands with an image '
                         'before and after)')
    print(json.dumps(summary) if args.json else
          f"trained on {transitions} transitions ({learner.updates} updates) in {wall_s:.1f} s, "
          f"{summary['faster_than_real_time']}x real time; checkpoints in {out / 'checkpoints'}")
    return 0
