"""PNG plots of `devrobot explore-bench`: held-out error against steps, shares, correlations.

matplotlib is imported here only (the Agg backend: no display needed).
"""

from __future__ import annotations

import pathlib

import numpy as np

from devrobot_world_model.evaluation.explore_bench import curves, WORLDS


def write_plots(runs: list, summary: list, folder) -> list:
    """Write `heldout_error.png`, `action_shares.png` and `rank_correlation.png`; their paths."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    worlds = [w for w in WORLDS if any(r['world'] == w for r in summary)]
    selectors = list(dict.fromkeys(r['selector'] for r in summary))
    paths = []

    figure, axes = plt.subplots(1, len(worlds), figsize=(6 * len(worlds), 4), squeeze=False)
    for axis, world in zip(axes[0], worlds):
        for selector, curve in ((s, curves(runs).get((world, s))) for s in selectors):
            if curve is None:
                continue
            steps, mean = np.array(curve['steps']), np.array(curve['mean'], dtype=float)
            half = np.array([np.nan if c is None else c for c in curve['ci95']], dtype=float)
            line, = axis.plot(steps, mean, label=selector)
            axis.fill_between(steps, mean - half, mean + half, color=line.get_color(),
                              alpha=0.15)
        axis.set(title=f'{world} world', xlabel='environment steps', yscale='log',
                 ylabel='held-out pixel MSE (stay, move)')
        axis.legend(fontsize='small')
    paths.append(_save(figure, folder / 'heldout_error.png', plt))

    figure, axes = plt.subplots(1, len(worlds), figsize=(6 * len(worlds), 4), squeeze=False)
    for axis, world in zip(axes[0], worlds):
        rows = [r for r in summary if r['world'] == world]
        names = list(rows[0]['shares'])
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            means = [100 * r['shares'][name]['mean'] for r in rows]
            errors = [100 * (r['shares'][name]['ci95'] or 0) for r in rows]
            axis.bar(np.arange(len(rows)) + k * width, means, width, yerr=errors, label=name)
        axis.set_xticks(np.arange(len(rows)) + 0.4 - width / 2,
                        [r['selector'] for r in rows], rotation=30, ha='right')
        axis.set(title=f'{world} world: share of steps', ylabel='% of steps', ylim=(0, 100))
        axis.legend(fontsize='small')
    paths.append(_save(figure, folder / 'action_shares.png', plt))

    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(worlds)
    for k, world in enumerate(worlds):
        stats = [next((r['rank_correlation'] for r in summary
                       if (r['world'], r['selector']) == (world, s)), None) for s in selectors]
        means = [np.nan if s is None or s['mean'] is None else s['mean'] for s in stats]
        errors = [0 if s is None or s['ci95'] is None else s['ci95'] for s in stats]
        axis.bar(np.arange(len(selectors)) + k * width, means, width, yerr=errors, label=world)
    axis.axhline(0.5, color='grey', linestyle='--', linewidth=1)
    axis.set_xticks(np.arange(len(selectors)) + 0.4 - width / 2, selectors, rotation=30,
                    ha='right')
    axis.set(title='rank correlation: score vs realised held-out error', ylabel='Spearman',
             ylim=(-1, 1))
    axis.legend(fontsize='small')
    paths.append(_save(figure, folder / 'rank_correlation.png', plt))
    return paths


def _save(figure, path: pathlib.Path, plt) -> pathlib.Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
