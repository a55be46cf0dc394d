"""Action selectors: given the current frame, pick an index into the robot's action space.

Each selector is named by a spec string usable from the CLI and from ROS parameters:
`constant:1`, `sequence:always_move`, `sequence:0,1,1`, `random`, `random:7` (a seed),
`recorded:BAG` (replay a session's actions; `recorded:BAG@1` keeps only action 1;
`recorded-partial:BAG` replays the readable part of a damaged bag).
The world model's learned selectors (`uncertainty`, `predicted-error`, `disagreement`,
`progress`) are its policy's own; other packages may add kinds through `register_selector`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# The original's predefined sequences (action 0 = stay, 1 = move right).
SEQUENCES = {
    'always_move': (1,),
    'always_stay': (0,),
    'alternate': (0, 1),
    'double_move': (1, 1, 0),
    'triple_move': (1, 1, 1, 0),
}

# A selector takes the current frame and returns (action index, metadata for logs).
ActionSelector = Callable[[np.ndarray], 'tuple[int, dict]']
SelectorFactory = Callable[[str, int, int], ActionSelector]  # (argument, n_actions, seed)


def constant_selector(action: int) -> ActionSelector:
    def select(frame):
        return action, {'selector': 'constant'}
    return select


def sequence_selector(sequence) -> ActionSelector:
    sequence = tuple(sequence)
    if not sequence:
        raise ValueError('a sequence selector needs at least one action')
    step = [0]

    def select(frame):
        action = sequence[step[0] % len(sequence)]
        step[0] += 1
        return action, {'selector': 'sequence', 'position': (step[0] - 1) % len(sequence)}
    return select


def random_selector(n_actions: int, seed: int = 0) -> ActionSelector:
    rng = np.random.default_rng(seed)

    def select(frame):
        return int(rng.integers(n_actions)), {'selector': 'random'}
    return select


def _check(action: int, n_actions: int) -> int:
    if not 0 <= action < n_actions:
        raise ValueError(f'action {action} is outside the action space (0..{n_actions - 1})')
    return action


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'{what} must be an integer, got {text!r}') from None


def _constant(argument, n_actions, seed):
    return constant_selector(_check(_parse_int(argument, 'constant action'), n_actions))


def _sequence(argument, n_actions, seed):
    if argument in SEQUENCES:
        actions = SEQUENCES[argument]
    else:
        actions = [_parse_int(a, 'sequence action') for a in argument.split(',') if a.strip()]
    return sequence_selector([_check(a, n_actions) for a in actions])


def _random(argument, n_actions, seed):
    return random_selector(n_actions, _parse_int(argument, 'random seed') if argument else seed)


def _recorded(argument, n_actions, seed, allow_partial=False):
    # Reads a session bag: imported only when a recorded policy is asked for.
    from devrobot_core.recorded_policy import recorded_selector_factory
    return recorded_selector_factory(argument, n_actions, seed, allow_partial=allow_partial)


def _recorded_partial(argument, n_actions, seed):
    return _recorded(argument, n_actions, seed, allow_partial=True)


_FACTORIES: dict = {'constant': _constant, 'sequence': _sequence, 'random': _random,
                    'recorded': _recorded, 'recorded-partial': _recorded_partial}


def register_selector(kind: str, factory: SelectorFactory) -> None:
    """Make `kind[:argument]` specs build selectors with `factory(argument, n_actions, seed)`."""
    _FACTORIES[kind] = factory


def selector_kinds() -> list:
    return sorted(_FACTORIES)


def make_selector(spec: str, n_actions: int, seed: int = 0) -> ActionSelector:
    """Build a selector from its spec; ValueError with the reason for a bad spec."""
    kind, _, argument = spec.partition(':')
    if kind not in _FACTORIES:
        raise ValueError(f'unknown policy {spec!r}: expected one of '
                         + ', '.join(f'{k}[:...]' for k in selector_kinds())
                         + f'; sequences: {", ".join(SEQUENCES)}')
    if kind in ('constant', 'sequence') and not argument:
        raise ValueError(f'policy {spec!r} needs an argument, e.g. {kind}:1')
    return _FACTORIES[kind](argument, n_actions, seed)
