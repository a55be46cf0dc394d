"""The sim + world-model graph of sim.launch.py, wired through the rclpy double.

The same scenario as test_sim_graph_launch.py (which runs it on real ROS 2): commands executed,
a state per command, learning, a checkpoint written on shutdown. Here the middleware is the
double's in-process graph and the clock is simulated.
"""

import importlib.util
import time
from pathlib import Path

import pytest

from devrobot_core.testing import rclpy_double

from devrobot_core.conversions import motor_outcome_from_msg
from devrobot_core.motor import MotorStatus

# a robot computer may build this package without torch (docs/ros.md)
pytestmark = pytest.mark.skipif(importlib.util.find_spec('torch') is None,
                                reason='the world model needs torch')

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'sim.yaml'
# A 16 px world and a tiny model, so a few dozen learning steps take seconds on a CPU.
SMALL_WORLD = {'image_size': 16, 'dot_radius': 2, 'move_pixels': 4}
TINY_MODEL = {'cnn_patch_size': 4, 'cnn_channels': 16, 'cnn_encoder_blocks': 1,
              'cnn_decoder_blocks': 1, 'tf_dim': 16, 'tf_depth': 1, 'tf_heads': 2,
              'batch_size': 4, 'warmup_transitions': 4, 'checkpoint_every': 10,
              'inspect_every_frames': 5}


def test_sim_and_world_model_explore_learn_and_checkpoint(monkeypatch, tmp_path):
    import torch
    torch.set_num_threads(1)
    ros = rclpy_double.install(monkeypatch)
    ros.load_params_file(CONFIG)
    ros.overrides['sim_node'].update(SMALL_WORLD)
    ros.overrides['world_model'].update(TINY_MODEL, checkpoint_root=str(tmp_path / 'ckpt'),
                                        image_size=SMALL_WORLD['image_size'])
    sim_module = rclpy_double.import_fresh(monkeypatch, 'devrobot_sim.sim_node')
    wm_module = rclpy_double.import_fresh(monkeypatch,
                                          'devrobot_world_model.node.world_model_node')
    import rclpy
    rclpy.init()
    sim, world_model = sim_module.SimNode(), wm_module.WorldModelNode()
    try:
        while len(ros.messages('motor/state')) < 30:
            ros.advance(0.05)
            assert ros.now_ns < 1_700_000_000 * 10 ** 9 + 60 * 10 ** 9, 'the loop stalled'
        # 0.2 s commands: the robot keeps its pace (with the image acted on only at the next
        # idle tick, 30 commands took 15 s)
        assert ros.now_ns / 1e9 - 1_700_000_000 <= 30 * 0.25
        # Acting never waits for learning: on a busy machine 30 steps can pass before the
        # learner's first update, so the graph runs on until one is published.
        deadline = time.monotonic() + 120
        while not ros.messages('world_model/metrics/train/updates'):
            ros.advance(0.05)
            time.sleep(0.01)
            assert time.monotonic() < deadline, 'the learner never updated'
    finally:
        world_model.close()
        sim.close()
    states = [motor_outcome_from_msg(m) for m in ros.messages('motor/state')]
    commands = ros.messages('motor/command')
    assert len(commands) in (len(states), len(states) + 1)
    assert {s.status for s in states} <= {MotorStatus.COMPLETED, MotorStatus.STOPPED}
    assert sum(s.status is MotorStatus.COMPLETED for s in states) >= 30
    assert world_model.policy.steps >= 29  # transitions learned from
    assert world_model.policy.updates > 0
    from devrobot_world_model.learning.checkpoint_io import has_checkpoint
    assert has_checkpoint(tmp_path / 'ckpt' / 'toroidal_dot')
    resumed = wm_module.WorldModelNode()  # a restarted node picks the learning up again
    assert resumed.policy.steps == world_model.policy.steps
    resumed.close()
    metrics = (tmp_path / 'runs' / 'toroidal_dot' / 'metrics.jsonl').read_text().splitlines()
    # the last records may hold only the newest selection's figures: the learner's arrive
    # from its worker when an update is done
    assert len(metrics) >= 29 and any('"train/total_loss"' in m for m in metrics)
    assert ros.messages('world_model/reconstruction') and ros.messages('/diagnostics')
    assert ros.messages('world_model/metrics/train/updates')
