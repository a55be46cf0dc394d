"""Recorded-action policy: replaying a session bag's commands, filters, specs, clear errors."""

import pytest

from devrobot_core.bags.session_bag import read_session, SessionBagWriter
from devrobot_core.exploration import ExplorationCore, SelectorPolicy
from devrobot_core.interactive import StopRequested
from devrobot_core.motor import MotorCommand, MotorOutcome, MotorStatus
from devrobot_core.recorded_policy import (
    ActionFilter, create_recorded_action_selector, filter_transitions, parse_action_filter,
    recorded_action_selector, recorded_actions, register_recorded_selector,
    split_spec_argument)
from devrobot_core.selectors import make_selector
from devrobot_core.transitions import transitions_from_events
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig

ACTIONS = [1, 0, 1, 1, 0, 1]


def record(path, actions=ACTIONS, commands_topic=True):
    """A simulator session executing `actions` (indices), written like `devrobot run` does."""
    robot = SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2, seed=3))
    with SessionBagWriter(path, robot.robot_type, robot.action_space) as writer:
        writer.write_frame(robot.read())
        for action in actions:
            command = robot.action_space[action].stamped(robot.clock.now_ns())
            outcome = robot.send(command)
            if commands_topic:
                writer.write_step(command, outcome, robot.read())
            else:  # a recording of the states and images only
                writer.write_outcome(outcome)
                writer.write_frame(robot.read())
    return robot


def drain(selector):
    chosen = []
    with pytest.raises(StopRequested):
        while True:
            chosen.append(selector(None)[0])
    return chosen


def test_replays_every_recorded_action_in_order_then_stops(tmp_path):
    robot = record(tmp_path / 'bag')
    selector = create_recorded_action_selector(tmp_path / 'bag', robot.action_space)
    action, info = selector(None)
    assert (action, info) == (1, {'selector': 'recorded', 'position': 0,
                                  'remaining': len(ACTIONS) - 1})
    assert [action] + drain(selector) == ACTIONS
    with pytest.raises(StopRequested):  # stays exhausted
        selector(None)


@pytest.mark.parametrize('text,expected', [
    ('1', [1, 1, 1, 1]), ('action=0', [0, 0]), ('right=0.12', [1, 1, 1, 1]),
    ('motor_right=0.12', [1, 1, 1, 1]), ('motor_left=0,motor_right=0', [0, 0]),
    ('duration=0.2', ACTIONS)])
def test_filters_keep_only_matching_actions(tmp_path, text, expected):
    robot = record(tmp_path / 'bag')
    assert recorded_actions(tmp_path / 'bag', robot.action_space, text) == expected


def test_commands_are_mapped_into_the_replaying_robots_action_space(tmp_path):
    robot = record(tmp_path / 'bag')
    reordered = tuple(reversed(robot.action_space)) + (MotorCommand(0.1, 0.1, 0.5),)
    assert recorded_actions(tmp_path / 'bag', reordered) == [1 - a for a in ACTIONS]


def test_a_command_the_robot_does_not_offer_is_an_error_before_anything_moves(tmp_path):
    record(tmp_path / 'bag')
    other_space = (MotorCommand(0.0, 0.0, 0.2), MotorCommand(0.0, 0.3, 0.2))
    with pytest.raises(ValueError, match=r'command 0 \(left=0 right=0.12 duration=0.2\) is '
                                         r'not in this robot'):
        create_recorded_action_selector(tmp_path / 'bag', other_space)
    # filtered out, the unknown command does not matter
    assert recorded_actions(tmp_path / 'bag', other_space, 'right=0') == [0, 0]


def test_bag_with_states_but_no_command_topic_replays_the_states_commands(tmp_path):
    robot = record(tmp_path / 'bag', commands_topic=False)
    assert '/motor/command' not in {t for t, n in read_session(tmp_path / 'bag')[0]
                                    .message_counts.items() if n}
    assert recorded_actions(tmp_path / 'bag', robot.action_space) == ACTIONS


def test_filter_matching_nothing_says_what_was_recorded(tmp_path):
    robot = record(tmp_path / 'bag', [0, 0])
    with pytest.raises(ValueError, match=r"no commands matching the filter '1'.*2 x "
                                         r'\(left=0 right=0 duration=0.2\)'):
        recorded_actions(tmp_path / 'bag', robot.action_space, '1')


def test_empty_session_is_an_error(tmp_path):
    robot = record(tmp_path / 'bag', [])
    with pytest.raises(ValueError, match='no commands to replay'):
        recorded_actions(tmp_path / 'bag', robot.action_space)


def test_missing_bag_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match='no bag at'):
        recorded_actions(tmp_path / 'nothing', SimRobot().action_space)


def test_spec_strings_after_registration(tmp_path):
    register_recorded_selector()
    record(tmp_path / 'bag')
    assert drain(make_selector(f'recorded:{tmp_path / "bag"}', 2)) == ACTIONS
    assert drain(make_selector(f'recorded:{tmp_path / "bag"}@0', 2)) == [0, 0]
    assert drain(make_selector(f'recorded:{tmp_path / "bag"}@right=0.12', 2)) == [1] * 4


def test_spec_checks_the_bags_action_space_against_the_robot(tmp_path):
    register_recorded_selector()
    record(tmp_path / 'bag')
    with pytest.raises(ValueError, match='recorded with 2 actions, this robot has 3'):
        make_selector(f'recorded:{tmp_path / "bag"}', 3)
    with pytest.raises(ValueError, match='needs (an argument|a session bag)'):
        make_selector('recorded', 2)
    with pytest.raises(ValueError, match='outside the action space'):
        make_selector(f'recorded:{tmp_path / "bag"}@5', 2)


def test_split_spec_argument(tmp_path):
    assert split_spec_argument('runs/a/bags/s1@1') == ('runs/a/bags/s1', '1')
    assert split_spec_argument('s1@left=0,right=0.12') == ('s1', 'left=0,right=0.12')
    assert split_spec_argument('x@y/bag') == ('x@y/bag', None)
    odd = tmp_path / 'session@2'
    odd.mkdir()
    assert split_spec_argument(str(odd)) == (str(odd), None)
    with pytest.raises(ValueError, match='no bag path'):
        split_spec_argument('@1')
    with pytest.raises(ValueError, match='needs a session bag'):
        split_spec_argument('')


@pytest.mark.parametrize('text,message', [
    ('', 'cannot be empty'), ('speed=1', 'name=value pairs'), ('right=fast', 'must be a number'),
    ('7', 'outside the action space'), ('left', 'name=value pairs')])
def test_bad_filters_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_action_filter(text, SimRobot().action_space)


def test_index_filter_needs_an_action_space():
    with pytest.raises(ValueError, match='needs an action space'):
        parse_action_filter('1')
    assert parse_action_filter('right=0.12') == ActionFilter(right=0.12, text='right=0.12')


def test_filter_transitions_keeps_the_matching_commands(tmp_path):
    robot = record(tmp_path / 'bag')
    transitions = list(transitions_from_events(read_session(tmp_path / 'bag')[1]))
    assert len(transitions) == len(ACTIONS)
    moves = list(filter_transitions(transitions, parse_action_filter('1', robot.action_space)))
    assert [t.outcome.command.right for t in moves] == [0.12] * 4
    assert list(filter_transitions(transitions, None)) == transitions


def test_exhaustion_reaches_the_session_loop_as_stop_requested():
    robot = SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2))
    core = ExplorationCore(robot.action_space,
                           SelectorPolicy(recorded_action_selector([1, 0], 'test')))
    sent = []
    with pytest.raises(StopRequested, match='all 2 recorded actions of test'):
        while True:
            command = core.on_frame(robot.read())
            outcome = robot.send(command)
            sent.append(outcome.command)
            core.on_outcome(outcome)
    assert [c.right for c in sent] == [0.12, 0.0]


def test_outcome_fields_do_not_affect_matching():
    command = MotorCommand(0.0, 0.12, 0.2, stamp_ns=5)
    clamped = MotorOutcome(command, 0.0, 0.1, 5, 10, MotorStatus.COMPLETED)
    assert ActionFilter(right=0.12).matches(clamped.command)
    assert not ActionFilter(right=0.1).matches(clamped.command)
