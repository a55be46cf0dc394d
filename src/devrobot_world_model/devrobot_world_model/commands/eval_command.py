"""`devrobot eval`: score a world-model checkpoint on held-out simulator states.

    devrobot eval --checkpoint runs/demo/checkpoints --json
    devrobot eval --checkpoint runs/demo/checkpoints --states 512 --seed 1

The model comes from `devrobot_world_model.load(path)`: anything with `predict(frames,
commands)` and `action_space`. The protocol and its baselines live in `evaluation.py`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

from devrobot_core.config_fields import add_config_arguments, config_from_arguments
from devrobot_core.errors import UsageError
from devrobot_core.motor import action_index
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True,
                        help="A run's checkpoints/ folder or a checkpoint .pt file.")
    parser.add_argument('--json', action='store_true',
                        help='Print the figures as one JSON object instead of a table.')
    parser.add_argument('--states', type=int, default=512,
                        help='How many held-out states to draw (default: 512).')
    parser.add_argument('--seed', type=int, default=0,
                        help='Seed of the held-out states and action sequences (default: 0).')
    parser.add_argument('--batch-size', type=int, default=64,
                        help='Frames per predict call (default: 64).')
    parser.add_argument('--horizons', type=int, nargs='+', default=[1, 5, 10],
                        help='Open-loop horizons, in steps (default: 1 5 10).')
    parser.add_argument('--device', default='auto',
                        help="Where the model predicts: 'auto' (a GPU when torch finds one), "
                             "'cpu', 'cuda' or 'cuda:N' (default: auto).")
    add_config_arguments(parser, ToroidalDotConfig, skip=('seed',))


def main(args: argparse.Namespace) -> int:
    from devrobot_world_model.evaluation import evaluation  # numpy only; the model import is torch

    if args.states < 1 or args.batch_size < 1 or min(args.horizons) < 1:
        raise UsageError('--states, --batch-size and --horizons must be at least 1')
    model = load_model(pathlib.Path(args.checkpoint), args.device)
    overrides = {}
    trained_size = getattr(model, 'image_size', None)
    if trained_size and args.image_size is None:
        overrides['image_size'] = int(trained_size)
    elif trained_size and args.image_size != trained_size:
        raise UsageError(f'the checkpoint was trained on {trained_size}x{trained_size} images, '
                         f'not --image-size {args.image_size}')
    try:
        sim_config = config_from_arguments(ToroidalDotConfig, args, **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None
    predict_fn = make_predict_fn(model, ToroidalDotWorld(sim_config).action_space)
    print(f'evaluating {args.checkpoint} on {args.states} held-out states (seed {args.seed})',
          file=sys.stderr)
    try:
        result = evaluation.evaluate_with_baselines(
            predict_fn, sim_config, states=args.states, seed=args.seed,
            horizons=tuple(args.horizons), batch_size=args.batch_size)
    except evaluation.PredictionShapeError as error:
        raise UsageError(f'{error} (set --image-size to the size it was trained at)') from None
    result['checkpoint'] = str(args.checkpoint)
    result = evaluation.finite_or_none(result)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def load_model(path: pathlib.Path, device: str = 'cpu'):
    """`devrobot_world_model.load(path, device)`, every way it can fail as a UsageError."""
    if not path.exists():
        raise UsageError(f'no checkpoint at {path}')
    import devrobot_world_model  # looked up at call time, so tests can put a fake `load` there
    try:
        return devrobot_world_model.load(path, device=device)
    except UsageError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f'cannot load the checkpoint {path}: {error}') from None


def make_predict_fn(model, sim_action_space):
    """Adapt `model.predict(frames, commands)` to the protocol's `(frames, action_indices)`."""
    model_space = list(model.action_space)
    for command in sim_action_space:
        if action_index(command, model_space) is None:
            known = ', '.join(f'({c.left}, {c.right}, {c.duration_s}s)' for c in model_space)
            raise UsageError(f'the checkpoint was not trained on the simulator command '
                             f'({command.left}, {command.right}, {command.duration_s}s); '
                             f'it knows {known}')

    def predict(frames: np.ndarray, action_indices: np.ndarray) -> np.ndarray:
        commands = [sim_action_space[int(i)] for i in action_indices]
        predicted = model.predict(frames, commands)
        if hasattr(predicted, 'detach'):  # a torch tensor
            predicted = predicted.detach().cpu().numpy()
        return np.asarray(predicted)
    return predict


def _row(label, values, spec='.3f'):
    cells = ['—' if v is None else format(v, spec) for v in values]
    return f'{label:<34}' + ''.join(f'{c:>14}' for c in cells)


def format_table(result: dict) -> str:
    """The figures of the model beside the copy and action-blind baselines, one metric a row."""
    runs = [result['model'], result['baselines']['copy'], result['baselines']['action_blind']]
    protocol = result['protocol']
    lines = [f"held-out protocol: {protocol['states']} states, seed {protocol['seed']}",
             f'{"":<34}' + ''.join(f'{h:>14}' for h in ('model', 'copy', 'action-blind'))]
    for name in runs[0]['per_action']:
        scores = [run['per_action'][name] for run in runs]
        lines += [_row(f'{name}: R²', [s['r2'] for s in scores]),
                  _row(f'{name}: pixel MSE', [s['pixel_mse'] for s in scores], '.2e'),
                  _row(f'{name}: dot error median (px)',
                       [s['position_error_px_median'] for s in scores], '.2f'),
                  _row(f'{name}: dot error p90 (px)',
                       [s['position_error_px_p90'] for s in scores], '.2f')]
    lines.append(_row('action discrimination', [run['action_discrimination'] for run in runs]))
    for horizon in runs[0]['open_loop']:
        scores = [run['open_loop'][horizon] for run in runs]
        steps = horizon.split('_')[-1]
        lines += [_row(f'open loop {steps} steps: R²', [s['r2'] for s in scores]),
                  _row(f'open loop {steps} steps: dot error (px)',
                       [s['position_error_px_median'] for s in scores], '.2f')]
    return '\n'.join(lines)
