"""Acting beside a free-running learner: the learner on a thread, or in a process of its own.

Run: .venv/bin/python benchmarks/thread_or_process.py [--seconds 60] [--threads 2] [model
flags]. Four measurements of `--seconds` each, on the default dot world and model (224 px
unless `--image-size`), printed as one JSON line each:
- `actor_alone`: the actor's steps per second (select with the model, step the simulator, add
  the transition to a replay buffer), no learner;
- `learner_alone`: the learner's training samples per second from a filled replay buffer;
- `thread`: both at once, the learner a BackgroundTrainer on a thread of this process (free
  running), the actor taking its newest weights every step;
- `process`: both at once, the learner in a spawned process fed the transitions through a
  queue, the actor copying its newest weights from shared memory every step.
"""

import argparse
import json
import multiprocessing
import queue
import time

import numpy as np
import torch

from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.commands.cli_support import add_learning_arguments, learning_configs
from devrobot_world_model.learning.background_trainer import BackgroundTrainer, frozen_copy
from devrobot_world_model.learning.learner import start_process
from devrobot_world_model.learning.policy import WorldModelPolicy
from devrobot_world_model.learning.replay_buffer import ReplayBuffer
from devrobot_world_model.learning.trainer import Trainer
from devrobot_world_model.model.model_io import build_model, model_spec

WARM_UP = 5  # untimed steps or updates first: one-time costs (allocations, kernel choices)


def build(config, models):
    """(robot, model, replay holding 64 random transitions, trainer) from the configs."""
    start_process(config.seed)
    robot = SimRobot(ToroidalDotConfig(image_size=config.image_size, seed=config.seed))
    model = build_model(model_spec(config.image_size, len(robot.action_space), models))
    size = config.image_size
    replay = ReplayBuffer(config.replay_capacity, (size, size, 3), config.seed)
    trainer = Trainer(model, replay, config, torch.device('cpu'), False,
                      (config.autoencoder_lr, config.predictor_lr))
    rng, frame = np.random.default_rng(0), robot.read()
    for _ in range(64):
        index = int(rng.integers(len(robot.action_space)))
        robot.send(robot.action_space[index])
        next_frame = robot.read()
        replay.add(frame.pixels, index, next_frame.pixels, frame.stamp_ns, next_frame.stamp_ns)
        frame = next_frame
    return robot, model, replay, trainer


def act(robot, policy, seconds: float, after_step=lambda frame, index, next_frame: None):
    """Steps per second of select, send, read and `after_step` for `seconds` (after 5 more)."""
    frame, steps, started = robot.read(), -WARM_UP, time.perf_counter()
    while steps <= 0 or time.perf_counter() - started < seconds:
        if steps == 0:
            started = time.perf_counter()
        index, _ = policy.select(frame.pixels)
        robot.send(robot.action_space[index])
        next_frame = robot.read()
        after_step(frame, index, next_frame)
        frame, steps = next_frame, steps + 1
    return steps / (time.perf_counter() - started)


def fixed_weights(model):
    clone = frozen_copy(model)
    return lambda: _Lend(clone, 0)


class _Lend:
    def __init__(self, model, version):
        self.pair = (model, version)

    def __enter__(self):
        return self.pair

    def __exit__(self, *exc_info):
        return False


def learner_process(config, models, threads, vector, lock, transitions, stop, updates):
    """The learner alone in its own process: train, publish weights, take new transitions."""
    torch.set_num_threads(threads)
    _, model, replay, trainer = build(config, models)
    while not stop.is_set():
        try:
            while True:
                replay.add(*transitions.get_nowait())
        except queue.Empty:
            pass
        trainer.update()
        with lock:
            vector.copy_(torch.nn.utils.parameters_to_vector(model.parameters()).detach())
        updates.value = trainer.updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=60.0, help='Per measurement (60).')
    parser.add_argument('--threads', type=int, default=2, help='torch threads per process.')
    add_learning_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, models = learning_configs(args, policy='random', checkpoint_every=0)
    figures = {}

    robot, model, replay, trainer = build(config, models)
    policy = WorldModelPolicy(robot.action_space, fixed_weights(model), 'random')
    figures['actor_alone'] = {'steps_per_s': act(robot, policy, args.seconds)}
    for _ in range(WARM_UP):
        trainer.update()
    started, updates = time.perf_counter(), trainer.updates
    while time.perf_counter() - started < args.seconds:
        trainer.update()
    figures['learner_alone'] = {'samples_per_s': (trainer.updates - updates) * config.batch_size
                                / (time.perf_counter() - started)}
    print(json.dumps(figures), flush=True)

    robot, model, replay, trainer = build(config, models)
    background = BackgroundTrainer(trainer, 0, free_running=True)
    policy = WorldModelPolicy(robot.action_space, background.weights, 'random')
    while trainer.updates < WARM_UP:
        time.sleep(0.05)
    updates, started = trainer.updates, time.perf_counter()
    steps_per_s = act(robot, policy, args.seconds, lambda frame, index, next_frame: replay.add(
        frame.pixels, index, next_frame.pixels, frame.stamp_ns, next_frame.stamp_ns))
    with background.quiet():
        samples = (trainer.updates - updates) * config.batch_size / (
            time.perf_counter() - started)
    background.close()
    figures['thread'] = {'steps_per_s': steps_per_s, 'samples_per_s': samples}
    print(json.dumps({'thread': figures['thread']}), flush=True)

    context = multiprocessing.get_context('spawn')
    robot, model, _, _ = build(config, models)
    actor_model = frozen_copy(model)
    vector = torch.nn.utils.parameters_to_vector(model.parameters()).detach().share_memory_()
    lock, stop = context.Lock(), context.Event()
    transitions, updates = context.Queue(), context.Value('l', 0)
    child = context.Process(target=learner_process, args=(
        config, models, args.threads, vector, lock, transitions, stop, updates))
    child.start()
    while updates.value < WARM_UP:  # the child has built its model and trained a few times
        time.sleep(0.05)
    first, started = updates.value, time.perf_counter()

    def after_step(frame, index, next_frame):
        transitions.put((frame.pixels, index, next_frame.pixels, frame.stamp_ns,
                         next_frame.stamp_ns))
        with lock:
            torch.nn.utils.vector_to_parameters(vector, actor_model.parameters())
    policy = WorldModelPolicy(robot.action_space, lambda: _Lend(actor_model, 0), 'random')
    steps_per_s = act(robot, policy, args.seconds, after_step)
    samples = (updates.value - first) * config.batch_size / (time.perf_counter() - started)
    stop.set()
    child.join()
    figures['process'] = {'steps_per_s': steps_per_s, 'samples_per_s': samples}
    print(json.dumps({'process': figures['process']}), flush=True)
    print(json.dumps({key: {k: round(v, 1) for k, v in value.items()}
                      for key, value in figures.items()}))


if __name__ == '__main__':
    main()
