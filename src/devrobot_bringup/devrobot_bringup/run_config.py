"""Settings of `devrobot run` itself (the robot's and the learner's have their own classes)."""

from __future__ import annotations

from dataclasses import dataclass

from devrobot_core.config_fields import setting


@dataclass
class RunConfig:
    """One session: which robot, which policy, how long, where its outputs go."""

    robot: str = setting('sim', "Robot to drive: 'sim' (toroidal dot) or 'jetbot'.")
    policy: str = setting(
        '', 'Action selector spec: random[:SEED], constant:N, sequence:NAME|N,N,..., '
        'recorded:BAG[@FILTER] (recorded-partial:BAG for a damaged bag), or a learned one '
        '(needs --learn): uncertainty, predicted-error, disagreement, progress. Empty: '
        'uncertainty with --learn, else random.')
    steps: int = setting(200, 'Number of commands to execute.')
    out: str = setting('runs/latest', 'Run folder: session bags, stats, checkpoints, metrics.')
    learn: bool = setting(False, 'Run the world model in the loop, learning as it goes.')
    interactive: bool = setting(
        False, 'Ask before each action: Enter accepts, a number picks another, stop ends.')
    progress: bool = setting(True, 'Show a progress bar on stderr.')
    wandb_project: str = setting('', 'Send learning metrics to this wandb project (optional).')
    eval_states: int = setting(
        256, 'Held-out simulator states scored at the end of a learning run; 0: skip.')
    eval_every: int = setting(
        250, 'Steps between held-out checks during a learning run on the simulator (16 states, '
        'logged as eval/...; report.html opens with them); 0: none.')

    def policy_spec(self) -> str:
        return self.policy or ('uncertainty' if self.learn else 'random')
