"""Selectors and their spec strings."""

import pytest

from devrobot_core.selectors import make_selector, register_selector, SEQUENCES


def run(selector, n):
    return [selector(None)[0] for _ in range(n)]


def test_constant():
    assert run(make_selector('constant:1', 2), 5) == [1] * 5


@pytest.mark.parametrize('name,expected', [
    ('always_move', [1, 1, 1, 1, 1, 1]), ('always_stay', [0] * 6),
    ('alternate', [0, 1, 0, 1, 0, 1]), ('double_move', [1, 1, 0, 1, 1, 0]),
    ('triple_move', [1, 1, 1, 0, 1, 1])])
def test_predefined_sequences(name, expected):
    assert run(make_selector(f'sequence:{name}', 2), 6) == expected


def test_explicit_sequence_cycles():
    assert run(make_selector('sequence:1,0,0', 2), 6) == [1, 0, 0, 1, 0, 0]


def test_random_is_seeded_and_uses_every_action():
    a = run(make_selector('random', 3, seed=5), 300)
    assert a == run(make_selector('random', 3, seed=5), 300)
    assert a != run(make_selector('random:6', 3), 300)
    assert set(a) == {0, 1, 2}
    assert 0.25 < a.count(0) / 300 < 0.42


@pytest.mark.parametrize('spec', ['bogus', 'constant:7', 'constant:x', 'sequence:',
                                  'sequence:nope', 'constant', 'random:abc'])
def test_bad_specs_raise_value_error_naming_the_problem(spec):
    with pytest.raises(ValueError):
        make_selector(spec, 2)


def test_unknown_spec_lists_the_known_ones():
    with pytest.raises(ValueError, match='sequence'):
        make_selector('learned', 2)


def test_registered_kind_is_buildable():
    register_selector('test_last', lambda argument, n, seed: lambda frame: (n - 1, {}))
    assert run(make_selector('test_last', 4), 2) == [3, 3]


def test_all_predefined_sequences_are_binary():
    assert all(set(s) <= {0, 1} for s in SEQUENCES.values())
