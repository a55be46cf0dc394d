"""Memory over a long session: the process's resident memory every N steps of the session loop.

Run: .venv/bin/python benchmarks/memory_flat.py --steps 20000 --every 2000 [--learn]
[model / learner flags]. It drives the simulator with the objects `devrobot run` uses: the
session loop, a session bag in a temporary folder, the session statistics and, with `--learn`,
the learner (by default free-running, `--updates-per-step -1`) and metrics.jsonl. One JSON line
per checkpoint of the run (`step`, `rss_mb`, `steps_per_s` so far), then a summary: the growth
of the resident memory between the first line at or after `--settled` steps (the replay buffer
full, every pool warm) and the end, in MB and per 1,000 steps.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from devrobot_core.bags.session_bag import SessionBagWriter
from devrobot_core.exploration import SelectorPolicy
from devrobot_core.selectors import make_selector
from devrobot_core.session_loop import run_session
from devrobot_core.session_stats import SessionStats
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig


def resident_mb() -> float:
    """The process's resident memory now (not its peak), MB."""
    with open('/proc/self/statm') as stream:
        pages = int(stream.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=20_000, help='Session steps (20000).')
    parser.add_argument('--every', type=int, default=2_000, help='Steps between lines (2000).')
    parser.add_argument('--settled', type=int, default=None,
                        help='Step from which growth counts (default: half the run).')
    parser.add_argument('--learn', action='store_true', help='Learn while acting.')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads (1).')
    from devrobot_world_model.commands.cli_support import add_learning_arguments
    add_learning_arguments(parser, skip=('checkpoint_every', 'image_size'))
    parser.add_argument('--image-size', type=int, default=32, help='Frame side, px (32).')
    args = parser.parse_args()
    settled = args.settled if args.settled is not None else args.steps // 2
    world = ToroidalDotConfig(image_size=args.image_size, dot_radius=2, move_pixels=5,
                              seed=args.seed or 0)
    robot = SimRobot(world)
    learner = logger = None
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        if args.learn:
            import torch
            from devrobot_world_model.commands.cli_support import learning_configs
            from devrobot_world_model.learning.learner import Learner, start_process
            from devrobot_world_model.learning.metrics import MetricsLogger
            torch.set_num_threads(args.threads)
            if args.updates_per_step == 1.0:  # the flag's default: run free unless asked
                args.updates_per_step = -1.0
            config, models = learning_configs(args, checkpoint_every=0, policy='random',
                                              image_size=args.image_size)
            start_process(config.seed)
            learner = Learner(robot.action_space, config, models)
            policy = learner.policy
            logger = MetricsLogger(folder)
        else:
            policy = SelectorPolicy(make_selector('random', len(robot.action_space), 0))
        stats, started = SessionStats(len(robot.action_space)), time.perf_counter()

        def report(step):
            if step % args.every == 0 or step == args.steps:
                line = {'step': step, 'rss_mb': round(resident_mb(), 1),
                        'steps_per_s': round(step / (time.perf_counter() - started), 1)}
                if learner is not None:
                    line['updates'] = learner.updates
                lines.append(line)
                print(json.dumps(line), flush=True)
        with SessionBagWriter(Path(folder) / 'bag', robot.robot_type,
                              robot.action_space) as recorder:
            run_session(robot, policy, args.steps, recorder, learner, logger, stats,
                        on_step=report)
        if learner is not None:
            learner.close()
            logger.close()
    base = next(line for line in lines if line['step'] >= settled)
    growth = lines[-1]['rss_mb'] - base['rss_mb']
    steps = max(lines[-1]['step'] - base['step'], 1)
    print(json.dumps({'from_step': base['step'], 'to_step': lines[-1]['step'],
                      'growth_mb': round(growth, 1),
                      'growth_mb_per_1000_steps': round(1000 * growth / steps, 2)}))


if __name__ == '__main__':
    main()
