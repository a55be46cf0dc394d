"""The original's interactive mode: a person accepts or overrides each proposed action.

It wraps any Policy, so the no-ROS runner (a terminal prompt) and the ROS node (a service or
topic) share one behaviour and differ only in how they ask.
"""

from __future__ import annotations

from typing import Callable, Sequence, TextIO

from devrobot_core.motor import MotorCommand


class StopRequested(Exception):
    """The person asked to end the session."""


# ask(proposed index, info) -> chosen index; raises StopRequested to end the session.
Ask = Callable[[int, dict], int]


class InteractivePolicy:
    """Asks a person about every action the inner policy proposes."""

    def __init__(self, inner, ask: Ask):
        self.inner = inner
        self.ask = ask

    def select(self, pixels):
        index, info = self.inner.select(pixels)
        if index is None:
            return index, info
        chosen = self.ask(index, info)
        return chosen, dict(info, proposed=index, overridden=chosen != index)

    def idle(self, pixels):
        return self.inner.idle(pixels)

    def observe(self, transition):
        return self.inner.observe(transition)

    def __getattr__(self, name):  # save(), close(), inspect() of a learner pass through
        return getattr(self.inner, name)


def describe(command: MotorCommand) -> str:
    return f'left={command.left:g} right={command.right:g} for {command.duration_s:g} s'


def parse_answer(answer: str, proposed: int, n_actions: int) -> int | None:
    """Enter accepts, a number picks another action, 'stop' ends; None for an invalid answer."""
    answer = answer.strip().lower()
    if answer == '':
        return proposed
    if answer in ('stop', 'q', 'quit'):
        raise StopRequested()
    if answer.isdigit() and int(answer) < n_actions:
        return int(answer)
    return None


def terminal_ask(action_space: Sequence[MotorCommand], stdin: TextIO,
                 stdout: TextIO) -> Ask:
    """An Ask that prompts on a terminal (or any pair of text streams, for tests)."""
    def ask(proposed: int, info: dict) -> int:
        while True:
            stdout.write(f'Proposed action {proposed}: {describe(action_space[proposed])}. '
                         f'Enter accepts, 0-{len(action_space) - 1} picks, stop ends: ')
            stdout.flush()
            line = stdin.readline()
            if line == '':  # end of input: nobody left to ask
                raise StopRequested()
            chosen = parse_answer(line, proposed, len(action_space))
            if chosen is not None:
                return chosen
            stdout.write(f'Not an action: {line.strip()!r}\n')
    return ask
