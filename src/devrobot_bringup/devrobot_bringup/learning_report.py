"""What a learning run leaves behind: its report, and for the simulator a held-out score.

Imports torch (through the world model), so `devrobot run` imports this only with --learn.
"""

from __future__ import annotations

from pathlib import Path

from devrobot_sim.toroidal_dot import ToroidalDotWorld
from devrobot_world_model.commands.eval_command import format_table, make_predict_fn
from devrobot_world_model.evaluation import evaluation
from devrobot_world_model.evaluation.report import FramePanel, write_report


def describe_action(command) -> str:
    return f'L{command.left:g} R{command.right:g} {command.duration_s:g}s'


def frame_panel(learner, pixels) -> FramePanel:
    """The current frame, its reconstruction, and the predicted next frame for every action."""
    seen = learner.inspect(pixels)
    names = [describe_action(c) for c in learner.action_space]
    return FramePanel(pixels, seen['reconstruction'], dict(zip(names, seen['predictions'])))


def held_out_table(checkpoint_dir: Path, sim_config, states: int, seed: int) -> str:
    """Score the saved model with the held-out protocol (`devrobot eval`), as a table."""
    import devrobot_world_model
    model = devrobot_world_model.load(checkpoint_dir)
    predict_fn = make_predict_fn(model, ToroidalDotWorld(sim_config).action_space)
    result = evaluation.evaluate_with_baselines(predict_fn, sim_config, states=states,
                                                seed=seed)
    return format_table(evaluation.finite_or_none(result))


def write_learning_report(out: Path, learner, last_pixels, evaluation_table: str = '') -> Path:
    sections = {'Held-out evaluation': evaluation_table} if evaluation_table else {}
    return write_report(out, frame_panel(learner, last_pixels), title=f'devrobot run: {out}',
                        sections=sections)
