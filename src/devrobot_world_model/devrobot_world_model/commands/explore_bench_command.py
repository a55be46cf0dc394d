"""`devrobot explore-bench`: every selector on the same budget, on the plain and the noisy world.

    devrobot explore-bench --seeds 0 1 2 3 4 --steps 1000 --json --plot runs/explore
    devrobot explore-bench --worlds distractor --selectors random uncertainty --seeds 0

For each world, selector and seed a fresh learner (every learner and model flag applies) drives
the simulator for `--steps` steps and is scored every `--eval-every` steps on held-out states
(`explore_bench.py` says what each figure is). The table (or `--json`) gives the last point,
or the points `--at` names, mean and 95 % interval over the seeds; `--plot DIR` writes the
PNGs (`explore_plots.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

from devrobot_core.config_fields import add_config_group, config_from_arguments, register_options
from devrobot_core.errors import UsageError
from devrobot_core.parameter_file import SIM_NODE
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld

SELECTORS = ('random', 'sequence:alternate', 'predicted-error', 'disagreement', 'progress',
             'uncertainty')
WORLD_FLAGS_SKIPPED = ('seed', 'distractor')  # set per run
SECTION = 'devrobot_explore_bench'  # this command's own settings in a parameter file
# Of a run (3: the transient noisy TV; 4: learning progress against the true outcome; 5: the
# uncertainty score gated by the falling share); a runs file's runs of another format are
# made again, not reused.
FORMAT = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from devrobot_world_model.commands.cli_support import add_learning_arguments
    from devrobot_world_model.evaluation.explore_bench import WORLDS
    parser.add_argument('--json', action='store_true',
                        help='Print runs and summary as one JSON object instead of a table.')
    parser.add_argument('--plot', metavar='DIR', default='',
                        help='Write PNG plots into DIR (needs matplotlib).')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4],
                        help='Seeds of world and learner (default: 0 1 2 3 4).')
    parser.add_argument('--steps', type=int, default=1000,
                        help='Environment steps per run (default: 1000).')
    parser.add_argument('--worlds', nargs='+', default=list(WORLDS), choices=WORLDS,
                        help='plain, and/or distractor (the noisy-TV command) (default: both).')
    parser.add_argument('--selectors', nargs='+', default=list(SELECTORS),
                        help='Selector specs to compare (default: ' + ' '.join(SELECTORS) + ').')
    parser.add_argument('--eval-every', type=int, default=100,
                        help='Steps between held-out evaluations (default: 100).')
    parser.add_argument('--at', type=int, nargs='+', default=[], metavar='STEP',
                        help='Table rows (and JSON summaries) at these evaluation steps, e.g. '
                             '--at 1000 2000 5000 (default: the last evaluation).')
    parser.add_argument('--eval-states', type=int, default=128,
                        help='Held-out states per evaluation (default: 128).')
    parser.add_argument('--score-states', type=int, default=32,
                        help='Held-out states for the score-error rank correlation; 0: skip '
                             '(default: 32).')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default: 1).')
    parser.add_argument('--runs-file', default='',
                        help='Append each finished run to this JSON-lines file, and reuse the '
                             'runs already there that were made with the same settings (a '
                             'bench can be stopped and resumed, or grown seed by seed).')
    register_options(parser, SECTION, ('seeds', 'steps', 'worlds', 'selectors', 'eval_every',
                                       'at', 'eval_states', 'score_states', 'threads'))
    add_config_group(parser, ToroidalDotConfig, 'sim', SIM_NODE, skip=WORLD_FLAGS_SKIPPED)
    # the frames: --sim.image-size
    add_learning_arguments(parser, skip=('policy', 'seed', 'checkpoint_every'),
                           shared=('image_size',))


def check(args: argparse.Namespace) -> None:
    from devrobot_core.selectors import make_selector
    from devrobot_world_model.evaluation.explore_bench import evaluation_steps
    from devrobot_world_model.learning.score_selectors import LEARNED_SELECTORS
    if min(args.steps, args.eval_every, args.eval_states, args.threads) < 1 or \
            args.score_states < 0:
        raise UsageError('--steps, --eval-every, --eval-states and --threads must be at least '
                         '1, --score-states at least 0')
    evaluated = evaluation_steps(args.steps, args.eval_every)
    missing = [step for step in args.at if step not in evaluated]
    if missing:
        raise UsageError(f'--at {missing[0]}: not an evaluation step (every --eval-every '
                         f'{args.eval_every} steps and the last, {args.steps})')
    for spec in args.selectors:
        if spec not in LEARNED_SELECTORS:
            try:
                make_selector(spec, 3, 0)
            except ValueError as error:
                raise UsageError(str(error)) from None
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError('--plot needs matplotlib: pip install matplotlib') from None


def main(args: argparse.Namespace) -> int:
    import torch
    from devrobot_world_model.evaluation import explore_bench
    from devrobot_world_model.commands.cli_support import learning_configs
    from devrobot_world_model.commands.eval_command import make_predict_fn
    from devrobot_world_model.learning.learner import Learner, start_process
    from devrobot_world_model.model.prediction_api import PredictionModel

    check(args)
    torch.set_num_threads(args.threads)
    try:
        base = config_from_arguments(ToroidalDotConfig, args)
        for world in args.worlds:  # each world's settings checked before any run
            explore_bench.world_config(world, 0, base)
    except ValueError as error:
        raise UsageError(str(error)) from None
    n_actions = len(ToroidalDotWorld(base).action_space)
    # bad learner or model flags: one line, before any run
    learning_configs(args, base.image_size, n_actions)

    def make_learner(action_space, selector, seed):
        config, models = learning_configs(args, base.image_size, len(action_space),
                                          policy=selector, seed=seed, checkpoint_every=0)
        start_process(seed)
        try:
            return Learner(action_space, config, models)
        except ValueError as error:
            raise UsageError(str(error)) from None

    def predict_fn_of(learner):
        return make_predict_fn(PredictionModel(learner.model, learner.action_space),
                               learner.action_space)

    settings = fingerprint(args, base)
    done = load_runs(args.runs_file, settings)
    runs, started = [], time.perf_counter()
    for world in args.worlds:
        for selector in args.selectors:
            for seed in args.seeds:
                run = done.get((world, selector, seed))
                if run is None:
                    run = explore_bench.run_cell(
                        make_learner, predict_fn_of, world, selector, seed, args.steps,
                        args.eval_every, args.eval_states, args.score_states, base)
                    save_run(args.runs_file, settings, run)
                runs.append(run)
                error = run['curve'][-1]['error_learnable']
                print(f'{world} {selector} seed {seed}: error {error:.3e}, shares '
                      f'{format_shares(run["shares"])} ({time.perf_counter() - started:.0f} s)',
                      file=sys.stderr, flush=True)
    last = explore_bench.summarise(runs)
    result = {'protocol': protocol(args, base), 'summary': last, 'runs': runs}
    if args.at:
        result['summary_at'] = {str(step): explore_bench.summarise(runs, step)
                                for step in args.at}
    if args.plot:
        from devrobot_world_model.evaluation.explore_plots import write_plots
        result['plots'] = [str(p) for p in write_plots(runs, last, args.plot)]
    rows = [row for step in args.at for row in result['summary_at'][str(step)]] or last
    print(json.dumps(finite(result)) if args.json else format_table(rows))
    return 0


def fingerprint(args: argparse.Namespace, base: ToroidalDotConfig) -> str:
    """Everything a run's figures depend on besides world, selector and seed, as text."""
    from devrobot_world_model.commands.cli_support import learning_configs
    config, models = learning_configs(args, base.image_size, policy='', seed=0,
                                      checkpoint_every=0)
    return json.dumps({'version': FORMAT, 'steps': args.steps, 'eval_every': args.eval_every,
                       'eval_states': args.eval_states, 'score_states': args.score_states,
                       'world': dataclasses.asdict(base),
                       'learner': dataclasses.asdict(config),
                       'models': [dataclasses.asdict(m) for m in models]}, sort_keys=True)


def load_runs(path: str, settings: str) -> dict:
    """(world, selector, seed) -> run, for the runs in `path` made with these settings."""
    if not path or not pathlib.Path(path).exists():
        return {}
    runs = {}
    for line in pathlib.Path(path).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by an interrupted write
            continue
        if record.get('settings') == settings:
            run = record['run']
            runs[(run['world'], run['selector'], run['seed'])] = run
    return runs


def save_run(path: str, settings: str, run: dict) -> None:
    if path:
        with open(path, 'a') as stream:
            stream.write(json.dumps(finite({'settings': settings, 'run': run})) + '\n')


def protocol(args: argparse.Namespace, base: ToroidalDotConfig) -> dict:
    return {'seeds': args.seeds, 'steps': args.steps, 'worlds': args.worlds,
            'selectors': args.selectors, 'eval_every': args.eval_every,
            'eval_states': args.eval_states, 'score_states': args.score_states,
            'held_out_seed': '1000 + seed', 'image_size': base.image_size,
            'dot_radius': base.dot_radius, 'move_pixels': base.move_pixels}


def finite(value):
    from devrobot_world_model.evaluation.evaluation import finite_or_none
    return finite_or_none(value)


def format_shares(shares: dict) -> str:
    return '/'.join(f'{100 * v:.0f}' for v in shares.values()) + ' % ' + '/'.join(shares)


def _cell(stat: dict, spec: str) -> str:
    if stat['mean'] is None:
        return '—'
    text = format(stat['mean'], spec)
    return text if stat['ci95'] is None else f'{text} ±{format(stat["ci95"], spec)}'


def _percent(stat: dict) -> dict:
    return {key: None if stat[key] is None else 100 * stat[key] for key in ('mean', 'ci95')}


def format_table(summary: list) -> str:
    """One row per world, selector and step: mean ±95 % interval over seeds."""
    lines = [f'{"world":<11}{"selector":<19}{"steps":>6}{"held-out MSE (stay, move)":>26}'
             f'{"R² stay":>17}{"R² move":>17}{"shares (%)":>12}{"noise (%)":>13}'
             f'{"rank corr.":>13}{"(learnable)":>13}{"(epistemic)":>13}']
    for row in summary:
        shares = '/'.join(f'{100 * s["mean"]:.0f}' for s in row['shares'].values())
        noise = row['shares'].get('noise')
        noise = '—' if noise is None else _cell(_percent(noise), '.1f')
        lines.append(
            f'{row["world"]:<11}{row["selector"]:<19}{row["steps"]:>6}'
            f'{_cell(row["error_learnable"], ".2e"):>26} {_cell(row["r2"]["stay"], ".3f"):>16}'
            f' {_cell(row["r2"]["move"], ".3f"):>16}{shares:>12} {noise:>12}'
            f'{_cell(row["rank_correlation"], ".2f"):>13}'
            f'{_cell(row["rank_correlation_learnable"], ".2f"):>13}'
            f'{_cell(row["rank_correlation_epistemic"], ".2f"):>13}')
    lines.append('shares: % of steps on stay/move[/noise]; ±: the 95 % interval over seeds; '
                 'distractor world: MSE and R² outside the noisy corner')
    return '\n'.join(lines)
