"""Where the world-model node's metrics go: its topics always, a learner's also metrics.jsonl.

Pure: no rclpy. `publish` is the shell's (the `/diagnostics` and `world_model/metrics/<key>`
topics); the run folder's MetricsLogger (and wandb, when a project is set) is opened on the
first metrics of a policy that counts steps (a learner), and lent to the learner for its
prediction grid. A selector without a model has no step to log at: its metrics only go out
on the topics.
"""

from __future__ import annotations

from typing import Callable


def open_metrics_logger(run_folder, learner_config):
    """The run folder's MetricsLogger (imported here: it needs torch, a selector does not)."""
    from devrobot_world_model.learning.metrics import MetricsLogger
    return MetricsLogger(run_folder, learner_config.wandb_project or None,
                         learner_config.wandb_mode)


class MetricsSink:
    """Sends each batch of metrics to `publish`, and a learner's to its run log.

    `queue`: the node's LearningQueue (its `policy` is the learner, or a plain selector).
    """

    def __init__(self, queue, publish: Callable[[dict], None],
                 open_log: Callable[[], object]):
        self.queue, self.publish, self.open_log = queue, publish, open_log
        self.log = None  # opened with the first metrics worth logging

    def send(self, metrics: dict) -> None:
        """Publish `metrics`; log them at the learner's step count when it has one."""
        self.publish(metrics)
        steps = getattr(self.queue, 'steps', None)
        if metrics and steps is not None:
            if self.log is None:
                self.log = self.open_log()
                if hasattr(self.queue.policy, 'logger'):  # the learner's prediction grid
                    self.queue.policy.logger = self.log
            self.log.log(metrics, steps)

    def send_final(self, metrics: dict) -> None:
        """Log the metrics of the updates finished after the last step (no topics: closing)."""
        if metrics and self.log is not None:
            self.log.log(metrics, self.queue.steps)

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
