"""Replay the actions of a recorded session (the original's `recorded_policy.py`).

A recorded selector drives a robot with the commands a session bag holds, in their recorded
order, optionally keeping only those that match an action filter (the original's
`--filter-action`). Each recorded command is mapped into the *current* robot's action space by
its speeds and duration, so a session recorded on one robot replays on any robot that offers
the same commands; a command it does not offer is an error before the robot moves.
When the recorded commands run out, the selector raises `StopRequested`: the runner ends the
session there as if a person had typed 'stop'.

Spec strings (CLI `--policy`, ROS parameter `policy`): `recorded:PATH` replays every command,
`recorded:PATH@1` only action 1 of the action space, `recorded:PATH@right=0.12` only commands
with that right speed (fields: left, right, duration; the original's motor_left/motor_right and
action=N are accepted too).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from devrobot_core.interactive import StopRequested
from devrobot_core.motor import action_index, MotorCommand, MotorOutcome, Transition
from devrobot_core.selectors import ActionSelector

MATCH_TOLERANCE = 1e-3  # speeds and durations closer than this are the same command

_FIELD_ALIASES = {'left': 'left', 'motor_left': 'left', 'right': 'right',
                  'motor_right': 'right', 'duration': 'duration_s', 'duration_s': 'duration_s'}


@dataclass(frozen=True)
class ActionFilter:
    """Keeps commands whose given fields (None: any value) equal these, within the tolerance."""

    left: float | None = None
    right: float | None = None
    duration_s: float | None = None
    text: str = ''  # how the user wrote it, for messages

    def matches(self, command: MotorCommand, tolerance: float = MATCH_TOLERANCE) -> bool:
        wanted = (self.left, self.right, self.duration_s)
        actual = (command.left, command.right, command.duration_s)
        return all(w is None or abs(w - a) <= tolerance for w, a in zip(wanted, actual))


def parse_action_filter(text: str,
                        action_space: Sequence[MotorCommand] | None = None) -> ActionFilter:
    """`1` / `action=1` (an index, needs `action_space`) or `left=0,right=0.12,duration=0.2`.

    Raises ValueError naming the problem. An index filter becomes a filter on all three fields
    of that command, so it also applies to commands stored without an index (bags, transitions).
    """
    text = text.strip()
    if not text:
        raise ValueError('an action filter cannot be empty: give an index (1) or fields '
                         '(left=0,right=0.12,duration=0.2)')
    index_text = text[len('action='):] if text.startswith('action=') else text
    if index_text.lstrip('-').isdigit():
        return _index_filter(int(index_text), action_space, text)
    fields = {}
    for part in (p.strip() for p in text.split(',')):
        name, equals, value = part.partition('=')
        name = name.strip()
        if not equals or name not in _FIELD_ALIASES:
            raise ValueError(f'bad action filter {text!r}: expected an action index or '
                             f'name=value pairs with names {", ".join(sorted(_FIELD_ALIASES))}')
        try:
            fields[_FIELD_ALIASES[name]] = float(value)
        except ValueError:
            raise ValueError(f'bad action filter {text!r}: {name} must be a number, '
                             f'got {value.strip()!r}') from None
    return ActionFilter(**fields, text=text)


def _index_filter(index: int, action_space, text: str) -> ActionFilter:
    if action_space is None:
        raise ValueError(f'the action filter {text!r} names an action index, which needs an '
                         'action space; name its speeds instead (left=...,right=...)')
    if not 0 <= index < len(action_space):
        raise ValueError(f'action filter {text!r}: action {index} is outside the action space '
                         f'(0..{len(action_space) - 1})')
    command = action_space[index]
    return ActionFilter(command.left, command.right, command.duration_s, text=text)


def filter_transitions(transitions: Iterable[Transition],
                       action_filter: ActionFilter | None) -> Iterator[Transition]:
    """The transitions whose executed command matches the filter (all of them for None)."""
    for transition in transitions:
        if action_filter is None or action_filter.matches(transition.outcome.command):
            yield transition


def recorded_commands(events: Iterable) -> list:
    """The commands a session issued, in recorded order.

    Taken from the MotorCommand messages; a bag that recorded only MotorState messages
    gives the commands those carry.
    """
    commands, from_outcomes = [], []
    for event in events:
        if isinstance(event, MotorCommand):
            commands.append(event)
        elif isinstance(event, MotorOutcome):
            from_outcomes.append(event.command)
    return commands or from_outcomes


def map_commands(commands: Sequence[MotorCommand], action_space: Sequence[MotorCommand],
                 source: str = 'the recording') -> list:
    """Indices of `commands` in `action_space`; ValueError naming the first one it lacks."""
    indices = []
    for position, command in enumerate(commands):
        index = action_index(command, action_space, MATCH_TOLERANCE)
        if index is None:
            offered = '; '.join(f'{i}: left={c.left:g} right={c.right:g} '
                                f'duration={c.duration_s:g}' for i, c in enumerate(action_space))
            raise ValueError(f'{source}: command {position} (left={command.left:g} '
                             f'right={command.right:g} duration={command.duration_s:g}) is not '
                             f'in this robot\'s action space ({offered})')
        indices.append(index)
    return indices


def load_recorded_commands(path) -> tuple:
    """(SessionInfo, commands in recorded order) of the bag at `path`; ValueError if unreadable."""
    from devrobot_core.bags.session_bag import read_session, SessionBagError

    try:
        info, events = read_session(Path(path))
        return info, recorded_commands(events)
    except SessionBagError as error:
        raise ValueError(str(error)) from None


def recorded_actions(path, action_space: Sequence[MotorCommand] | None = None,
                     action_filter: ActionFilter | str | None = None,
                     n_actions: int | None = None) -> list:
    """Action indices of the commands recorded in the session bag at `path`, in order.

    `action_space` is the robot's that will replay them; without it the bag's own is used,
    and must have `n_actions` actions when that is given. A string filter is parsed against
    the action space used. Raises ValueError for an unreadable bag, an unknown command, or
    when nothing is left to replay.
    """
    path = Path(path)
    info, commands = load_recorded_commands(path)
    if action_space is None:
        if not info.action_space:
            raise ValueError(f'bag {path} does not say its action space (no session info); '
                             'replay it on a robot whose action space is known')
        if n_actions is not None and len(info.action_space) != n_actions:
            raise ValueError(f'bag {path} was recorded with {len(info.action_space)} actions, '
                             f'this robot has {n_actions}')
        action_space = info.action_space
    if isinstance(action_filter, str):
        action_filter = parse_action_filter(action_filter, action_space)
    kept = [c for c in commands if action_filter is None or action_filter.matches(c)]
    if not kept:
        counts = Counter((c.left, c.right, c.duration_s) for c in commands)
        found = ', '.join(f'{n} x (left={lf:g} right={r:g} duration={d:g})'
                          for (lf, r, d), n in counts.most_common()) or 'none'
        wanted = f' matching the filter {action_filter.text!r}' if action_filter else ''
        raise ValueError(f'bag {path} has no commands{wanted} to replay (recorded: {found})')
    return map_commands(kept, action_space, f'bag {path}')


def recorded_action_selector(actions: Sequence[int], source: str = '') -> ActionSelector:
    """Return `actions` one per call, then raise StopRequested (the session ends there)."""
    actions = tuple(int(a) for a in actions)
    position = [0]

    def select(frame):
        if position[0] >= len(actions):
            raise StopRequested(f'all {len(actions)} recorded actions of '
                                f'{source or "the recording"} were replayed')
        action = actions[position[0]]
        position[0] += 1
        return action, {'selector': 'recorded', 'position': position[0] - 1,
                        'remaining': len(actions) - position[0]}
    return select


def create_recorded_action_selector(path, action_space: Sequence[MotorCommand] | None = None,
                                    action_filter: ActionFilter | str | None = None):
    """The original's factory: a selector replaying the (filtered) actions of a session bag.

    Every command is read and mapped now, so a bad bag or an unknown command fails before
    the robot moves.
    """
    actions = recorded_actions(path, action_space, action_filter)
    return recorded_action_selector(actions, str(path))


def split_spec_argument(argument: str) -> tuple:
    """`PATH[@FILTER]` -> (path, filter text or None). A path that exists keeps its '@'."""
    if not argument:
        raise ValueError('the recorded policy needs a session bag: recorded:PATH[@FILTER], '
                         'e.g. recorded:runs/latest/bags/session_20250101_120000@1')
    path, at, filter_text = argument.rpartition('@')
    if not at or Path(argument).exists() or '/' in filter_text:
        return argument, None
    if not path:
        raise ValueError(f'recorded:{argument} has a filter but no bag path')
    return path, filter_text


def recorded_selector_factory(argument: str, n_actions: int, seed: int = 0,
                              action_space: Sequence[MotorCommand] | None = None):
    """The `recorded:PATH[@FILTER]` selector kind (see the module docstring); `seed` is unused.

    Without `action_space` the bag's own action space is used, and it must have `n_actions`
    actions; with it (the robot's commands), recorded commands are matched by value.
    """
    path, filter_text = split_spec_argument(argument)
    actions = recorded_actions(path, action_space, filter_text, n_actions)
    return recorded_action_selector(actions, str(path))


def register_recorded_selector() -> None:
    """Make `recorded:...` specs build recorded selectors (idempotent)."""
    from devrobot_core.selectors import register_selector
    register_selector('recorded', recorded_selector_factory)
