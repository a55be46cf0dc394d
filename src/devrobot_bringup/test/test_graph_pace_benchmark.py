"""benchmarks/graph_pace.py runs and prints every figure (its numbers are not checked here).

The figures in docs/ros.md come from it; a change to the rclpy double or the nodes must not
leave it broken until someone measures again.
"""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                reason='the world model needs torch')

BENCHMARK = pathlib.Path(__file__).resolve().parents[3] / 'benchmarks' / 'graph_pace.py'


@pytest.mark.skipif(not BENCHMARK.exists(), reason='a package build without the checkout')
def test_graph_pace_prints_every_figure_on_a_tiny_run():
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), '--seconds', '2', '--image-size', '32',
         '--standalone-seconds', '0.5', '--replay'],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ('commands_per_s', 'state_timeouts', 'self_preemptions', 'image_to_command_ms',
                'command_to_state_ms', 'callback_ms', 'learner_share',
                'replay_transitions_in_recording', 'replay_transitions_learned'):
        assert key in figures, key
    assert figures['commands'] > 0
    assert figures['replay_transitions_learned'] == figures['replay_transitions_in_recording']
