"""Foundation speed: simulator frames/s (step + render) and session-bag frames/s, on one core.

Run: .venv/bin/python benchmarks/bench_foundation.py [--steps N]
Targets: simulator >= 5,000 frames/s at 224x224; bag writer >= 1,000 full steps/s (image +
command + state). Also prints the bag reader and transition assembler rates for reference.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from devrobot_core.bags.session_bag import read_session, SessionBagWriter
from devrobot_core.transitions import transitions_from_events
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig

SIM_TARGET_FPS = 5000
BAG_TARGET_FPS = 1000


def pin_to_one_core() -> str:
    if not hasattr(os, 'sched_setaffinity'):
        return 'not pinned (no sched_setaffinity here)'
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f'pinned to CPU {cpu}'


def bench_simulator(steps: int) -> float:
    robot = SimRobot(ToroidalDotConfig(image_size=224))
    robot.read()
    start = time.perf_counter()
    for step in range(steps):
        robot.send(robot.action_space[step % 2])
        robot.read()
    return steps / (time.perf_counter() - start)


def record_steps(path: Path, steps: int) -> float:
    """Full steps (command, state, 224x224 image) per second, simulation time excluded."""
    robot = SimRobot(ToroidalDotConfig(image_size=224))
    first_frame, records = robot.read(), []
    for step in range(steps):
        command = robot.action_space[step % 2].stamped(robot.clock.now_ns())
        records.append((command, robot.send(command), robot.read()))
    start = time.perf_counter()
    with SessionBagWriter(path, robot.robot_type, robot.action_space, {}) as writer:
        writer.write_frame(first_frame)
        for command, outcome, frame in records:
            writer.write_step(command, outcome, frame)
    return steps / (time.perf_counter() - start)


def bench_reading(path: Path, steps: int) -> tuple:
    start = time.perf_counter()
    events = list(read_session(path)[1])
    read_fps = steps / (time.perf_counter() - start)
    start = time.perf_counter()
    count = sum(1 for _ in transitions_from_events(events))
    assemble_fps = steps / (time.perf_counter() - start)
    assert count == steps, f'expected {steps} transitions, got {count}'
    return read_fps, assemble_fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=5000, help='steps per measurement')
    args = parser.parse_args()
    print(f'bench_foundation: {pin_to_one_core()}, {args.steps} steps, 224x224 rgb8')
    sim_fps = bench_simulator(args.steps)
    with tempfile.TemporaryDirectory() as folder:
        bag = Path(folder) / 'bench_bag'
        bag_fps = record_steps(bag, args.steps)
        size_mb = sum(p.stat().st_size for p in bag.iterdir()) / 1e6
        read_fps, assemble_fps = bench_reading(bag, args.steps)
    rows = [('simulator send+read', sim_fps, SIM_TARGET_FPS),
            ('bag writer full steps', bag_fps, BAG_TARGET_FPS),
            ('bag reader (decode all)', read_fps, None),
            ('transition assembler', assemble_fps, None)]
    for name, fps, target in rows:
        verdict = '' if target is None else (
            f'  target {target:,}: {"ok" if fps >= target else "MISSED"}')
        print(f'  {name:<26} {fps:>10,.0f} frames/s{verdict}')
    print(f'  bag size: {size_mb:.1f} MB for {args.steps} steps '
          f'({size_mb * 1e3 / args.steps:.2f} kB/step, zstd chunks)')


if __name__ == '__main__':
    main()
