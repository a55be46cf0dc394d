"""`devrobot bench`: how fast this machine learns and acts with the world model.

Figures (all with the configured model; `--json` prints them as one object):
- `train_samples_per_s`: minibatch updates at `--learner.batch-size` on `--sim.image-size`
  frames, in the learner's precision (`--learner.precision auto` takes bf16 on a CPU that has
  it);
- `act_learn_steps_per_s`: simulator steps per second of the session loop (select, step,
  learn at `--learner.updates-per-step`, the trainer in the background), after the warm-up;
- `act_learner_samples_per_s`: the trainer's samples per second meanwhile (with
  `--learner.updates-per-step -1`, what it gets from the compute the acting leaves);
- `select_ms_median` / `select_ms_p90`: one action choice (encode + uncertainty scores);
- `peak_rss_mb`: the process's peak resident memory;
- with CUDA: the same training figure on the GPU in float32, under bfloat16 autocast, and
  bfloat16 with `torch.compile`.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import numpy as np

from devrobot_core.config_fields import add_config_group, config_from_arguments, register_options
from devrobot_core.errors import UsageError
from devrobot_core.parameter_file import SIM_NODE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from devrobot_sim.toroidal_dot import ToroidalDotConfig
    from devrobot_world_model.commands.cli_support import add_learning_arguments
    parser.add_argument('--json', action='store_true', help='Print the figures as JSON.')
    parser.add_argument('--train-updates', type=int, default=20,
                        help='Timed training updates (default: 20, after 2 untimed).')
    parser.add_argument('--act-steps', type=int, default=100,
                        help='Timed acting-and-learning steps (default: 100).')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch CPU threads (default: 2).')
    register_options(parser, SECTION, ('train_updates', 'act_steps', 'threads'))
    add_config_group(parser, ToroidalDotConfig, 'sim', SIM_NODE, skip=('seed',))
    add_learning_arguments(parser, shared=('image_size',))  # the frames: --sim.image-size


SECTION = 'devrobot_bench'  # this command's own settings in a parameter file


def _sim(args: argparse.Namespace, seed: int):
    """The simulator the flags describe, seeded like the learner."""
    from devrobot_sim.sim_robot import SimRobot
    from devrobot_sim.toroidal_dot import ToroidalDotConfig
    try:
        return SimRobot(config_from_arguments(ToroidalDotConfig, args, seed=seed))
    except ValueError as error:
        raise UsageError(str(error)) from None


def _fill(learner, robot, steps: int) -> None:
    """Random-policy transitions into the learner's replay, without training."""
    rng = np.random.default_rng(0)
    frame = robot.read()
    for _ in range(steps):
        outcome = robot.send(robot.action_space[int(rng.integers(len(robot.action_space)))])
        next_frame = robot.read()
        learner.replay.add(frame.pixels, learner.action_space.index(outcome.command),
                           next_frame.pixels, frame.stamp_ns, next_frame.stamp_ns)
        frame = next_frame


def train_throughput(learner, updates: int, device: str | None = None,
                     bf16: bool | None = None, compile_model: bool = False) -> float:
    """Training samples per second of `train_step` on replayed batches.

    `device` and `bf16` None: the learner's own (its config's, resolved for this machine).
    """
    import torch
    from devrobot_world_model.learning.training import make_optimizer, train_step
    bf16 = learner.bf16 if bf16 is None else bf16
    device = learner.device if device is None else torch.device(device)
    model, optimizer = learner.model, learner.trainer.optimizer
    if device != learner.device:
        model = model.to(device)
        optimizer = make_optimizer(model, 1e-3, 1e-3, 0.0)
    if compile_model:  # the instance attribute shadows the method for this measurement
        model.forward_loss = torch.compile(model.forward_loss)
    config = learner.config
    batches = [learner.replay.sample(config.batch_size, learner.trainer.history)
               for _ in range(updates + 2)]
    for index, batch in enumerate(batches):
        if index == 2:
            if device.type == 'cuda':
                torch.cuda.synchronize()
            started = time.perf_counter()
        train_step(model, optimizer, batch, config.grad_clip, bf16, False,
                   config.augment_shift_px, config.augment_wrap, device=device)
    if device.type == 'cuda':
        torch.cuda.synchronize()
    if compile_model:
        del model.forward_loss
    return updates * config.batch_size / (time.perf_counter() - started)


class SelectTimes:
    """A logger keeping only each step's `perf/select_ms`."""

    def __init__(self):
        self.select_ms = []

    def log(self, metrics: dict, step: int) -> None:
        self.select_ms.append(metrics['perf/select_ms'])


def act_and_learn(learner, robot, steps: int) -> tuple:
    """(steps per second of the session loop, the trainer's samples/s, select latencies, ms)."""
    from devrobot_core.session_loop import run_session
    times, updates = SelectTimes(), learner.updates
    started = time.perf_counter()
    run_session(robot, learner.policy, steps, learner=learner, logger=times)
    with learner.quiet():  # the trainer has finished what it was handed
        elapsed = time.perf_counter() - started
        samples = (learner.updates - updates) * learner.config.batch_size
    return steps / elapsed, samples / elapsed, times.select_ms


def main(args: argparse.Namespace) -> int:
    import torch
    from devrobot_world_model.commands.cli_support import learning_configs
    from devrobot_world_model.learning.learner import Learner, start_process

    if args.train_updates < 1 or args.act_steps < 1 or args.threads < 1:
        raise UsageError('--train-updates, --act-steps and --threads must be at least 1')
    learner_config, model_configs = learning_configs(args, args.image_size, checkpoint_every=0)
    robot = _sim(args, learner_config.seed)
    torch.set_num_threads(args.threads)
    start_process(learner_config.seed)
    with tempfile.TemporaryDirectory() as folder:
        learner = Learner(robot.action_space, learner_config, model_configs,
                          checkpoint_dir=folder)
        with learner.quiet():  # a free-running trainer waits while it is measured alone
            _fill(learner, robot, max(2 * learner_config.batch_size, 64))
            train_samples_per_s = train_throughput(learner, args.train_updates)
        figures = {'threads': args.threads, 'image_size': robot.config.image_size,
                   'batch_size': learner_config.batch_size,
                   'updates_per_step': learner_config.updates_per_step,
                   'autoencoder': learner.model.config.autoencoder,
                   'predictor': learner.model.config.predictor,
                   'parameters': sum(p.numel() for p in learner.model.parameters()),
                   'device': str(learner.device),
                   'precision': 'bf16' if learner.bf16 else 'fp32',
                   'train_samples_per_s': round(train_samples_per_s, 1)}
        steps_per_s, learner_samples_per_s, latencies = act_and_learn(learner, robot,
                                                                      args.act_steps)
        learner.close()
        figures.update({'act_learn_steps_per_s': round(steps_per_s, 2),
                        'act_learner_samples_per_s': round(learner_samples_per_s, 1),
                        'select_ms_median': round(float(np.median(latencies)), 2),
                        'select_ms_p90': round(float(np.percentile(latencies, 90)), 2)})
        if torch.cuda.is_available():
            figures['gpu'] = torch.cuda.get_device_name()
            for name, options in (('cuda_fp32', {'bf16': False}), ('cuda_bf16', {'bf16': True}),
                                  ('cuda_bf16_compile', {'bf16': True, 'compile_model': True})):
                figures[f'train_samples_per_s_{name}'] = round(train_throughput(
                    learner, args.train_updates, device='cuda', **options), 1)
            figures['cuda_peak_memory_mb'] = round(torch.cuda.max_memory_allocated() / 2**20)
    figures['peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f'{key:>34}: {value}')
    return 0
