"""The exploration core: when it acts, and which transitions it learns from."""

import numpy as np

from devrobot_core.exploration import ExplorationCore, SelectorPolicy
from devrobot_core.motor import Frame
from devrobot_sim.sim_robot import SimRobot


class RecordingPolicy:
    """Proposes a fixed sequence (None = decline), records what it is asked to learn."""

    def __init__(self, choices):
        self.choices = list(choices)
        self.transitions, self.idled, self.learned_when_selecting = [], 0, []

    def select(self, pixels):
        self.learned_when_selecting.append(len(self.transitions))
        return self.choices.pop(0), {'score': 1.0, 'act/uncertainty': 0.5}

    def idle(self, pixels):
        self.idled += 1
        return {'train/idle': 1.0}

    def observe(self, transition):
        self.transitions.append(transition)
        return {'train/loss': 0.5}


def drive(core, robot, steps):
    """A synchronous shell, like the runner."""
    frame = robot.read()
    for _ in range(steps):
        command = core.on_frame(frame, robot.clock.now_ns())
        if command is not None:
            core.on_outcome(robot.send(command))
        frame = robot.read()
    core.observe_frame(frame)
    core.finish()


def test_every_executed_command_becomes_one_correct_transition():
    robot = SimRobot()
    policy = RecordingPolicy([1, 0, 1, 1])
    core = ExplorationCore(robot.action_space, policy)
    drive(core, robot, 4)
    assert [t.outcome.command.right > 0 for t in policy.transitions] == [True, False, True, True]
    for t in policy.transitions:
        shift = 27 if t.outcome.command.right > 0 else 0
        assert np.array_equal(t.next_frame.pixels, np.roll(t.frame.pixels, shift, axis=1))
    assert core.take_metrics() == {'train/loss': 0.5, 'act/uncertainty': 0.5}
    assert core.take_metrics() == {}  # taken: nothing waits any more


def test_the_previous_transition_is_learned_before_the_next_selection():
    robot = SimRobot()
    policy = RecordingPolicy([1, 0, 1, 1])
    drive(ExplorationCore(robot.action_space, policy), robot, 4)
    assert policy.learned_when_selecting == [0, 1, 2, 3]


def test_no_new_command_while_one_is_in_flight():
    robot = SimRobot()
    core = ExplorationCore(robot.action_space, RecordingPolicy([1, 1]))
    first = core.on_frame(robot.read(), 10)
    assert first is not None and first.stamp_ns == 10
    assert core.on_frame(robot.read(), 11) is None  # outcome not back yet
    core.on_outcome(robot.send(first))
    assert core.on_frame(robot.read(), 12) is not None


def test_release_frees_the_robot_when_an_outcome_is_lost():
    robot = SimRobot()
    core = ExplorationCore(robot.action_space, RecordingPolicy([0, 0]))
    assert core.on_frame(robot.read()) is not None
    core.release()
    assert core.on_frame(robot.read()) is not None


def test_declining_policy_trains_instead_of_acting():
    robot = SimRobot()
    policy = RecordingPolicy([None, None, 1])
    core = ExplorationCore(robot.action_space, policy)
    assert core.on_frame(robot.read()) is None
    assert core.on_frame(robot.read()) is None
    assert core.on_frame(robot.read()) is not None
    assert policy.idled == 2 and core.take_metrics()['train/idle'] == 1.0


def test_observe_only_never_commands_but_still_learns_from_what_it_sees():
    robot = SimRobot()
    policy = RecordingPolicy([])
    core = ExplorationCore(robot.action_space, policy, observe_only=True)
    frame = robot.read()
    assert core.on_frame(frame) is None
    outcome = robot.send(robot.action_space[1].stamped(frame.stamp_ns))  # someone else's
    core.on_outcome(outcome)
    core.on_frame(robot.read())
    core.finish()
    assert len(policy.transitions) == 1


def test_selector_policy_learns_nothing():
    policy = SelectorPolicy(lambda frame: (1, {}))
    assert policy.select(None) == (1, {})
    assert policy.observe(None) == {} and policy.idle(None) == {}


def test_a_frame_before_the_state_is_acted_on_when_the_state_arrives():
    """A driver publishes the state and the image together; an executor may run either first."""
    robot = SimRobot()
    policy = RecordingPolicy([1, 0])
    core = ExplorationCore(robot.action_space, policy)
    first = core.on_frame(robot.read(), 10)
    outcome = robot.send(first)
    after = robot.read()  # stamped when the command ended
    assert after.stamp_ns >= outcome.end_ns
    assert core.on_frame(after, outcome.end_ns) is None  # the robot is not free yet
    second = core.on_outcome(outcome, outcome.end_ns + 5)
    assert second == robot.action_space[0].stamped(outcome.end_ns + 5)
    assert len(policy.transitions) == 1  # the first command's, learned before selecting
    assert policy.learned_when_selecting == [0, 1]


def test_an_outcome_never_acts_on_a_frame_from_before_the_command_ended():
    robot = SimRobot()
    core = ExplorationCore(robot.action_space, RecordingPolicy([1, 1]))
    frame = robot.read()
    outcome = robot.send(core.on_frame(frame, frame.stamp_ns))
    during = Frame(frame.pixels, outcome.end_ns - 1)  # captured while the command ran
    assert core.on_frame(during) is None
    assert core.on_outcome(outcome) is None  # the next frame will show the result
    assert core.on_frame(robot.read()) is not None
