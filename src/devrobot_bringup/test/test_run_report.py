"""A learning run's report: held-out quality over steps first, losses, actions, frames."""

import importlib.util
import json

import pytest

from devrobot_bringup.cli import main

# a robot computer may build this package without torch (docs/ros.md); a mark, not a skip
# while importing (it would skip the whole folder under launch_testing)
pytestmark = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                reason='the world model needs torch')

TINY = ['--image-size', '32', '--dot-radius', '2', '--move-pixels', '5', '--batch-size', '4',
        '--warmup-transitions', '4', '--cnn-channels', '8', '--eval-states', '8',
        '--no-progress']


def test_the_report_leads_with_held_out_quality_and_tables_it(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--learn', '--steps', '12', '--eval-every', '4', '--out', str(out),
                 *TINY]) == 0
    records = [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]
    checks = [r for r in records if 'eval/r2_min' in r]
    steps = [r['step'] for r in checks]  # the learner's count: it learns one command late
    assert len(steps) == 3 and steps[1] - steps[0] == steps[2] - steps[1] == 4
    for record in checks:
        assert {'eval/stay_r2', 'eval/move_r2', 'eval/move_dot_error_px',
                'eval/action_discrimination'} <= set(record)
    page = (out / 'report.html').read_text()
    headings = ['Held-out quality over steps', 'held-out protocol: 8 states', 'Losses',
                'Where exploration went', 'Current, reconstructed and predicted frames',
                'Every other metric']
    positions = [page.index(heading) for heading in headings]
    assert positions == sorted(positions)
    held_out = page[positions[0]:positions[2]]
    assert 'eval/move_r2' in held_out and '<table>' in held_out
    assert '<th>action-blind</th>' in held_out and '<td>move: R²</td>' in held_out
    assert '<pre>' not in page
    losses = page[positions[2]:positions[3]]
    assert 'train/reconstruction_loss' in losses and 'grad_norms' not in losses
    assert 'L0 R0.12 0.2s' in page[positions[3]:positions[4]]  # the action-share legend


def test_no_checks_without_learning_on_the_simulator(tmp_path):
    out = tmp_path / 'run'
    assert main(['run', '--learn', '--steps', '6', '--eval-every', '0', '--out', str(out),
                 *TINY]) == 0
    records = (out / 'metrics.jsonl').read_text()
    assert 'eval/' not in records
    assert 'No held-out checks' in (out / 'report.html').read_text()
