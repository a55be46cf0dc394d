"""The real ROS 2 graph's pace, measured from outside: does acting ever wait for learning?

Run, with ROS 2 sourced and the workspace built (docs/ros.md):
    python benchmarks/graph_pace_ros.py [--seconds 300] [--robot sim|jetbot] [--load]
Starts `ros2 launch devrobot_bringup sim.launch.py` (`jetbot.launch.py backend:=mock` with
`--robot jetbot`) in its own process group with HOME in a temporary folder (fresh checkpoints),
listens to camera/image_raw, motor/command, motor/state, the learner's metric topics and
/rosout for `--seconds` after the first command, then stops the launch as a terminal's Ctrl-C
does (SIGINT to the group). Prints one JSON line with graph_pace.py's figures, taken from
the arrival times here (each message crosses the middleware once on its way here, so the
differences are the graph's own): commands_per_s (target >= 4), state_timeouts,
self_preemptions, stale_rejections (targets 0), image_to_command_ms (target p99 <= 50),
command_to_state_ms, and the learner's updates and samples/s as it publishes them.
`--load` runs a CPU-bound process beside the graph for the whole measurement.
"""

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

import rclpy
from devrobot_interfaces.msg import MotorCommand, MotorState
from rcl_interfaces.msg import Log
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Float64

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # graph_pace beside it
from graph_pace import pace_figures  # noqa: E402

LEARNER_TOPICS = ('world_model/metrics/train/updates',
                  'world_model/metrics/perf/learner_samples_per_s')


class Listener(Node):
    """Notes when each message arrives (perf_counter s), by topic."""

    def __init__(self):
        super().__init__('graph_pace_listener')
        self.seen, self.logs, self.latest = {}, [], {}
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)
        for kind, topic, qos in ((Image, 'camera/image_raw', best_effort),
                                 (MotorCommand, 'motor/command', reliable),
                                 (MotorState, 'motor/state', reliable)):
            self.create_subscription(kind, topic, lambda msg, t=topic: self.note(t, msg), qos)
        for topic in LEARNER_TOPICS:
            self.create_subscription(
                Float64, topic, lambda msg, t=topic: self.latest.__setitem__(t, msg.data), 10)
        self.create_subscription(Log, '/rosout', lambda msg: self.logs.append(msg.msg), 100)

    def note(self, topic: str, msg) -> None:
        self.seen.setdefault(topic, []).append((time.perf_counter(), msg))


def launch(robot: str, home: str) -> subprocess.Popen:
    arguments = ['sim.launch.py'] if robot == 'sim' else ['jetbot.launch.py', 'backend:=mock']
    return subprocess.Popen(['ros2', 'launch', 'devrobot_bringup', *arguments],
                            env={**os.environ, 'HOME': home}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(listener: Listener, seconds: float, startup_s: float = 120.0) -> dict:
    """Spin until the first command (at most `startup_s`), then for `seconds`; the figures."""
    deadline = time.monotonic() + startup_s
    while 'motor/command' not in listener.seen:
        rclpy.spin_once(listener, timeout_sec=0.1)
        if time.monotonic() > deadline:
            raise SystemExit(f'graph_pace_ros: no motor/command within {startup_s:.0f} s')
    listener.seen.clear()
    listener.logs.clear()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        rclpy.spin_once(listener, timeout_sec=0.05)
    figures = pace_figures(listener.seen, seconds, listener.logs)
    figures['learner_updates'] = listener.latest.get(LEARNER_TOPICS[0])
    figures['learner_samples_per_s'] = listener.latest.get(LEARNER_TOPICS[1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=300.0)
    parser.add_argument('--robot', choices=('sim', 'jetbot'), default='sim')
    parser.add_argument('--load', action='store_true', help='a CPU-bound process beside it')
    args = parser.parse_args()
    load = subprocess.Popen([sys.executable, '-c', 'while True: pass']) if args.load else None
    rclpy.init()
    listener = Listener()
    try:
        with tempfile.TemporaryDirectory() as home:
            graph = launch(args.robot, home)
            try:
                figures = measure(listener, args.seconds)
            finally:
                os.killpg(graph.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole group
                graph.wait(timeout=120)
    finally:
        listener.destroy_node()
        rclpy.try_shutdown()
        if load is not None:
            load.kill()
    figures.update(robot=args.robot, seconds=args.seconds, load=args.load,
                   launch_exit_code=graph.returncode, cpus=os.cpu_count(),
                   load_average=os.getloadavg()[0],
                   rmw=os.environ.get('RMW_IMPLEMENTATION', 'default'))
    print(json.dumps(figures))


if __name__ == '__main__':
    main()
