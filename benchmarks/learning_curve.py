"""Learning curve on the toroidal dot: held-out scores after N environment steps, per seed.

Run: .venv/bin/python benchmarks/learning_curve.py --seed 0 --at 500 1000 [model / learner flags]
e.g. `--model.autoencoder vit --steps 3000 --at 1000 2000 3000`. Every flag of `devrobot train`'s
learner and model configs is accepted. One JSON line per evaluation point.

Protocol: the random policy drives a simulator seeded with `--seed` (dot radius 5, 27 px moves,
`--image-size` px) in the session loop of `devrobot run`, the learner (also seeded with
`--seed`) learns online, and at each `--at` step the model is scored with `evaluation.evaluate`
on 512 fresh states drawn from seed `1000 + seed`. Targets: both actions' R² >= 0.95, median
position error <= 0.5 px and action discrimination >= 99 % within 1,000 steps (default model);
R² >= 0.9 within 3,000 (ViT).
`loop_s` is the wall time of the loop without the evaluations; it depends on what else runs.
`reconstruction_r2` is the autoencoder's own R² on the same states, the ceiling of prediction.
"""

import argparse
import json
import os
import time

import torch

from devrobot_core.session_loop import run_session
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.commands.cli_support import add_learning_arguments, learning_configs
from devrobot_world_model.commands.eval_command import make_predict_fn
from devrobot_world_model.evaluation.evaluation import evaluate
from devrobot_world_model.learning.learner import Learner, start_process
from devrobot_world_model.model.prediction_api import PredictionModel


def scores(learner: Learner, world: ToroidalDotConfig, seed: int) -> dict:
    """The learner's current model through the public prediction API, as `devrobot eval`."""
    model = PredictionModel(learner.model, learner.action_space)  # eval mode; training resets
    held_out = evaluate(make_predict_fn(model, learner.action_space), world, states=512,
                        seed=1000 + seed, horizons=(1,))
    reconstruction = evaluate(lambda frames, _: model.reconstruct(frames), world, states=256,
                              seed=1000 + seed, horizons=(1,))
    per_action = held_out['per_action']
    return {'r2_stay': per_action['stay']['r2'], 'r2_move': per_action['move']['r2'],
            'position_error_px_median_stay': per_action['stay']['position_error_px_median'],
            'position_error_px_median_move': per_action['move']['position_error_px_median'],
            'action_discrimination': held_out['action_discrimination'],
            'reconstruction_r2': reconstruction['per_action']['stay']['r2']}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=1000, help='Environment steps (1000).')
    parser.add_argument('--at', type=int, nargs='+', default=[500, 1000],
                        help='Steps after which to evaluate (500 1000).')
    parser.add_argument('--threads', type=int, default=int(os.environ.get('THREADS', 1)),
                        help='torch CPU threads (1: two seeds can share two cores).')
    add_learning_arguments(parser, skip=('policy', 'checkpoint_every'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed = args.seed if args.seed is not None else 0
    config, models = learning_configs(args, policy='random', seed=seed, checkpoint_every=0)
    start_process(seed)
    world = ToroidalDotConfig(seed=seed, image_size=config.image_size)
    robot = SimRobot(world)
    learner = Learner(robot.action_space, config, models)
    started, evaluating_s = time.perf_counter(), 0.0

    def evaluate_at(step):
        nonlocal evaluating_s
        if step in args.at:
            with learner.quiet():  # every transition so far learned
                paused = time.perf_counter()
                figures = {k: round(v, 4) for k, v in scores(learner, world, seed).items()}
                evaluating_s += time.perf_counter() - paused
            loop_s = time.perf_counter() - started - evaluating_s
            print(json.dumps({'seed': seed, 'step': step, 'loop_s': round(loop_s), **figures}),
                  flush=True)
    run_session(robot, learner.policy, args.steps, learner=learner, on_step=evaluate_at)
    learner.close()


if __name__ == '__main__':
    main()
