"""`devrobot run`: drive a robot with a policy, record the session as a bag, optionally learn."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from devrobot_bringup.run_config import RunConfig
from devrobot_core.bags.session_storage import DiskBudget, SessionStorageConfig
from devrobot_core.config_fields import add_config_arguments, config_from_arguments, config_to_dict
from devrobot_core.errors import UsageError
from devrobot_core.exploration import SelectorPolicy
from devrobot_core.interactive import InteractivePolicy, terminal_ask
from devrobot_core.selectors import make_selector
from devrobot_core.session_loop import run_session
from devrobot_core.session_stats import format_summary, SessionStats
from devrobot_sim.toroidal_dot import ToroidalDotConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, RunConfig)
    add_config_arguments(parser, ToroidalDotConfig)
    add_config_arguments(parser, SessionStorageConfig)
    try:  # the JetBot's flags (--host, --port, limits...), where its package is installed
        from devrobot_jetbot.jetbot_config import JetBotConfig
        add_config_arguments(parser, JetBotConfig)
    except ImportError:
        pass
    try:  # the learner's and models' flags, where the world model (torch) is installed
        from devrobot_world_model.commands.cli_support import add_learning_arguments
    except ImportError:
        return
    add_learning_arguments(parser, skip=SHARED_FLAGS)


# Set once for the whole run: the learner takes them from RunConfig and the robot.
SHARED_FLAGS = ('policy', 'seed', 'wandb_project', 'image_size')


def main(args: argparse.Namespace) -> int:
    config = config_from_arguments(RunConfig, args)
    if config.steps <= 0:
        raise UsageError(f'--steps must be positive, got {config.steps}')
    out = prepare_run_folder(Path(config.out))
    robot = build_robot(config, args)
    learner = build_learner(config, robot, out, args) if config.learn else None
    policy = build_policy(config, robot, learner, args)
    logger = open_metrics_log(config, out, learner)
    bag_path = new_bag_path(out / 'bags')
    stats = SessionStats(len(robot.action_space))
    progress = make_progress(config)
    budget = make_disk_budget(args, out / 'bags', bag_path)

    def on_step(step):
        progress.step(stats)
        if budget is not None:
            budget.check()
    started = time.perf_counter()
    try:
        robot.connect()
        session_config = {'run': config_to_dict(config), 'robot': robot_config_dict(robot)}
        with open_recorder(bag_path, robot.robot_type, robot.action_space,
                           session_config) as recorder:
            run_session(robot, policy, config.steps, recorder, learner, logger, stats,
                        robot_clock(robot), on_step,
                        first_step=learner.steps if learner is not None else 0)
        last_pixels = robot.read().pixels if learner is not None else None
    finally:
        progress.close()
        robot.close()
        try:
            if learner is not None:
                learner.close()  # finishes its updates and saves the checkpoint
        finally:
            if logger is not None:
                logger.close()
            write_stats(out, stats)
    print(format_summary(stats.summary()))
    if learner is not None and learner.free_running:
        print(format_rates(stats.steps, time.perf_counter() - started, learner.throughput()))
    outputs = {'statistics': out / 'stats.json'}
    if learner is not None:
        outputs.update(report_learning(config, robot, learner, out, last_pixels))
    outputs['session bag'] = bag_path  # last: the line a script or a person looks for
    for name, path in outputs.items():
        print(f'{name}: {path}')
    return 0


def report_learning(config: RunConfig, robot, learner, out: Path, last_pixels) -> dict:
    """Print the held-out score (simulator only) and write the report; the paths written."""
    from devrobot_bringup.learning_report import held_out_table, write_learning_report
    table = ''
    if robot.robot_type == 'toroidal_dot' and config.eval_states > 0:
        table = held_out_table(out / 'checkpoints', robot.config, config.eval_states,
                               seed=robot.config.seed + 1)  # states training never started from
        print(table)
    return {'checkpoints': out / 'checkpoints', 'metrics': out / 'metrics.jsonl',
            'report': write_learning_report(out, learner, last_pixels, table)}


def format_rates(steps: int, wall_s: float, learner: dict) -> str:
    """Acting and learning rates of a run without a replay ratio (they share the computer)."""
    return (f"acting: {steps / wall_s:.2f} steps/s; learner: {learner['updates']} updates, "
            f"{learner['learner_samples_per_s']:.1f} samples/s")


def make_disk_budget(args: argparse.Namespace, bags: Path, current: Path):
    """The original's RECORDING_MAX_DISK_GB: the oldest session bags go when over budget."""
    try:
        config = config_from_arguments(SessionStorageConfig, args)
        return DiskBudget.from_config(config, bags, keep=current, report=print_note)
    except ValueError as error:
        raise UsageError(str(error)) from None


def print_note(message: str) -> None:
    print(f'devrobot run: {message}', file=sys.stderr)


def open_recorder(path: Path, robot_type: str, action_space, config: dict):
    from devrobot_core.bags.session_bag import SessionBagError, SessionBagWriter
    try:
        return SessionBagWriter(path, robot_type, action_space, config)
    except SessionBagError as error:
        raise UsageError(str(error)) from None


def new_bag_path(folder: Path) -> Path:
    """`session_YYYYmmdd_HHMMSS`, with a suffix when a run in the same second took it."""
    base = folder / time.strftime('session_%Y%m%d_%H%M%S')
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f'{base.name}_{n}')
    return path


def prepare_run_folder(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.write_test'
        probe.write_text('ok')
        probe.unlink()
    except OSError as error:
        raise UsageError(f'cannot write the output folder {out}: {error.strerror}') from None
    return out


def build_robot(config: RunConfig, args: argparse.Namespace):
    if config.robot == 'sim':
        from devrobot_sim.sim_robot import SimRobot
        try:
            return SimRobot(config_from_arguments(ToroidalDotConfig, args))
        except ValueError as error:
            raise UsageError(str(error)) from None
    if config.robot == 'jetbot':
        from devrobot_jetbot.jetbot_config import JetBotConfig
        from devrobot_jetbot.jetbot_robot import JetBotRobot
        try:
            return JetBotRobot(config_from_arguments(JetBotConfig, args))
        except (TypeError, ValueError) as error:
            raise UsageError(f'JetBot settings: {error}') from None
    raise UsageError(f"unknown robot {config.robot!r}: expected 'sim' or 'jetbot'")


def build_policy(config: RunConfig, robot, learner, args: argparse.Namespace):
    if learner is not None:
        policy = learner.policy
    else:
        try:
            policy = SelectorPolicy(make_selector(config.policy_spec(), len(robot.action_space),
                                                  args.seed or 0))
        except ValueError as error:
            raise UsageError(str(error)) from None
    if config.interactive:
        policy = InteractivePolicy(policy, terminal_ask(robot.action_space, sys.stdin,
                                                        sys.stdout))
    return policy


def build_learner(config: RunConfig, robot, out: Path, args: argparse.Namespace):
    """The world model, resumed from `out/checkpoints` when a previous run left one."""
    try:
        from devrobot_world_model.commands.cli_support import learning_configs
        from devrobot_world_model.learning.learner import Learner, start_process
    except ImportError as error:
        raise UsageError(f'--learn needs the world model and torch: {error}') from None
    learner_config, model_configs = learning_configs(
        args, policy=config.policy_spec(), seed=args.seed or 0,
        wandb_project=config.wandb_project, image_size=robot_image_size(robot, args))
    start_process(learner_config.seed)
    try:
        return Learner(robot.action_space, learner_config, model_configs,
                       checkpoint_dir=out / 'checkpoints')
    except ValueError as error:  # a bad policy spec, or a checkpoint of another architecture
        raise UsageError(str(error)) from None


def open_metrics_log(config: RunConfig, out: Path, learner):
    """metrics.jsonl in the run folder (and wandb with a project) for a learning run."""
    if learner is None:
        return None
    from dataclasses import asdict
    from devrobot_world_model.learning.metrics import MetricsLogger
    return MetricsLogger(out, learner.config.wandb_project or None, learner.config.wandb_mode,
                         config=asdict(learner.config))


def robot_image_size(robot, args: argparse.Namespace) -> int:
    """The side of the robot's square frames, px: its config's, else the --image-size flag."""
    return int(getattr(getattr(robot, 'config', None), 'image_size', args.image_size))


def robot_clock(robot):
    clock = getattr(robot, 'clock', None)
    return clock.now_ns if clock is not None else time.time_ns


def robot_config_dict(robot) -> dict:
    config = getattr(robot, 'config', None)
    return config_to_dict(config) if config is not None else {}


def write_stats(out: Path, stats: SessionStats) -> None:
    (out / 'stats.json').write_text(json.dumps(stats.summary(), indent=2))


class make_progress:  # noqa: N801 (used like a function)
    """A tqdm bar on stderr when asked for and available; otherwise silent."""

    def __init__(self, config: RunConfig):
        self._bar = None
        if config.progress:
            try:
                from tqdm import tqdm
                self._bar = tqdm(total=config.steps, unit='step', file=sys.stderr)
            except ImportError:
                pass

    def step(self, stats: SessionStats) -> None:
        if self._bar is not None:
            self._bar.update(stats.steps - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
