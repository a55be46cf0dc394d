"""`devrobot explore-bench` at tiny sizes: every column, for every selector and world."""

import argparse
import json

import numpy as np
import pytest

from devrobot_core.errors import UsageError
from devrobot_world_model.commands import explore_bench_command
from devrobot_world_model.evaluation import explore_bench

TINY = ['--image-size', '16', '--dot-radius', '1', '--move-pixels', '3', '--batch-size', '4',
        '--warmup-transitions', '4', '--cnn-patch-size', '4', '--cnn-channels', '8',
        '--cnn-encoder-blocks', '1', '--cnn-decoder-blocks', '1', '--tf-dim', '8',
        '--tf-depth', '1', '--tf-heads', '2', '--ensemble-hidden', '4',
        '--progress-every', '2', '--progress-window', '2', '--progress-held-back', '2',
        '--augment-shift-px', '2', '--distractor-size', '4']


def parse(*extra):
    parser = argparse.ArgumentParser()
    explore_bench_command.add_arguments(parser)
    return parser.parse_args([*TINY, *extra])


def test_the_bench_at_tiny_sizes_produces_every_column(capsys):
    args = parse('--json', '--seeds', '0', '1', '--steps', '12', '--eval-every', '6',
                 '--eval-states', '8', '--score-states', '4')
    assert explore_bench_command.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    summary = result['summary']
    cells = {(row['world'], row['selector']) for row in summary}
    assert cells == {(w, s) for w in ('plain', 'distractor')
                     for s in explore_bench_command.SELECTORS}
    for row in summary:
        assert row['seeds'] == [0, 1] and row['steps'] == 12
        names = ['stay', 'move'] + (['noise'] if row['world'] == 'distractor' else [])
        assert list(row['shares']) == names and list(row['r2']) == names
        assert list(row['r2_full']) == names
        for stat in [row['error_learnable'], *row['r2'].values(), *row['shares'].values(),
                     row['error_learnable_full'], *row['r2_full'].values()]:
            assert stat['n'] == 2 and stat['mean'] is not None and stat['ci95'] is not None
        assert sum(s['mean'] for s in row['shares'].values()) == pytest.approx(1.0)
        for key in explore_bench.CORRELATIONS:
            assert key in row
    assert len(result['runs']) == 2 * 6 * 2
    run = result['runs'][0]
    assert [p['step'] for p in run['curve']] == [6, 12]
    for point in run['curve']:
        assert {'error_learnable', 'r2', 'error_learnable_full', 'r2_full', 'shares',
                *explore_bench.CORRELATIONS} <= set(point)
    fixed = next(r for r in result['runs'] if r['selector'] == 'sequence:alternate')
    assert fixed['shares'] == {'stay': 0.5, 'move': 0.5}


def test_the_table_and_the_plots(tmp_path, capsys):
    pytest.importorskip('matplotlib')
    args = parse('--seeds', '0', '--steps', '4', '--eval-every', '2', '--eval-states', '4',
                 '--score-states', '0', '--selectors', 'random', 'uncertainty',
                 '--plot', str(tmp_path / 'plots'), '--at', '2', '4')
    assert explore_bench_command.main(args) == 0
    table = capsys.readouterr().out
    assert 'distractor' in table and 'uncertainty' in table and 'R² move' in table
    assert '(learnable)' in table and '(epistemic)' in table
    rows = [line.split() for line in table.splitlines()[1:-1]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (w, s, at) for at in ('2', '4') for w in ('plain', 'distractor')
        for s in ('random', 'uncertainty')]
    for name in ('heldout_error.png', 'action_shares.png', 'rank_correlation.png'):
        assert (tmp_path / 'plots' / name).read_bytes()[:4] == b'\x89PNG'


def test_a_runs_file_resumes_a_bench_and_keeps_settings_apart(tmp_path, capsys, monkeypatch):
    runs_file = tmp_path / 'runs.jsonl'
    small = ['--json', '--steps', '4', '--eval-every', '4', '--eval-states', '4',
             '--score-states', '0', '--selectors', 'random', '--worlds', 'plain',
             '--runs-file', str(runs_file)]
    assert explore_bench_command.main(parse(*small, '--seeds', '0')) == 0
    first = json.loads(capsys.readouterr().out)['runs']
    assert len(runs_file.read_text().splitlines()) == 1
    made = []
    original = explore_bench.run_cell
    monkeypatch.setattr(explore_bench, 'run_cell', lambda *a, **k: made.append(a[4]) or
                        original(*a, **k))
    assert explore_bench_command.main(parse(*small, '--seeds', '0', '1')) == 0
    result = json.loads(capsys.readouterr().out)
    assert made == [1]  # seed 0 came from the file
    assert result['runs'][0] == first[0] and result['summary'][0]['seeds'] == [0, 1]
    assert explore_bench_command.main(parse(*small, '--seeds', '0', '--batch-size', '2')) == 0
    assert made == [1, 0]  # other settings: run again
    assert len(runs_file.read_text().splitlines()) == 3


@pytest.mark.parametrize('flags', [['--steps', '0'], ['--selectors', 'curious'],
                                   ['--score-states', '-1'], ['--distractor-size', '40'],
                                   ['--steps', '12', '--eval-every', '5', '--at', '6']])
def test_bad_flags_are_one_line(flags):
    with pytest.raises(UsageError):
        explore_bench_command.main(parse(*flags))


def test_the_noisy_corner_is_left_out_of_the_learnable_figures_and_expected_outcomes():
    from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld
    sim = ToroidalDotConfig(image_size=16, dot_radius=1, move_pixels=3, distractor=True,
                            distractor_size=4, seed=0)

    def corner_painter(frames, actions):  # right about the dot, paints the corner white
        out = []
        for frame, action in zip(frames, actions):
            moved = np.roll(frame, 3, axis=1) if action == 1 else frame.copy()
            moved[:4, :4] = 255
            out.append(moved)
        return np.stack(out)
    masked = explore_bench.learnable_figures(corner_painter, sim, 0, 16, exclude_corner=True)
    full = explore_bench.learnable_figures(corner_painter, sim, 0, 16)
    assert masked['error'] == 0.0 and masked['r2']['move'] == pytest.approx(1.0)
    assert full['error'] > 0.01 and full['r2']['move'] < 0.5
    world = ToroidalDotWorld(sim)
    states = np.array([[8, 8], [10, 3]])

    def best_guess(frames, actions):  # exact for stay and move, the grey mean for the TV
        out = []
        for frame, action in zip(frames, actions):
            out.append(np.roll(frame, 3, axis=1) if action == 1 else frame.copy())
            if action == 2:
                out[-1][:4, :4] = 128
        return np.stack(out)
    frames, drawn, expected = explore_bench.realised_errors(best_guess, world, states)
    assert drawn[:, :2].tolist() == [[0.0, 0.0], [0.0, 0.0]] == expected[:, :2].tolist()
    # the noisy TV: the drawn outcome is far, the expected one near (nothing left to learn)
    assert (drawn[:, 2] > 5 * expected[:, 2]).all()


def synthetic_run(seed, errors, windows, correlations):
    """A run evaluated at steps 10, 20, 40 with these errors, window shares and correlations."""
    curve = [{'step': step, 'error_learnable': error, 'error_learnable_full': error,
              'r2': {'stay': 1 - error, 'move': 1 - error},
              'r2_full': {'stay': 1 - error, 'move': 1 - error},
              'shares': {'stay': stay, 'move': 1 - stay},
              **{key: value for key in explore_bench.CORRELATIONS}}
             for step, error, stay, value in zip((10, 20, 40), errors, windows, correlations)]
    return {'world': 'plain', 'selector': 'random', 'seed': seed, 'steps': 40,
            'shares': {'stay': 0.25, 'move': 0.75}, 'curve': curve}


def test_a_summary_at_an_earlier_evaluation_counts_the_steps_up_to_it():
    runs = [synthetic_run(0, (0.3, 0.2, 0.1), (1.0, 0.0, 0.0), (0.2, 0.4, 0.9)),
            synthetic_run(1, (0.5, 0.4, 0.3), (1.0, 0.0, 0.0), (0.4, 0.6, 0.9))]
    at_20, = explore_bench.summarise(runs, 20)
    last, = explore_bench.summarise(runs)
    assert at_20['steps'] == 20 and last['steps'] == 40
    assert at_20['error_learnable']['mean'] == pytest.approx(0.3)
    assert last['error_learnable']['mean'] == pytest.approx(0.2)
    # 10 steps all "stay", then 10 (or 30) all "move"
    assert at_20['shares']['stay']['mean'] == pytest.approx(0.5)
    assert last['shares']['stay']['mean'] == pytest.approx(0.25)
    assert at_20['rank_correlation']['mean'] == pytest.approx(0.4)  # (0.3 + 0.5) / 2
    with pytest.raises(ValueError, match='no evaluation at step 30'):
        explore_bench.summarise(runs, 30)


def test_rank_correlation_and_intervals():
    assert explore_bench.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1)
    assert explore_bench.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1)
    assert explore_bench.rank_correlation([1, 1, 2], [5, 6, 7]) == pytest.approx(0.866, abs=1e-3)
    assert np.isnan(explore_bench.rank_correlation([1, 1, 1], [1, 2, 3]))
    stat = explore_bench.mean_interval([1.0, 2.0, 3.0])
    assert stat['mean'] == 2.0 and stat['ci95'] == pytest.approx(4.303 / np.sqrt(3))
    assert explore_bench.mean_interval([5.0])['ci95'] is None
    assert explore_bench.mean_interval([None, float('nan')])['mean'] is None
