"""The world-model node's pure pieces: its config, the interactive gate, inspection helpers."""

import numpy as np
import pytest

from devrobot_core.exploration import ExplorationCore, SelectorPolicy
from devrobot_core.motor import Frame, MotorOutcome, MotorStatus
from devrobot_core.selectors import constant_selector
from devrobot_world_model.learning.learner import FREE_RUNNING, LearnerConfig
from devrobot_world_model.node import inspection
from devrobot_world_model.node.command_watch import overdue
from devrobot_world_model.node.node_config import build_policy, WorldModelNodeConfig
from devrobot_world_model.node.proposal_gate import NothingProposed, ProposalGate


@pytest.mark.parametrize('fields', [
    {'action_space': [0.0, 0.0]}, {'action_space': [0.0, 0.0, -0.2]},
    {'robot_type': ''}, {'inspect_every_frames': -1},
    {'observe_only': True, 'interactive': True}, {'state_timeout_s': 0.0},
])
def test_config_refuses_nonsense(fields):
    with pytest.raises(ValueError):
        WorldModelNodeConfig(**fields)


def test_checkpoint_folder_is_per_robot_unless_given(tmp_path):
    assert WorldModelNodeConfig(checkpoint_root=str(tmp_path)).checkpoint_folder() == \
        tmp_path / 'toroidal_dot'
    assert WorldModelNodeConfig(checkpoint_dir=str(tmp_path / 'x')).checkpoint_folder() == \
        tmp_path / 'x'
    assert '~' not in str(WorldModelNodeConfig().checkpoint_folder())


def test_a_plain_selector_without_learning_needs_no_learner():
    not_learning = WorldModelNodeConfig(learning=False)
    policy = build_policy(not_learning, LearnerConfig(policy='constant:1'))
    assert isinstance(policy, SelectorPolicy) and policy.select(None)[0] == 1
    with pytest.raises(ValueError):
        build_policy(not_learning, LearnerConfig(policy='constant:9'))


def test_the_learner_uses_the_node_folders_and_never_trains_when_learning_is_off(tmp_path):
    config = WorldModelNodeConfig(checkpoint_root=str(tmp_path / 'ckpt'), learning=False)
    learner = build_policy(config, LearnerConfig(quality_gate=True))
    try:
        assert learner.checkpoint_dir == tmp_path / 'ckpt' / 'toroidal_dot'
        assert learner.config.updates_per_step == 0.0 and not learner.config.quality_gate
    finally:
        learner.close()
    learning = build_policy(WorldModelNodeConfig(checkpoint_root=str(tmp_path / 'ckpt')),
                            LearnerConfig(updates_per_step=0.5))
    assert learning.config.updates_per_step == FREE_RUNNING  # the node's learner runs free
    learning.close()


def _gate(interactive=True):
    core = ExplorationCore(WorldModelNodeConfig().commands(),
                           SelectorPolicy(constant_selector(0)))
    return core, ProposalGate(core, interactive)


def test_without_interaction_commands_pass_straight_through():
    core, gate = _gate(interactive=False)
    command = core.on_frame(Frame(np.zeros((4, 4, 3), np.uint8), 10), 10)
    assert gate.offer(command, 0) is command and gate.pending is None


def test_an_accepted_proposal_is_stamped_at_the_decision_and_frees_the_core_when_done():
    core, gate = _gate()
    proposed = core.on_frame(Frame(np.zeros((4, 4, 3), np.uint8), 10), 10)
    assert gate.offer(proposed, 0) is None and gate.pending == proposed
    assert core.on_frame(Frame(np.zeros((4, 4, 3), np.uint8), 20), 20) is None  # waiting
    sent = gate.accept(5_000)
    assert sent.stamp_ns == 5_000 and sent.same_action(proposed)
    with pytest.raises(NothingProposed):
        gate.accept(6_000)
    core.on_outcome(MotorOutcome(sent, 0.0, 0.0, 5_000, 6_000, MotorStatus.COMPLETED))
    assert core.in_flight is None


def test_an_override_sends_another_action_and_bad_indices_are_refused():
    core, gate = _gate()
    gate.offer(core.on_frame(Frame(np.zeros((4, 4, 3), np.uint8), 10), 10), 0)
    with pytest.raises(ValueError):
        gate.override(2, 100)
    assert gate.pending is not None
    sent = gate.override(1, 100)
    assert sent.same_action(core.action_space[1]) and core.in_flight == sent


def test_to_rgb8_accepts_the_usual_layouts():
    chw = np.zeros((3, 2, 5), np.float32)
    chw[0] = 1.0
    out = inspection.to_rgb8(chw)
    assert out.shape == (2, 5, 3) and out.dtype == np.uint8 and out[0, 0].tolist() == [255, 0, 0]
    assert inspection.to_rgb8(np.ones((1, 2, 2, 3)) * 2.0).max() == 255  # clipped
    assert inspection.to_rgb8(np.full((2, 2, 3), np.nan)).max() == 0
    with pytest.raises(ValueError):
        inspection.to_rgb8(np.zeros((2, 2)))
    with pytest.raises(ValueError):
        inspection.to_rgb8(np.zeros((4, 2, 2)))


def test_metric_topics_are_valid_ros_names():
    assert inspection.metric_topic('train/recon_loss') == 'world_model/metrics/train/recon_loss'
    assert inspection.metric_topic('perf/steps-per s') == 'world_model/metrics/perf/steps_per_s'
    assert inspection.metric_topic('act//3d__x/') == 'world_model/metrics/act/n3d_x'
    with pytest.raises(ValueError):
        inspection.metric_topic('//')


def test_numeric_metrics_merge_and_drop_text():
    merged = inspection.numeric_metrics([{'a': 1, 'b': 'x'}, None, {'a': 2.5, 'c': True}])
    assert merged == {'a': 2.5, 'c': 1.0}
    assert inspection.non_finite_keys({'a': float('inf'), 'b': 0.0}) == ['a']


def test_a_command_is_overdue_after_its_duration_plus_the_grace():
    command = WorldModelNodeConfig().commands()[1].stamped(1_000_000_000)  # 0.2 s long
    assert not overdue(None, 10 ** 12, 1.0)
    assert not overdue(command, 2_200_000_000, 1.0)
    assert overdue(command, 2_200_000_001, 1.0)
