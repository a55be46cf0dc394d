"""The session loop: read, decide, act, record, learn. It receives every collaborator.

Used by `devrobot run` for the simulator and the JetBot alike; the decision and learning logic
lives in the shared ExplorationCore, so this loop only sequences a synchronous robot.
"""

from __future__ import annotations

import time
from typing import Callable

from devrobot_core.bags.session_bag import CtrlCDeferred
from devrobot_core.exploration import ExplorationCore
from devrobot_core.interactive import StopRequested
from devrobot_core.robot import Robot
from devrobot_core.session_stats import SessionStats


def run_session(robot: Robot, core: ExplorationCore, steps: int, recorder,
                stats: SessionStats, now_ns: Callable[[], int],
                on_step: Callable[[SessionStats], None] = lambda stats: None,
                max_idle_steps: int = 100_000) -> SessionStats:
    """Run until `steps` commands have executed, the person stops, or Ctrl-C.

    `recorder` has `write_frame(frame)` and `write_step(command, outcome, next_frame)`; a step is
    written whole, so an interrupted session reads back up to its last full step.
    """
    frame = robot.read()
    recorder.write_frame(frame)
    last_step = time.perf_counter()
    while stats.steps < steps:
        try:
            command = core.on_frame(frame, now_ns())
        except StopRequested:
            break
        if command is None:  # the policy trained on this frame instead of acting
            stats.idle_steps += 1
            if stats.idle_steps > max_idle_steps:
                raise RuntimeError(f'the policy declined to act {max_idle_steps} times in a row')
            frame = robot.read()
            recorder.write_frame(frame)
            continue
        outcome = robot.send(command)
        next_frame = robot.read()
        finished = time.perf_counter()
        with CtrlCDeferred():  # the bag and the statistics agree on the steps taken
            recorder.write_step(command, outcome, next_frame)
            stats.record(core.last_action, finished - last_step)
        last_step = finished
        core.on_outcome(outcome)
        frame = next_frame
        on_step(stats)
    core.observe_frame(frame)
    core.finish()  # learn from the last command too
    return stats
