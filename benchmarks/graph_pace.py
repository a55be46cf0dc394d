"""The node graph's pace in real time: whether acting ever waits for learning.

Run: .venv/bin/python benchmarks/graph_pace.py [--seconds 60] [--robot sim|jetbot] [--load]
[--replay] [--image-size 224]. Builds the graph in this process on the rclpy test double,
driven by the wall clock (a real-time executor: one thread delivers messages and fires timers,
like rclpy's single-threaded executor): the robot's node (the toroidal-dot simulator, or the
JetBot driver on its mock backend) and the world-model node, learning on the CPU with the
parameters of config/<robot>.yaml. Prints one JSON line with:
- commands_per_s over `--seconds` (0.2 s commands allow 5; target >= 4);
- state_timeouts (the node's "no motor/state" warnings) and self_preemptions (commands
  preempted by the next one), stale_rejections (the JetBot driver's); targets 0;
- image_to_command_ms p50/p99: from the publish of the image a command was chosen on to the
  publish of the command (target p99 <= 50);
- callback_ms p50/p99/max per subscription (how long a motor state can wait behind an image);
- learner_share: the node's learner samples/s over the same learner's standalone samples/s
  (measured after the run, with the same load; target >= 0.7);
- with --replay: the messages of the run played again, at their pace, into an observe-only
  node with use_sim_time semantics (stamps from the messages): transitions learned / in the
  recording (target all).
`--load` runs a CPU-bound process beside the graph for the whole measurement.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from devrobot_core.conversions import frame_from_image, motor_outcome_from_msg
from devrobot_core.motor import MotorStatus
from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.runtime import Graph
from devrobot_core.transitions import transitions_from_events

CONFIG = pathlib.Path(__file__).resolve().parents[1] / 'src/devrobot_bringup/config'


class WallClockGraph(Graph):
    """The double's graph on the wall clock; records when each message was published."""

    def __init__(self):
        super().__init__()
        self.published_at = []  # (topic, perf_counter s, msg)

    @property
    def now_ns(self):
        return time.time_ns()

    @now_ns.setter
    def now_ns(self, value):
        pass  # the wall clock moves by itself

    def _publish(self, publisher, msg):
        self.published_at.append((publisher.topic_name.lstrip('/'), time.perf_counter(), msg))
        super()._publish(publisher, msg)

    def run_for(self, seconds: float) -> None:
        """Deliver messages and fire due timers for `seconds`, one callback at a time."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.spin_until_idle()
            now = time.time_ns()
            for timer in [t for n in self.nodes if not n._destroyed for t in n.timers]:
                if not timer.is_canceled() and timer.next_ns <= now:
                    timer.next_ns = max(timer.next_ns + timer.timer_period_ns, now)
                    timer.callback()
                    self.spin_until_idle()
            time.sleep(0.0005)


def timed_callbacks(node, durations: dict) -> None:
    """Wrap each subscription's callback to record its duration (ms) by topic."""
    for subscription in node.subscriptions:
        def timed(msg, callback=subscription.callback, topic=subscription.topic_name):
            started = time.perf_counter()
            callback(msg)
            durations.setdefault(topic, []).append(1e3 * (time.perf_counter() - started))
        subscription.callback = timed


def percentiles(values) -> dict:
    if not values:
        return {}
    return {'p50': round(float(np.percentile(values, 50)), 2),
            'p99': round(float(np.percentile(values, 99)), 2),
            'max': round(float(np.max(values)), 2), 'n': len(values)}


def robot_node(robot: str):
    if robot == 'sim':
        from devrobot_sim.sim_node import SimNode
        return SimNode()
    from devrobot_jetbot.jetbot_node import JetBotNode
    return JetBotNode()


def build_graph(graph, robot: str, folder: str, image_size: int, **world_model):
    graph.load_params_file(CONFIG / f'{robot}.yaml')
    robot_name = 'sim_node' if robot == 'sim' else 'jetbot_node'
    graph.overrides.setdefault(robot_name, {}).update(
        {'image_size': image_size} if robot == 'sim' else {'backend': 'mock'})
    graph.overrides['world_model'].update(
        checkpoint_dir=os.path.join(folder, 'checkpoints'), run_dir=os.path.join(folder, 'run'),
        image_size=image_size, checkpoint_every=0, **world_model)
    from devrobot_world_model.node.world_model_node import WorldModelNode
    import rclpy
    rclpy.init()
    nodes = [robot_node(robot)] if not world_model.get('observe_only') else []
    return nodes, WorldModelNode()


def graph_figures(graph, node, seconds: float, durations: dict) -> dict:
    by_topic = {}
    for topic, at, msg in graph.published_at:
        by_topic.setdefault(topic, []).append((at, msg))
    images = [at for at, _ in by_topic.get('camera/image_raw', [])]
    latencies = []
    for at, _ in by_topic.get('motor/command', []):
        index = np.searchsorted(images, at) - 1
        if index >= 0:
            latencies.append(1e3 * (at - images[index]))
    states = [at for at, _ in by_topic.get('motor/state', [])]
    command_to_state = []  # the robot's share of a cycle: 200 ms of command, then late timers
    for at, _ in by_topic.get('motor/command', []):
        index = np.searchsorted(states, at)
        if index < len(states):
            command_to_state.append(1e3 * (states[index] - at))
    statuses = [motor_outcome_from_msg(m).status for _, m in by_topic.get('motor/state', [])]
    learner = node.policy.policy
    return {
        'commands_per_s': round(len(by_topic.get('motor/command', [])) / seconds, 2),
        'commands': len(by_topic.get('motor/command', [])),
        'state_timeouts': sum('no motor/state' in text for _, _, text in graph.logs),
        'self_preemptions': statuses.count(MotorStatus.PREEMPTED),
        'stale_rejections': statuses.count(MotorStatus.REJECTED_STALE),
        'image_to_command_ms': percentiles(latencies),
        'command_to_state_ms': percentiles(command_to_state),
        'callback_ms': {topic: percentiles(values) for topic, values in durations.items()},
        'learner_updates': learner.trainer.updates,
        'learner_samples_per_s': round(learner.trainer.samples_per_s(), 1),
        'inspections': node.inspector.done if node.inspector else 0,
    }


def standalone_samples_per_s(learner, seconds: float) -> float:
    """The node's learner, its thread stopped, training alone from the run's replay."""
    trainer = learner.trainer
    trainer.update()  # one-time costs first
    started, updates = time.perf_counter(), trainer.updates
    while time.perf_counter() - started < seconds:
        trainer.update()
    return (trainer.updates - updates) * learner.config.batch_size / (
        time.perf_counter() - started)


def replay(recorded, folder: str, image_size: int, robot: str) -> dict:
    """Play `recorded` (topic, at, msg) at its pace into an observe-only node; count learned."""
    graph = WallClockGraph()
    with rclpy_double.installed(graph):
        _, node = build_graph(graph, robot, folder, image_size, observe_only=True,
                              inspect_every_frames=1)
        durations = {}
        timed_callbacks(node, durations)
        topics = ('camera/image_raw', 'motor/state')
        played = [(at, topic, msg) for topic, at, msg in recorded if topic in topics]
        started, first = time.perf_counter(), played[0][0]
        for at, topic, msg in played:
            time.sleep(max(0.0, (at - first) - (time.perf_counter() - started)))
            graph.deliver(topic, msg)
        node.core.finish()
        node.policy.drain()
        events = [frame_from_image(m) if t == 'camera/image_raw' else motor_outcome_from_msg(m)
                  for _, t, m in played]
        in_bag = sum(1 for _ in transitions_from_events(events))
        learned = node.policy.learned
        node.close()
    return {'replay_transitions_in_recording': in_bag, 'replay_transitions_learned': learned,
            'replay_callback_ms': {t: percentiles(v) for t, v in durations.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--robot', choices=('sim', 'jetbot'), default='sim')
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--load', action='store_true', help='a CPU-bound process beside it')
    parser.add_argument('--replay', action='store_true', help='then replay the recording')
    parser.add_argument('--standalone-seconds', type=float, default=20.0)
    args = parser.parse_args()
    load = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if args.load else None
    try:
        with tempfile.TemporaryDirectory() as folder:
            graph = WallClockGraph()
            with rclpy_double.installed(graph):
                robots, node = build_graph(graph, args.robot, folder, args.image_size)
                durations = {}
                timed_callbacks(node, durations)
                graph.run_for(args.seconds)
                figures = graph_figures(graph, node, args.seconds, durations)
                node.close()
                for robot in robots:
                    getattr(robot, 'close', lambda: None)()
                standalone = standalone_samples_per_s(node.policy.policy,
                                                      args.standalone_seconds)
            figures.update(standalone_samples_per_s=round(standalone, 1),
                           learner_share=round(figures['learner_samples_per_s'] / standalone, 3))
            if args.replay:
                figures.update(replay(graph.published_at, folder, args.image_size, args.robot))
    finally:
        if load is not None:
            load.kill()
            load.wait()
    figures.update(robot=args.robot, seconds=args.seconds, load=args.load,
                   image_size=args.image_size, cpus=os.cpu_count(),
                   load_average=os.getloadavg()[0])
    print(json.dumps(figures), flush=True)


if __name__ == '__main__':
    main()
