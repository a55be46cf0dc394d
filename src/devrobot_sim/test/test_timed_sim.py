"""Timed commands in the simulated world: completion, preemption, rejection, stop."""

import numpy as np
import pytest

from devrobot_core.motor import MotorCommand, MotorStatus
from devrobot_sim.timed_sim import SimNodeConfig, TimedSimulation
from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld


@pytest.fixture
def sim():
    return TimedSimulation(ToroidalDotWorld(ToroidalDotConfig(seed=3)))


def test_a_command_changes_the_world_only_when_it_completes(sim):
    stay, move = sim.world.action_space
    before = sim.world.render()
    assert sim.submit(move, 1_000) == []
    assert sim.busy and sim.due_ns == 1_000 + 200_000_000
    assert np.array_equal(sim.world.render(), before)
    outcome = sim.complete(sim.due_ns)
    assert outcome.status is MotorStatus.COMPLETED and outcome.reason == ''
    assert (outcome.start_ns, outcome.end_ns) == (1_000, 200_001_000)
    assert np.array_equal(sim.world.render(), np.roll(before, 27, axis=1))
    assert not sim.busy and sim.complete(5) is None


def test_a_newer_command_preempts_without_moving_the_dot(sim):
    stay, move = sim.world.action_space
    before = sim.world.render()
    sim.submit(move, 0)
    preempted, = sim.submit(stay, 50)
    assert preempted.status is MotorStatus.PREEMPTED and preempted.command == move
    assert preempted.end_ns == 50 and 'newer command' in preempted.reason
    assert sim.running_command == stay
    sim.complete(sim.due_ns)
    assert np.array_equal(sim.world.render(), before)


def test_commands_outside_the_action_space_are_rejected_and_leave_the_running_one(sim):
    stay, move = sim.world.action_space
    sim.submit(move, 0)
    rejected, = sim.submit(MotorCommand(1.0, 1.0, 0.2), 10)
    assert rejected.status is MotorStatus.REJECTED_INVALID
    assert (rejected.left, rejected.right) == (0.0, 0.0) and 'action space' in rejected.reason
    nan, = sim.submit(MotorCommand(float('nan'), 0.0, 0.2), 11)
    assert nan.status is MotorStatus.REJECTED_INVALID
    assert sim.running_command == move


def test_stop_abandons_the_running_command(sim):
    assert sim.stop(0, 'bye') is None
    sim.submit(sim.world.action_space[1], 0)
    stopped = sim.stop(7, 'bye')
    assert stopped.status is MotorStatus.STOPPED and stopped.reason == 'bye'
    assert not sim.busy


@pytest.mark.parametrize('fields', [{'idle_rate_hz': -1.0}, {'idle_rate_hz': float('nan')},
                                    {'frame_id': ''}])
def test_node_config_rejects_nonsense(fields):
    with pytest.raises(ValueError):
        SimNodeConfig(**fields)
