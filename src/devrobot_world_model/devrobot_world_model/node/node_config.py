"""Settings of the world-model node's wiring (the learner's own settings are LearnerConfig).

Pure: no rclpy, no torch. The node declares one ROS parameter per field.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from devrobot_core.config_fields import setting
from devrobot_core.motor import action_space_from_flat

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
    run_dir: str = setting(
        '', 'Folder of metrics.jsonl (and offline wandb files); empty: <checkpoint_root>/../'
        'runs/<robot_type>.')
    learning: bool = setting(
        True, 'Train the world model on the incoming transitions; false: only act and '
        'inspect with the loaded checkpoint.')
    observe_only: bool = setting(
        False, 'Never publish motor commands (replay from a bag, or watching another driver).')
    interactive: bool = setting(
        False, 'Hold each proposed command until a person accepts it (service '
        'world_model/accept) or overrides it (topic world_model/override, an action index).')
    state_timeout_s: float = setting(
        2.0, "Stop waiting for a command's motor/state this long after its duration (a lost "
        'message); the next frame may act again.')
    inspect_every_frames: int = setting(
        1, 'Inspect every N-th camera frame (reconstruction, predictions, scores; on a worker '
        'thread, the newest frame when it is free); 0: never.')
    image_queue_depth: int = setting(
        100, 'Camera images the subscription holds while the node is busy (a replayed bag '
        'loses none).')

    def __post_init__(self):
        action_space_from_flat(self.action_space)  # ValueError naming the bad triple
        if not self.robot_type or os.sep in self.robot_type:
            raise ValueError(f'robot_type must be a plain name, got {self.robot_type!r}')
        if not self.state_timeout_s > 0:
            raise ValueError(f'state_timeout_s must be positive, got {self.state_timeout_s}')
        if self.image_queue_depth < 1:
            raise ValueError(f'image_queue_depth must be >= 1, got {self.image_queue_depth}')
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

    def run_folder(self) -> Path:
        root = Path(self.checkpoint_root).expanduser().parent
        return Path(self.run_dir).expanduser() if self.run_dir else root / 'runs' / self.robot_type


def unused_ratio(config: WorldModelNodeConfig, learner_config) -> str | None:
    """The start-up warning for a replay ratio set in the node's parameters; None when unset.

    The node's learner runs without a ratio (FREE_RUNNING, the node's declared default): the
    robot acts at its own pace and the learner trains with the compute left. A paced learner
    would make the camera callback wait for its updates, so the node does not honour one.
    """
    from devrobot_world_model.learning.learner import FREE_RUNNING
    ratio = learner_config.updates_per_step
    if ratio == FREE_RUNNING:
        return None
    use = ('learns without a replay ratio (the robot acts at its own pace; the learner trains '
           'with the compute left)' if config.learning else 'does not learn (learning: false)')
    return f'updates_per_step {ratio:g} is not used: the world-model node {use}'


def build_policy(config: WorldModelNodeConfig, learner_config, model_configs=()):
    """The learner (resumed from the checkpoint folder), or a plain selector when not learning.

    `learner_config` is a LearnerConfig, `model_configs` instances of the world model's config
    classes. The node's learner runs free, whatever `updates_per_step` says (`unused_ratio`
    warns about it): the robot acts at its own pace and the learner uses the compute left.
    With learning off, a learned policy still acts and inspects, but never trains.
    Raises ValueError for a bad selector spec, CheckpointError for an unusable checkpoint.
    """
    from devrobot_world_model.learning.score_selectors import LEARNED_SELECTORS
    commands = config.commands()
    if not config.learning and learner_config.policy not in LEARNED_SELECTORS:
        from devrobot_core.selectors import make_selector
        from devrobot_core.exploration import SelectorPolicy
        return SelectorPolicy(make_selector(learner_config.policy, len(commands),
                                            learner_config.seed))
    from devrobot_world_model.learning.learner import Learner, start_process
    # the node's composition root: once, before the model
    start_process(learner_config.seed, learner_config.torch_threads)
    from devrobot_world_model.learning.learner import FREE_RUNNING
    if not config.learning:
        learner_config = dataclasses.replace(learner_config, updates_per_step=0.0,
                                             actor_lag_steps=0, quality_gate=False,
                                             error_triggered=False)
    else:
        learner_config = dataclasses.replace(learner_config, updates_per_step=FREE_RUNNING)
    return Learner(commands, learner_config, model_configs,
                   checkpoint_dir=config.checkpoint_folder())
