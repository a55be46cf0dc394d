"""What a learning run leaves behind: its report, and for the simulator held-out scores.

Imports torch (through the world model), so `devrobot run` imports this only with --learn.
"""

from __future__ import annotations

from pathlib import Path

from devrobot_sim.toroidal_dot import ToroidalDotWorld
from devrobot_world_model.commands.eval_command import (
    format_table, make_predict_fn, TABLE_COLUMNS, table_rows, table_title)
from devrobot_world_model.evaluation import evaluation
from devrobot_world_model.evaluation.report import FramePanel, write_report

# States of the periodic held-out check (every --eval-every steps): with the default model at
# 224 px, about 2 s on this 2-core CPU under load, so 4 checks add about 3 % to 1,000 steps.
CHECK_STATES = 16


def describe_action(command) -> str:
    return f'L{command.left:g} R{command.right:g} {command.duration_s:g}s'


def frame_panel(learner, pixels) -> FramePanel:
    """The current frame, its reconstruction, and the predicted next frame for every action."""
    seen = learner.inspect(pixels)
    names = [describe_action(c) for c in learner.action_space]
    return FramePanel(pixels, seen['reconstruction'], dict(zip(names, seen['predictions'])))


def held_out_result(checkpoint_dir: Path, sim_config, states: int, seed: int) -> dict:
    """Score the saved model with the held-out protocol (`devrobot eval`), beside baselines."""
    import devrobot_world_model
    model = devrobot_world_model.load(checkpoint_dir)
    predict_fn = make_predict_fn(model, ToroidalDotWorld(sim_config).action_space)
    result = evaluation.evaluate_with_baselines(predict_fn, sim_config, states=states,
                                                seed=seed)
    return evaluation.finite_or_none(result)


def held_out_table(checkpoint_dir: Path, sim_config, states: int, seed: int) -> str:
    """The held-out scores as the terminal table of `devrobot eval`."""
    return format_table(held_out_result(checkpoint_dir, sim_config, states, seed))


def held_out_metrics(predict_fn, sim_config, states: int = CHECK_STATES, seed: int = 1) -> dict:
    """`eval/...` figures of a predictor on held-out states.

    Per-action R² and dot error, their minimum, and action discrimination: the curves the
    report opens with.
    """
    result = evaluation.finite_or_none(evaluation.evaluate(
        predict_fn, sim_config, states=states, seed=seed, horizons=(1,)))
    metrics = {'eval/r2_min': result['r2_min'],
               'eval/action_discrimination': result['action_discrimination']}
    for name, scores in result['per_action'].items():
        metrics[f'eval/{name}_r2'] = scores['r2']
        metrics[f'eval/{name}_dot_error_px'] = scores['position_error_px_median']
    return metrics


class HeldOutCheck:
    """Every `every` steps of the session, the learner's current model on held-out states.

    The model checked is a private copy of the weights the learner acts with
    (`inspection_weights`), so the trainer goes on meanwhile. The `eval/...` figures go to
    `logger` (metrics.jsonl, wandb) at the learner's step.
    """

    def __init__(self, learner, logger, sim_config, every: int, seed: int,
                 states: int = CHECK_STATES):
        self.learner, self.logger, self.sim_config = learner, logger, sim_config
        self.every, self.seed, self.states = every, seed, states

    def __call__(self, steps: int) -> dict | None:
        learner = self.learner
        if self.every <= 0 or steps % self.every or self.logger is None:
            return None
        from devrobot_world_model.model.prediction_api import PredictionModel
        model = PredictionModel(learner.inspection_weights(), learner.action_space)
        predict_fn = make_predict_fn(model, ToroidalDotWorld(self.sim_config).action_space)
        metrics = held_out_metrics(predict_fn, self.sim_config, self.states, self.seed)
        self.logger.log(metrics, learner.steps)
        return metrics


def write_learning_report(out: Path, learner, last_pixels, evaluation: dict | None = None
                          ) -> Path:
    tables = {table_title(evaluation): (TABLE_COLUMNS, table_rows(evaluation))} \
        if evaluation else {}
    return write_report(out, frame_panel(learner, last_pixels), title=f'devrobot run: {out}',
                        tables=tables,
                        action_labels=[describe_action(c) for c in learner.action_space])
