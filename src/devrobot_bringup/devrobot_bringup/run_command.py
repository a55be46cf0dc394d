"""`devrobot run`: drive a robot with a policy, record the session as a bag, optionally learn.

The run folder gets `config.yaml` (every setting the run used, as a ROS parameter file that
`--config` reads back), `stats.json`, `bags/`, and with `--learn` `checkpoints/`,
`metrics.jsonl` and `report.html`. The session loop (`devrobot_core.session_loop`) drives the
robot with the policy (the learner's, with --learn) and hands every transition to the learner;
on the simulator a held-out check runs every --eval-every steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from devrobot_bringup.run_config import RunConfig
from devrobot_core.bags.session_bag import CtrlCDeferred, SessionBagConfig, SessionBagError
from devrobot_core.bags.session_storage import DiskBudget, SessionStorageConfig
from devrobot_core.config_fields import (add_config_group, config_from_arguments, config_to_dict,
                                         parameter_values)
from devrobot_core.durable_files import write_atomically
from devrobot_core.errors import FatalError, UsageError
from devrobot_core.exploration import SelectorPolicy
from devrobot_core.interactive import InteractivePolicy, terminal_ask
from devrobot_core.selectors import make_selector
from devrobot_core.session_loop import run_session
from devrobot_core.session_stats import format_summary, SessionStats
from devrobot_core.parameter_file import CONFIG_FILE, JETBOT_NODE, save_run_config, SIM_NODE, \
    WORLD_MODEL_NODE
from devrobot_sim.toroidal_dot import ToroidalDotConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_group(parser, RunConfig, node=SECTION)
    add_config_group(parser, ToroidalDotConfig, 'sim', SIM_NODE)
    add_config_group(parser, SessionStorageConfig, 'recording', SECTION, strip='recording_')
    add_config_group(parser, SessionBagConfig, 'bag', SECTION, strip='bag_')
    try:  # the JetBot's flags (--jetbot.host, limits...), where its package is installed
        from devrobot_jetbot.jetbot_config import JetBotConfig
        add_config_group(parser, JetBotConfig, 'jetbot', JETBOT_NODE)
    except ImportError:
        pass
    try:  # the learner's and models' flags, where the world model (torch) is installed
        from devrobot_world_model.commands.cli_support import add_learning_arguments
    except ImportError:
        return
    add_learning_arguments(parser, shared=SHARED_FLAGS)


SECTION = 'devrobot_run'  # this command's own settings in a parameter file
# Set once for the whole run: the learner takes them from RunConfig and the robot (the
# simulator's --sim.image-size).
SHARED_FLAGS = ('policy', 'seed', 'wandb_project', 'image_size')


def main(args: argparse.Namespace) -> int:
    config = config_from_arguments(RunConfig, args)
    if config.steps <= 0:
        raise UsageError(f'--steps must be positive, got {config.steps}')
    bag_config = make_bag_config(args)
    out = prepare_run_folder(Path(config.out))
    robot = build_robot(config, args)
    learning = learning_setup(config, robot, args) if config.learn else None
    budget_config = storage_config(args)
    learner = build_learner(robot, out, learning) if learning is not None else None
    policy = build_policy(config, robot, learner, args)
    save_run_config(out, resolved_sections(config, robot, budget_config, learning),
                    CONFIG_HEADER)
    logger = open_metrics_log(out, learner)
    bag_path = new_bag_path(out / 'bags')
    stats = SessionStats(len(robot.action_space))
    progress = make_progress(config)
    budget = make_disk_budget(budget_config, out / 'bags', bag_path)
    held_out = make_held_out_check(config, robot, learner, logger)

    def on_step(step):
        progress.step(stats)
        if budget is not None:
            budget.check()
        if held_out is not None:
            held_out(step)
    recording_error = stats_error = ''
    started = time.perf_counter()
    try:
        robot.connect()
        session_config = {'run': config_to_dict(config), 'robot': robot_config_dict(robot)}
        try:
            with open_recorder(bag_path, robot.robot_type, robot.action_space,
                               session_config, bag_config) as recorder:
                run_session(robot, policy, config.steps, recorder, learner, logger, stats,
                            robot_clock(robot), on_step,
                            first_step=learner.steps if learner is not None else 0)
        except SessionBagError as error:  # a full disk: the bag keeps what reached it
            recording_error = str(error)
        last_pixels = robot.read().pixels if learner is not None and not recording_error \
            else None
    finally:
        with CtrlCDeferred():  # a second Ctrl-C waits for the motors and the statistics
            progress.close()
            robot.close()
            stats_error = write_stats(out, stats)
        if stats_error and sys.exc_info()[0] is not None:
            print_note(stats_error)  # the error on its way out is the one to report
        try:
            if learner is not None:
                learner.close()  # finishes its updates and saves the checkpoint
        finally:
            if logger is not None:
                logger.close()
    if recording_error or stats_error:
        raise FatalError('; '.join(e for e in (recording_error, stats_error) if e))
    print(format_summary(stats.summary()))
    if learner is not None and learner.free_running:
        print(format_rates(stats.steps, time.perf_counter() - started, learner.throughput()))
    outputs = {'configuration': out / CONFIG_FILE, 'statistics': out / 'stats.json'}
    if learner is not None:
        outputs.update(report_learning(config, robot, learner, out, last_pixels))
    outputs['session bag'] = bag_path  # last: the line a script or a person looks for
    for name, path in outputs.items():
        print(f'{name}: {path}')
    return 0


CONFIG_HEADER = """The resolved configuration of a `devrobot run`, as a ROS 2 parameter file.
`devrobot run --config THIS_FILE --out DIR` runs it again (the run folder is not part of it);
`devrobot train` and `devrobot eval` take it too, and the nodes read their sections."""


def resolved_sections(config: RunConfig, robot, budget_config, learning) -> dict:
    """What this run uses, by parameter-file section: the robot's, the learner's, its own."""
    own = parameter_values(dataclasses.replace(config, policy=config.policy_spec()),
                           skip=('out',))
    own.update(parameter_values(budget_config))
    sections = {SECTION: own}
    robot_config = getattr(robot, 'config', None)
    if robot_config is not None:
        sections[SIM_NODE if config.robot == 'sim' else JETBOT_NODE] = \
            parameter_values(robot_config)
    if learning is not None:
        from devrobot_world_model.commands.cli_support import learning_parameters
        sections[WORLD_MODEL_NODE] = learning_parameters(*learning)
    return sections


def report_learning(config: RunConfig, robot, learner, out: Path, last_pixels) -> dict:
    """Print the held-out score (simulator only) and write the report; the paths written."""
    from devrobot_bringup.learning_report import held_out_result, write_learning_report
    from devrobot_world_model.commands.eval_command import format_table
    result = None
    if robot.robot_type == 'toroidal_dot' and config.eval_states > 0:
        result = held_out_result(out / 'checkpoints', robot.config, config.eval_states,
                                 seed=robot.config.seed + 1)  # states training never started from
        print(format_table(result))
    return {'checkpoints': out / 'checkpoints', 'metrics': out / 'metrics.jsonl',
            'report': write_learning_report(out, learner, last_pixels, result)}


def format_rates(steps: int, wall_s: float, learner: dict) -> str:
    """Acting and learning rates of a run without a replay ratio (they share the computer)."""
    return (f"acting: {steps / wall_s:.2f} steps/s; learner: {learner['updates']} updates, "
            f"{learner['learner_samples_per_s']:.1f} samples/s")


def make_held_out_check(config: RunConfig, robot, learner, logger):
    """The periodic held-out check of a learning run on the simulator, or None."""
    if learner is None or robot.robot_type != 'toroidal_dot' or config.eval_every <= 0:
        return None
    from devrobot_bringup.learning_report import HeldOutCheck
    return HeldOutCheck(learner, logger, robot.config, config.eval_every,
                        seed=robot.config.seed + 1)


def storage_config(args: argparse.Namespace) -> SessionStorageConfig:
    try:
        return config_from_arguments(SessionStorageConfig, args)
    except ValueError as error:
        raise UsageError(str(error)) from None


def make_disk_budget(config: SessionStorageConfig, bags: Path, current: Path):
    """The original's RECORDING_MAX_DISK_GB: the oldest session bags go when over budget."""
    try:
        return DiskBudget.from_config(config, bags, keep=current, report=print_note)
    except ValueError as error:
        raise UsageError(str(error)) from None


def print_note(message: str) -> None:
    print(f'devrobot run: {message}', file=sys.stderr)


def make_bag_config(args: argparse.Namespace) -> SessionBagConfig:
    """How often the bag reaches the disk (--bag-flush-interval-s, --bag-flush-bytes)."""
    config = config_from_arguments(SessionBagConfig, args)
    try:
        config.check()
    except ValueError as error:
        raise UsageError(str(error)) from None
    return config


def open_recorder(path: Path, robot_type: str, action_space, config: dict,
                  bag_config: SessionBagConfig | None = None):
    from devrobot_core.bags.session_bag import SessionBagWriter
    try:
        return SessionBagWriter(path, robot_type, action_space, config, bag_config=bag_config)
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


def learning_setup(config: RunConfig, robot, args: argparse.Namespace) -> tuple:
    """(LearnerConfig, model configs) from the flags, with the run's policy, seed and wandb."""
    try:
        from devrobot_world_model.commands.cli_support import learning_configs
    except ImportError as error:
        raise UsageError(f'--learn needs the world model and torch: {error}') from None
    return learning_configs(args, robot_image_size(robot, args), len(robot.action_space),
                            policy=config.policy_spec(), seed=args.seed or 0,
                            wandb_project=config.wandb_project)


def build_learner(robot, out: Path, learning: tuple):
    """The world model, resumed from `out/checkpoints` when a previous run left one."""
    from devrobot_world_model.learning.learner import Learner, start_process
    from devrobot_world_model.learning.learner_checkpoint import ImageSizeError
    learner_config, model_configs = learning
    start_process(learner_config.seed, learner_config.torch_threads)
    try:
        return Learner(robot.action_space, learner_config, model_configs,
                       checkpoint_dir=out / 'checkpoints')
    except ImageSizeError as error:  # nothing was written: the checkpoint folder stays as it was
        raise UsageError(f'the checkpoint in {out / "checkpoints"} was trained on '
                         f'{error.trained} px frames, not --image-size {error.asked}: use its '
                         'size or another --out') from None
    except ValueError as error:  # a bad policy spec, or a checkpoint of another architecture
        raise UsageError(str(error)) from None


def open_metrics_log(out: Path, learner):
    """metrics.jsonl in the run folder (and wandb with a project) for a learning run.

    The learner gets it too: with wandb, it uploads its prediction grid there.
    """
    if learner is None:
        return None
    from devrobot_world_model.learning.metrics import MetricsLogger
    logger = MetricsLogger(out, learner.config.wandb_project or None, learner.config.wandb_mode,
                           config=dataclasses.asdict(learner.config))
    learner.logger = logger
    return logger


def robot_image_size(robot, args: argparse.Namespace) -> int:
    """The side of the robot's square frames, px: its config's, else the --image-size flag."""
    return int(getattr(getattr(robot, 'config', None), 'image_size', args.image_size))


def robot_clock(robot):
    clock = getattr(robot, 'clock', None)
    return clock.now_ns if clock is not None else time.time_ns


def robot_config_dict(robot) -> dict:
    config = getattr(robot, 'config', None)
    return config_to_dict(config) if config is not None else {}


def write_stats(out: Path, stats: SessionStats) -> str:
    """Save stats.json whole or not at all; '' or why it could not be saved."""
    path = out / 'stats.json'
    try:
        write_atomically(path, json.dumps(stats.summary(), indent=2) + '\n')
    except OSError as error:
        return f'cannot save {path} ({error.strerror or error}); the old one, if any, is kept'
    return ''


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
