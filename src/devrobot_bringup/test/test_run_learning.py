"""`devrobot run --learn`: the world model in the loop, its outputs, and resuming."""

import importlib.util
import json
import signal
import subprocess
import sys
import time

import pytest

from devrobot_bringup.cli import main

# a robot computer may build this package without torch (docs/ros.md)
pytestmark = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                reason='the world model needs torch')

TINY = ['--image-size', '32', '--dot-radius', '2', '--move-pixels', '5', '--batch-size', '4',
        '--warmup-transitions', '4', '--cnn-channels', '8', '--eval-states', '8',
        '--no-progress']


def metrics(out):
    return [json.loads(line) for line in (out / 'metrics.jsonl').read_text().splitlines()]


def test_learning_run_leaves_checkpoints_metrics_report_and_resumes(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--learn', '--steps', '12', '--out', str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert 'held-out protocol: 8 states' in printed and 'action-blind' in printed
    for name in ('checkpoints', 'metrics.jsonl', 'report.html', 'stats.json'):
        assert (out / name).exists(), name
    first = metrics(out)
    assert first[-1]['step'] == 12 and first[-1]['train/updates'] > 0
    assert 'train/reconstruction_loss' in first[-1]

    assert main(['run', '--learn', '--steps', '5', '--out', str(out), *TINY]) == 0
    resumed = metrics(out)[len(first):]
    assert [r['step'] for r in resumed] == [13, 14, 15, 16, 17]  # counters continued
    assert resumed[-1]['train/updates'] > first[-1]['train/updates']
    assert len(list((out / 'bags').iterdir())) == 2


def test_learning_flags_reach_the_learner_and_bad_ones_are_usage_errors(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--learn', '--steps', '3', '--out', str(out), '--policy', 'nope',
                 *TINY]) == 2
    assert 'unknown policy' in capsys.readouterr().err
    assert main(['run', '--learn', '--steps', '3', '--out', str(out), *TINY,
                 '--batch-size', '0']) == 2
    assert 'batch_size' in capsys.readouterr().err


def folder_state(folder):
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*')) if p.is_file()}


def test_another_image_size_is_refused_before_the_session_and_keeps_both_checkpoints(
        tmp_path, capsys):
    out = tmp_path / 'run'
    # every transition trains (none held back for learning progress): 2 saves in 8 steps
    flags = ['--eval-states', '0', '--checkpoint-every', '2', '--progress.held-back', '0']
    assert main(['run', '--learn', '--steps', '8', '--out', str(out), *TINY, *flags]) == 0
    checkpoints = out / 'checkpoints'
    before = folder_state(checkpoints)
    assert set(before) == {'checkpoint.pt', 'checkpoint_backup.pt'}
    bags_before = sorted((out / 'bags').iterdir())
    capsys.readouterr()
    other = [f if f != '32' else '64' for f in TINY]  # --image-size 64
    assert main(['run', '--learn', '--steps', '3', '--out', str(out), *other, *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f'devrobot run: error: the checkpoint in {checkpoints} was trained on 32 px '
                     'frames, not --image-size 64: use its size or another --out')
    assert folder_state(checkpoints) == before
    assert sorted((out / 'bags').iterdir()) == bags_before  # no session was started


def test_ctrl_c_stops_a_learning_run_with_its_checkpoint_saved(tmp_path):
    out = tmp_path / 'run'
    process = subprocess.Popen(
        [sys.executable, '-m', 'devrobot_bringup.cli', 'run', '--learn', '--steps', '100000',
         '--out', str(out), *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            (out / 'metrics.jsonl').exists() and len(metrics(out)) > 8):
        time.sleep(0.1)  # until some steps are learned, the trainer busy in the background
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert (out / 'checkpoints' / 'checkpoint.pt').is_file()
    logged = metrics(out)[-1]['step']
    stats = json.loads((out / 'stats.json').read_text())
    assert stats['steps'] >= logged > 0


def test_without_a_replay_ratio_the_run_prints_acting_and_learning_rates(tmp_path, capsys):
    out = tmp_path / 'run'
    assert main(['run', '--learn', '--steps', '40', '--out', str(out), *TINY,
                 '--updates-per-step', '-1']) == 0
    printed = capsys.readouterr().out
    rates = [line for line in printed.splitlines() if line.startswith('acting: ')]
    assert len(rates) == 1 and 'steps/s; learner: ' in rates[0] and 'samples/s' in rates[0]
    assert metrics(out)[-1]['step'] == 40
