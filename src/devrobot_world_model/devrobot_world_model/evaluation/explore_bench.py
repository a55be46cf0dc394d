"""Exploration measured: the same learner under a selector, on the dot world, scored as it goes.

`run_cell` drives the simulator (plain, or with the distractor's "noisy TV" command) with a
fresh learner whose policy is one selector, and every `eval_every` steps scores it on held-out
states (`evaluation.evaluate`, states from seed `1000 + seed`):
- `error_learnable`: pixel MSE averaged over the learnable actions (stay, move), and `r2` per
  action. On the distractor world the corner where the noise lives is left out of both
  prediction and target: what is learnable there is the dot.
  `error_learnable_full` and `r2_full` score the whole frame, corner included: they count
  any noise a model still paints into the corner after "stay" or "move", whose outcomes
  are clean.
- `shares`: the share of the steps since the previous point spent on each action;
- `rank_correlation`: Spearman's correlation, over `score_states` held-out states x actions,
  between the score the policy gives (state, action) and the pixel MSE of the model's
  prediction against the outcome drawn (fixed selectors report the `uncertainty` scores);
  `rank_correlation_learnable` the same over the learnable actions only;
  `rank_correlation_epistemic` against the error the model could still remove: the pixel MSE
  to the expected outcome (the mean of EXPECTATION_DRAWS draws: for the noisy TV, a grey
  corner), which for a deterministic action is the same error.
`summarise` turns the runs of several seeds into means with 95 % intervals (Student's t), at
the last evaluation or at an earlier one.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from devrobot_core.session_loop import run_session
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import Effect, ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.evaluation.evaluation import action_names, evaluate

WORLDS = ('plain', 'distractor')
EXPECTATION_DRAWS = 32  # outcomes averaged into the expected one (the noisy TV's grey corner)
LEARNABLE = (Effect.STAY.value, Effect.MOVE.value)
CORRELATIONS = ('rank_correlation', 'rank_correlation_learnable', 'rank_correlation_epistemic')
# Student's t, two-sided 95 %, by degrees of freedom (1-30); 1.96 beyond.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def world_config(world: str, seed: int, base: ToroidalDotConfig) -> ToroidalDotConfig:
    if world not in WORLDS:
        raise ValueError(f'unknown world {world!r}: expected one of {", ".join(WORLDS)}')
    return dataclasses.replace(base, seed=seed, distractor=world == 'distractor')


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation (ties get their mean rank); NaN when either is constant."""
    ranks = [_ranks(np.asarray(x, dtype=np.float64)) for x in (a, b)]
    if min(r.std() for r in ranks) == 0:
        return math.nan
    return float(np.corrcoef(*ranks)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind='stable')
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / np.bincount(inverse)[inverse]


def mean_interval(values) -> dict:
    """Mean and 95 % interval half-width over seeds (None with one value); NaNs left out."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if values.size == 0:
        return {'mean': None, 'ci95': None, 'n': 0}
    half = None
    if values.size > 1:
        t = T_975[values.size - 2] if values.size - 1 <= len(T_975) else 1.96
        half = float(t * values.std(ddof=1) / math.sqrt(values.size))
    return {'mean': float(values.mean()), 'ci95': half, 'n': int(values.size)}


class ActionLog:
    """A session logger that keeps only the actions taken (step -> action)."""

    def __init__(self):
        self.actions = []

    def log(self, metrics: dict, step: int) -> None:
        self.actions.append(int(metrics['act/action']))


def realised_errors(predict, world: ToroidalDotWorld, states: np.ndarray) -> tuple:
    """The pixel MSE `[S, A]` of `predict` from each state per action, two ways.

    Returns the frames `[S, H, W, 3]`, the errors against the outcome drawn, and against the
    expected outcome (the mean of EXPECTATION_DRAWS draws).
    """
    def render(x, y, effect=None):
        world.reset()
        world.dot_x, world.dot_y = int(x), int(y)
        if effect is not None:
            world.apply(effect)
        return world.render().astype(np.float64)
    frames = np.stack([render(x, y) for x, y in states]).astype(np.uint8)
    drawn, expected = (np.zeros((len(states), len(world.effects))) for _ in range(2))
    for action, effect in enumerate(world.effects):
        predicted = predict(frames, np.full(len(states), action)).astype(np.float64)
        for row, (x, y) in enumerate(states):
            draws = np.stack([render(x, y, effect) for _ in range(EXPECTATION_DRAWS)])
            drawn[row, action] = np.mean((predicted[row] - draws[0]) ** 2) / 255.0 ** 2
            expected[row, action] = np.mean(
                (predicted[row] - draws.mean(axis=0)) ** 2) / 255.0 ** 2
    return frames, drawn, expected


def learnable_figures(predict_fn, sim: ToroidalDotConfig, seed: int, states: int,
                      exclude_corner: bool = False) -> dict:
    """`error` (pixel MSE over the learnable actions) and `r2` per action on held-out states."""
    result = evaluate(predict_fn, sim, states=states, seed=1000 + seed, horizons=(1,),
                      exclude_corner=exclude_corner)
    per_action = result['per_action']
    return {'error': float(np.mean([per_action[n]['pixel_mse'] for n in LEARNABLE])),
            'r2': {name: scores['r2'] for name, scores in per_action.items()}}


def score_point(learner, sim: ToroidalDotConfig, seed: int, eval_states: int,
                score_states: int, predict_fn) -> dict:
    """The held-out figures of the learner now (call inside `learner.quiet()`)."""
    full = learnable_figures(predict_fn, sim, seed, eval_states)
    masked = learnable_figures(predict_fn, sim, seed, eval_states,
                               exclude_corner=True) if sim.distractor else full
    point = {'error_learnable': masked['error'], 'r2': masked['r2'],
             'error_learnable_full': full['error'], 'r2_full': full['r2']}
    if score_states:
        world = ToroidalDotWorld(dataclasses.replace(sim, seed=2000 + seed))
        states = np.random.default_rng(2000 + seed).integers(0, sim.image_size,
                                                             (score_states, 2))
        frames, drawn, expected = realised_errors(predict_fn, world, states)
        scores = np.array([learner.policy.scored(frame)[0] for frame in frames])  # [S, A]
        learnable = [action_names(world).index(n) for n in LEARNABLE]
        point['rank_correlation'] = rank_correlation(scores.ravel(), drawn.ravel())
        point['rank_correlation_learnable'] = rank_correlation(
            scores[:, learnable].ravel(), drawn[:, learnable].ravel())
        point['rank_correlation_epistemic'] = rank_correlation(scores.ravel(),
                                                               expected.ravel())
    return point


def evaluation_steps(steps: int, eval_every: int) -> set:
    """The steps a run of `steps` is evaluated at: every `eval_every` steps and the last."""
    return set(range(eval_every, steps + 1, eval_every)) | {steps}


def run_cell(make_learner, predict_fn_of, world: str, selector: str, seed: int, steps: int,
             eval_every: int, eval_states: int, score_states: int,
             base: ToroidalDotConfig) -> dict:
    """One learner under `selector` on `world`, evaluated every `eval_every` steps and at the end.

    `make_learner(action_space, selector, seed)` builds a fresh learner; `predict_fn_of(learner)`
    adapts its model to the protocol's `predict_fn`.
    """
    sim = world_config(world, seed, base)
    robot = SimRobot(sim)
    learner = make_learner(robot.action_space, selector, seed)
    names = action_names(ToroidalDotWorld(sim))
    log, curve = ActionLog(), []
    points = evaluation_steps(steps, eval_every)

    def on_step(step: int) -> None:
        if step not in points:
            return
        window = log.actions[curve[-1]['step'] if curve else 0:]
        with learner.quiet():
            point = score_point(learner, sim, seed, eval_states, score_states,
                                predict_fn_of(learner))
        counts = np.bincount(window, minlength=len(names))
        curve.append({'step': step, **point,
                      'shares': dict(zip(names, (counts / max(counts.sum(), 1)).tolist()))})
    try:
        run_session(robot, learner.policy, steps, learner=learner, logger=log, on_step=on_step)
    finally:
        learner.close()
    counts = np.bincount(log.actions, minlength=len(names))
    return {'world': world, 'selector': selector, 'seed': seed, 'steps': steps,
            'shares': dict(zip(names, (counts / counts.sum()).tolist())), 'curve': curve,
            **{key: mean_over_points(curve, key)
               for key in CORRELATIONS}}


def mean_over_points(curve: list, key: str):
    """The mean of `key` over the evaluation points where it is finite; None if nowhere."""
    values = [p[key] for p in curve if p.get(key) is not None and np.isfinite(p[key])]
    return float(np.mean(values)) if values else None


def summarise(runs: list, at: int | None = None) -> list:
    """One row per (world, selector): the figures at step `at`, mean and 95 % CI over seeds.

    `at` defaults to the last evaluation; shares and correlations cover the steps up to it.
    """
    rows = []
    cells = sorted({(r['world'], r['selector']) for r in runs},
                   key=lambda c: (WORLDS.index(c[0]), [r['selector'] for r in runs].index(c[1])))
    for world, selector in cells:
        group = [r for r in runs if (r['world'], r['selector']) == (world, selector)]
        curves_until = [points_until(r['curve'], at) for r in group]
        last = [points[-1] for points in curves_until]
        shares = [shares_until(points) for points in curves_until]
        names = list(group[0]['shares'])
        row = {'world': world, 'selector': selector, 'seeds': [r['seed'] for r in group],
               'steps': last[0]['step'],
               'error_learnable': mean_interval([p['error_learnable'] for p in last]),
               'r2': {n: mean_interval([p['r2'][n] for p in last]) for n in names},
               'error_learnable_full': mean_interval(
                   [p['error_learnable_full'] for p in last]),
               'r2_full': {n: mean_interval([p['r2_full'][n] for p in last]) for n in names},
               'shares': {n: mean_interval([s[n] for s in shares]) for n in names},
               **{key: mean_interval([mean_over_points(points, key)
                                      for points in curves_until])
                  for key in CORRELATIONS}}
        rows.append(row)
    return rows


def points_until(curve: list, at: int | None) -> list:
    """The evaluation points up to step `at` (all when None); `at` must be one of them."""
    if at is None:
        return curve
    if at not in [p['step'] for p in curve]:
        raise ValueError(f'no evaluation at step {at}: the runs were evaluated at steps '
                         f'{", ".join(str(p["step"]) for p in curve)}')
    return [p for p in curve if p['step'] <= at]


def shares_until(points: list) -> dict:
    """The share of each action over the steps up to the last point, from the windows' shares."""
    starts = [0] + [p['step'] for p in points[:-1]]
    lengths = [p['step'] - start for p, start in zip(points, starts)]
    return {name: sum(p['shares'][name] * n for p, n in zip(points, lengths)) / sum(lengths)
            for name in points[0]['shares']}


def curves(runs: list) -> dict:
    """(world, selector) -> steps and the mean and 95 % CI of `error_learnable` at each."""
    out = {}
    for run in runs:
        out.setdefault((run['world'], run['selector']), []).append(run['curve'])
    result = {}
    for key, group in out.items():
        steps = [p['step'] for p in group[0]]
        stats = [mean_interval([c[i]['error_learnable'] for c in group if i < len(c)])
                 for i in range(len(steps))]
        result[key] = {'steps': steps, 'mean': [s['mean'] for s in stats],
                       'ci95': [s['ci95'] for s in stats]}
    return result
