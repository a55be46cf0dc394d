"""The interactive prompt, driven through text streams as a person would type."""

import io

import pytest

from devrobot_core.exploration import SelectorPolicy
from devrobot_core.interactive import (InteractivePolicy, parse_answer, StopRequested,
                                       terminal_ask)
from devrobot_sim.sim_robot import SimRobot


def policy_with_input(text):
    space = SimRobot().action_space
    out = io.StringIO()
    inner = SelectorPolicy(lambda frame: (1, {}))
    return InteractivePolicy(inner, terminal_ask(space, io.StringIO(text), out)), out


def test_enter_accepts_the_proposal():
    policy, out = policy_with_input('\n')
    assert policy.select(None)[0] == 1
    assert 'Proposed action 1' in out.getvalue()


def test_a_number_overrides_and_garbage_asks_again():
    policy, out = policy_with_input('banana\n7\n0\n')
    index, info = policy.select(None)
    assert index == 0 and info['overridden'] and info['proposed'] == 1
    assert out.getvalue().count('Not an action') == 2


@pytest.mark.parametrize('text', ['stop\n', ''])
def test_stop_or_end_of_input_ends_the_session(text):
    policy, _ = policy_with_input(text)
    with pytest.raises(StopRequested):
        policy.select(None)


def test_parse_answer():
    assert parse_answer(' ', 1, 2) == 1
    assert parse_answer('0', 1, 2) == 0
    assert parse_answer('2', 1, 2) is None
