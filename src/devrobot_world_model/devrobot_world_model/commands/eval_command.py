"""`devrobot eval`: score a world-model checkpoint on held-out simulator states.

    devrobot eval --checkpoint runs/demo/checkpoints --json
    devrobot eval --checkpoint runs/demo/checkpoints --states 512 --seed 1
    devrobot eval --checkpoint runs/demo/checkpoints --introspect   # does it use the action?

The model comes from `devrobot_world_model.load(path)`: anything with `predict(frames,
commands)` and `action_space`. The protocol and its baselines live in `evaluation.py`;
`--introspect` adds `introspection.py`'s measurements of a devrobot WorldModel. A model that
also has `predict_sequence` (the world model) is scored at `--level-horizons` five ways: its
level predicting the horizon directly, its levels composed and level 0 rolled out, the last
two with the frames decoded and encoded again between calls and with the latents carried
(`-latent`) (`horizons.py`), with the steps at which its levels were created and the NMI of
their codes with the number of moves.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

from devrobot_core.config_fields import add_config_group, config_from_arguments, register_options
from devrobot_core.errors import UsageError
from devrobot_core.input_checks import readable_path
from devrobot_core.motor import action_index
from devrobot_core.parameter_file import SIM_NODE
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
    parser.add_argument('--level-horizons', type=int, nargs='*', default=[1, 2, 4, 8, 16],
                        metavar='N',
                        help='Horizons scored directly, composed from levels and rolled out, '
                             'through frames and through latents (default: 1 2 4 8 16; none: '
                             'skip).')
    parser.add_argument('--device', default='auto',
                        help="Where the model predicts: 'auto' (a GPU when torch finds one), "
                             "'cpu', 'cuda' or 'cuda:N' (default: auto).")
    parser.add_argument('--introspect', action='store_true',
                        help='Also measure whether the model uses the action, on the first '
                        '--batch-size held-out states: attention to the action (APA, ALF, '
                        'TTAR, RI@16, entropy), counterfactual tests (shuffled, zeroed '
                        'actions) and the action share of the gradient.')
    register_options(parser, SECTION, ('states', 'seed', 'batch_size', 'horizons', 'device',
                                       'introspect'))
    add_config_group(parser, ToroidalDotConfig, 'sim', SIM_NODE, skip=('seed',))


SECTION = 'devrobot_eval'  # this command's own settings in a parameter file


def main(args: argparse.Namespace) -> int:
    from devrobot_world_model.evaluation import evaluation  # numpy only; the model import is torch

    if args.states < 1 or args.batch_size < 1 or min(args.horizons + args.level_horizons) < 1:
        raise UsageError('--states, --batch-size, --horizons and --level-horizons must be at '
                         'least 1')
    model = load_model(pathlib.Path(args.checkpoint), args.device)
    overrides = {}
    trained_size = getattr(model, 'image_size', None)
    if trained_size and args.image_size is None:
        overrides['image_size'] = int(trained_size)
    elif trained_size and args.image_size != trained_size:
        raise UsageError(f'the checkpoint was trained on {trained_size}x{trained_size} images, '
                         f'not --sim.image-size {args.image_size}')
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
        raise UsageError(f'{error} (set --sim.image-size to the size it was trained at)') \
            from None
    if args.introspect:
        result['introspection'] = introspect_model(model, sim_config, min(args.states,
                                                                          args.batch_size),
                                                   args.seed)
    if args.level_horizons and hasattr(model, 'predict_sequence'):
        result.update(level_figures(model, sim_config, args))
    result['checkpoint'] = str(args.checkpoint)
    result = evaluation.finite_or_none(result)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def load_model(path: pathlib.Path, device: str = 'cpu'):
    """`devrobot_world_model.load(path, device)`, every way it can fail as a UsageError."""
    if not path.exists():
        raise UsageError(f'no checkpoint at {path}')
    readable_path(path, '--checkpoint')
    import devrobot_world_model  # looked up at call time, so tests can put a fake `load` there
    try:
        return devrobot_world_model.load(path, device=device)
    except UsageError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f'cannot load the checkpoint {path}: {error}') from None


def introspect_model(model, sim_config: ToroidalDotConfig, states: int, seed: int) -> dict:
    """`introspection.introspect` of a loaded model; UsageError for one without a WorldModel."""
    world_model = getattr(model, 'model', None)
    if world_model is None or not hasattr(world_model, 'predictor'):
        raise UsageError('--introspect needs a devrobot world-model checkpoint (this model '
                         'has no predictor to look into)')
    from devrobot_world_model.evaluation.introspection import introspect
    try:
        return introspect(world_model, model.action_space, sim_config, states, seed)
    except ValueError as error:
        raise UsageError(f'--introspect: {error}') from None


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


TABLE_COLUMNS = ('model', 'copy', 'action-blind')


def level_figures(model, sim_config, args) -> dict:
    """`horizons` (each method at each horizon) and `levels` (creation steps, codes' NMI)."""
    from devrobot_world_model.evaluation import horizons
    world = ToroidalDotWorld(sim_config)
    space = world.action_space

    def commands(actions):
        return [[space[int(a)] for a in row] for row in actions]

    def sequence_fn(frames, actions, method):
        return model.predict_sequence(frames, commands(actions), method)
    move = [effect.value for effect in world.effects].index('move')
    return {'horizons': horizons.evaluate_horizons(
                sequence_fn, sim_config, states=args.states, seed=args.seed,
                horizons=tuple(args.level_horizons), batch_size=args.batch_size),
            'levels': {'created_at_step': model.level_created_at(),
                       'codes': horizons.code_nmi(
                           lambda level, s: model.level_codes(level, commands(s)),
                           model.levels, len(space), move)}}


def _cells(values, spec='.3f') -> list:
    return [_number(v, spec) for v in values]


def table_rows(result: dict) -> list:
    """(label, cells) per metric: the model beside the copy and action-blind baselines."""
    runs = [result['model'], result['baselines']['copy'], result['baselines']['action_blind']]
    rows = []
    for name in runs[0]['per_action']:
        scores = [run['per_action'][name] for run in runs]
        rows += [(f'{name}: R²', _cells([s['r2'] for s in scores])),
                 (f'{name}: pixel MSE', _cells([s['pixel_mse'] for s in scores], '.2e')),
                 (f'{name}: dot error median (px)',
                  _cells([s['position_error_px_median'] for s in scores], '.2f')),
                 (f'{name}: dot error p90 (px)',
                  _cells([s['position_error_px_p90'] for s in scores], '.2f'))]
    rows.append(('action discrimination', _cells([run['action_discrimination'] for run in runs])))
    for horizon in runs[0]['open_loop']:
        scores = [run['open_loop'][horizon] for run in runs]
        steps = horizon.split('_')[-1]
        rows += [(f'open loop {steps} steps: R²', _cells([s['r2'] for s in scores])),
                 (f'open loop {steps} steps: dot error (px)',
                  _cells([s['position_error_px_median'] for s in scores], '.2f'))]
    return rows


def table_title(result: dict) -> str:
    protocol = result['protocol']
    return f"held-out protocol: {protocol['states']} states, seed {protocol['seed']}"


def format_table(result: dict) -> str:
    """The figures of the model beside the copy and action-blind baselines, one metric a row."""
    lines = [table_title(result), f'{"":<34}' + ''.join(f'{h:>14}' for h in TABLE_COLUMNS)]
    lines += [f'{label:<34}' + ''.join(f'{c:>14}' for c in cells)
              for label, cells in table_rows(result)]
    if 'horizons' in result:
        lines += format_horizons(result)
    if 'introspection' in result:
        lines += introspection_lines(result['introspection'])
    return '\n'.join(lines)


INTROSPECTION_ROWS = (  # metric key, label, format
    ('attn/apa', 'attention to the candidate action (APA)', '.3f'),
    ('attn/alf', 'attention to the last frame (ALF)', '.3f'),
    ('attn/ttar', 'action / frame token attention (TTAR)', '.3f'),
    ('attn/ri16', 'attention to the 16 latest tokens', '.3f'),
    ('attn/entropy', 'attention entropy (nats)', '.3f'),
    ('attn/entropy_normalized', 'attention entropy / its maximum', '.3f'),
    ('sens/diversity', 'prediction spread over actions', '.3e'),
    ('sens/relative_diversity', '  relative to the prediction', '.3e'),
    ('cf/shuffle_change', 'change with shuffled actions', '.3e'),
    ('cf/zero_change', 'change with every action 0', '.3e'),
    ('grad/action_share', 'action share of the gradient norm', '.3e'),
)


def introspection_lines(introspection: dict) -> list:
    """The introspection figures, one a row; attention rows only for a transformer."""
    metrics = introspection['metrics']
    lines = ['', f"introspection: {introspection['states']} held-out states, history "
                 f"{introspection['history']}, {introspection['predictor']} predictor"
                 + ('' if introspection['attention'] else ' (no attention to measure)')]
    for key, label, spec in INTROSPECTION_ROWS:
        if key in metrics:
            lines.append(f'{label:<48}' + _number(metrics[key], spec))
    layers = sorted({key.split('/')[1] for key in metrics if key.startswith('attn/layer')})
    if len(layers) > 1:
        lines.append('APA / ALF per layer: ' + ', '.join(
            f"{layer[5:]}: {_number(metrics[f'attn/{layer}/apa'], '.3f')} / "
            f"{_number(metrics[f'attn/{layer}/alf'], '.3f')}" for layer in layers))
    return lines


def _number(value, spec: str) -> str:
    return '—' if value is None else format(value, spec)


def format_horizons(result: dict) -> list:
    """Per horizon and method: R², median dot error and predictor calls."""
    from devrobot_world_model.evaluation.horizons import METHODS
    created = result['levels']['created_at_step']
    lines = ['', 'levels created at steps: ' + ', '.join(
        f'{2 ** level} steps: {step if step >= 0 else "not yet"}'
        for level, step in enumerate(created)),
        f'{"horizon (R² / dot error px / calls)":<34}' + ''.join(f' {m:>18}' for m in METHODS)]
    for name, methods in result['horizons'].items():
        cells = []
        for method in METHODS:
            s = methods[method]
            cells.append('—' if s is None else '{} / {} / {:g}'.format(
                '—' if s['r2'] is None else f"{s['r2']:.3f}",
                '—' if s['position_error_px_median'] is None else
                f"{s['position_error_px_median']:.2f}", s['calls']))
        lines.append(f'{name.split("_")[-1] + " steps":<34}' + ''.join(f' {c:>18}' for c in cells))
    for level, codes in result['levels']['codes'].items():
        lines.append(f"codes of {codes['span']}-step sequences: NMI with the number of moves "
                     f"{codes['nmi_moves']:.3f}, {codes['codes_used']} codes used")
    return lines
