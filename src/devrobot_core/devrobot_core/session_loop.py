"""The session loop: read a frame, select, send, read the next frame, record, learn, log.

Every collaborator is passed in:
- `robot`: `read()`, `send(command)`, `action_space` (the Robot protocol, `robot.py`);
- `policy`: `select(pixels) -> (index, info)`; index None: not now (the quality gate);
- `recorder`: `write_frame(frame)`, `write_step(command, outcome, next_frame)` (a session bag);
- `learner` (optional): `observe(transition) -> metrics`, `idle(pixels) -> metrics`;
- `logger` (optional): `log(metrics, step)` (metrics.jsonl);
- `stats` (optional): `record(action, interval_s)` and `idle_steps` (SessionStats).
Transition k reaches the learner before command k+1 is selected. The logger gets one flat dict
per step: the selection's figures (`act/...`, `perf/select_ms`), the learner's (`train/...`)
and the loop's own (`act/action`, `perf/step_ms`, `perf/steps_per_s`, `action_timing/...`).
Nothing is kept per step. The ROS node, where frames and motor states arrive as topics (late,
out of order, or not at all), drives the event-driven ExplorationCore instead.
"""

from __future__ import annotations

import time
from typing import Callable

from devrobot_core.action_timing import ActionTimer
from devrobot_core.bags.session_bag import CtrlCDeferred
from devrobot_core.interactive import StopRequested
from devrobot_core.motor import Transition


class NullRecorder:
    """A recorder that keeps nothing (benchmarks, tests)."""

    def write_frame(self, frame) -> None:
        pass

    def write_step(self, command, outcome, next_frame) -> None:
        pass


def run_session(robot, policy, steps: int, recorder=None, learner=None, logger=None,
                stats=None, now_ns: Callable[[], int] = time.time_ns,
                on_step: Callable[[int], None] = lambda step: None, first_step: int = 0,
                max_idle_steps: int = 100_000) -> int:
    """Run until `steps` commands have executed or the policy raises StopRequested.

    Commands are stamped with `now_ns()` as they are sent. A step is recorded whole (Ctrl-C
    waits for it), so an interrupted session's bag reads back up to its last full step. The
    logger's steps continue from `first_step` (a resumed learner's). Returns the steps taken.
    """
    recorder = recorder or NullRecorder()
    timer, started, idle = ActionTimer(), time.perf_counter(), 0
    frame = robot.read()
    recorder.write_frame(frame)
    last_step, step = started, 0
    while step < steps:
        try:
            index, info = policy.select(frame.pixels)
        except StopRequested:
            break
        if index is None:  # the policy declined to act: learn from the frame instead
            idle += 1
            if idle > max_idle_steps:
                raise RuntimeError(f'the policy declined to act {max_idle_steps} times in a row')
            if learner is not None:
                learner.idle(frame.pixels)
            if stats is not None:
                stats.idle_steps += 1
            frame = robot.read()
            recorder.write_frame(frame)
            continue
        idle = 0
        command = robot.action_space[index].stamped(now_ns())
        outcome = robot.send(command)
        next_frame = robot.read()
        finished = time.perf_counter()
        with CtrlCDeferred():  # the bag and the statistics agree on the steps taken
            recorder.write_step(command, outcome, next_frame)
            step += 1
            if stats is not None:
                stats.record(index, finished - last_step)
        metrics = {} if learner is None else learner.observe(
            Transition(frame, outcome, next_frame))
        timer.record(outcome.start_ns)
        if logger is not None:
            logger.log({**selection_metrics(info), **metrics, 'act/action': index,
                        'perf/step_ms': 1e3 * (finished - last_step),
                        'perf/steps_per_s': step / (time.perf_counter() - started),
                        **timer.statistics()}, first_step + step)
        last_step, frame = finished, next_frame
        on_step(step)
    return step


def selection_metrics(info: dict) -> dict:
    """The numeric, namespaced figures of a selection's info (`act/...`, `perf/...`)."""
    return {key: value for key, value in info.items()
            if '/' in key and isinstance(value, (int, float))}
