"""Settings of the world-model node's wiring (the learner's own settings are LearnerConfig).

Pure: no rclpy, no torch. The node declares one ROS parameter per field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devrobot_sim.config_fields import setting
from devrobot_sim.motor import action_space_from_flat

# The toroidal-dot world's (stay, move) commands, flat: left, right, duration_s per command.
DEFAULT_ACTION_SPACE = [0.0, 0.0, 0.2, 0.0, 0.12, 0.2]
DEFAULT_CHECKPOINT_ROOT = '~/.devrobot/saved/checkpoints'


@dataclass
class WorldModelNodeConfig:
    """What the node learns from, what it may do, and where it keeps its checkpoints."""

    robot_type: str = setting(
        'toroidal_dot', "Robot the images come from ('toroidal_dot', 'jetbot'): names the "
        'default checkpoint folder.')
    action_space: list[float] = setting(
        list(DEFAULT_ACTION_SPACE), "The robot's commands as flat left, right, duration_s "
        'triples (must match the driver).')
    checkpoint_dir: str = setting(
        '', 'Checkpoint folder; empty: <checkpoint_root>/<robot_type>, as the original '
        'saved/checkpoints/<robot>.')
    checkpoint_root: str = setting(
        DEFAULT_CHECKPOINT_ROOT, 'Parent of the per-robot checkpoint folders.')
    policy: str = setting(
        'uncertainty', 'Action selector spec: uncertainty (the learned one), random[:SEED], '
        'constant:N, sequence:NAME|N,N,...')
    learning: bool = setting(True, 'Train the world model on the incoming transitions.')
    observe_only: bool = setting(
        False, 'Never publish motor commands (replay from a bag, or watching another driver).')
    interactive: bool = setting(
        False, 'Hold each proposed command until a person accepts it (service '
        'world_model/accept) or overrides it (topic world_model/override, an action index).')
    wandb_project: str = setting('', 'Send learning metrics to this wandb project (optional).')
    inspect_every_frames: int = setting(
        1, 'Publish reconstruction, predictions and scores every N camera frames; 0: never.')

    def __post_init__(self):
        action_space_from_flat(self.action_space)  # ValueError naming the bad triple
        if not self.robot_type or os.sep in self.robot_type:
            raise ValueError(f'robot_type must be a plain name, got {self.robot_type!r}')
        if self.inspect_every_frames < 0:
            raise ValueError(f'inspect_every_frames must be >= 0, got '
                             f'{self.inspect_every_frames}')
        if self.observe_only and self.interactive:
            raise ValueError('observe_only and interactive exclude each other: an observer '
                             'proposes no commands')

    def commands(self) -> tuple:
        return action_space_from_flat(self.action_space)

    def checkpoint_folder(self) -> Path:
        folder = self.checkpoint_dir or os.path.join(self.checkpoint_root, self.robot_type)
        return Path(folder).expanduser()


def build_policy(config: WorldModelNodeConfig):
    """The learner, or a plain selector when nothing is learned (no torch then).

    Raises ValueError for a bad selector spec.
    """
    commands = config.commands()
    if not config.learning and config.policy != 'uncertainty':
        from devrobot_sim.action_selectors import make_selector
        from devrobot_sim.exploration import SelectorPolicy
        return SelectorPolicy(make_selector(config.policy, len(commands)))
    from devrobot_world_model.learner import build_learner
    return build_learner(commands, config.robot_type, config.checkpoint_folder(),
                         policy=config.policy, wandb_project=config.wandb_project)
