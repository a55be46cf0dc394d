"""The world-model node's callbacks only record and act: learning and inspection run elsewhere."""

import threading

import numpy as np
import pytest

from devrobot_core.conversions import (build_image, build_motor_state, frame_from_image,
                                       motor_command_from_msg, motor_outcome_from_msg,
                                       ros_message_classes)
from devrobot_core.motor import MotorOutcome, MotorStatus
from devrobot_core.testing import rclpy_double
from devrobot_core.transitions import transitions_from_events
from devrobot_world_model.node.inspection_worker import InspectionWorker
from devrobot_world_model.node.learning_queue import LearningQueue


class SlowLearner:
    """A fake learner whose updates block until released; records the threads it runs on."""

    def __init__(self, ros):
        self.ros, self.release = ros, threading.Event()
        self.observed, self.threads, self.in_update = [], set(), threading.Event()
        self.select_ns = 0  # how long choosing takes, in graph time

    def select(self, pixels):
        self.ros.now_ns += self.select_ns
        return 1, {}

    def idle(self, pixels):
        return {}

    def observe(self, transition):
        self.threads.add(threading.current_thread().name)
        self.in_update.set()
        assert self.release.wait(10), 'never released'
        self.observed.append(transition)
        return {'train/loss': 1.0}

    def inspect(self, pixels):
        self.threads.add(threading.current_thread().name)
        return {'reconstruction': pixels, 'predictions': [pixels, pixels], 'scores': [0, 1]}


@pytest.fixture
def node(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_world_model.node.world_model_node')
    learner = SlowLearner(ros)
    monkeypatch.setattr(module, 'build_policy', lambda *configs: learner)
    import rclpy
    rclpy.init()
    made = []

    def make(**overrides):
        ros.overrides['world_model'] = dict(overrides)
        made.append(module.WorldModelNode())
        return made[-1], learner, ros
    yield make
    learner.release.set()
    for each in made:
        each.close()


def _image(ros, value=0):
    return build_image(ros_message_classes(), np.full((8, 8, 3), value, np.uint8), ros.now_ns)


def _state(ros, command_msg, duration_ns=200_000_000):
    command = motor_command_from_msg(command_msg)
    start_ns = ros.now_ns
    ros.now_ns += duration_ns
    return build_motor_state(ros_message_classes(), MotorOutcome(
        command, command.left, command.right, start_ns, ros.now_ns, MotorStatus.COMPLETED))


def test_a_command_is_stamped_when_it_is_published(node):
    world_model, learner, ros = node()
    learner.select_ns = 300_000_000  # choosing takes 0.3 s
    frame_ns = ros.now_ns
    ros.deliver('camera/image_raw', _image(ros))
    command = motor_command_from_msg(ros.messages('motor/command')[-1])
    assert command.stamp_ns == frame_ns + 300_000_000 == ros.now_ns
    assert world_model.core.in_flight == command  # the timeout counts from the publish


def test_motor_states_and_commands_go_on_while_an_update_runs(node):
    world_model, learner, ros = node(inspect_every_frames=0)
    for step in range(3):  # the first transition starts a long update on the second command
        ros.deliver('camera/image_raw', _image(ros, step))
        ros.deliver('motor/state', _state(ros, ros.messages('motor/command')[-1]))
        ros.now_ns += 1
    assert learner.in_update.wait(10) and not learner.release.is_set()
    for step in range(3, 6):  # the update still runs: the robot keeps acting
        ros.deliver('camera/image_raw', _image(ros, step))
        ros.deliver('motor/state', _state(ros, ros.messages('motor/command')[-1]))
        ros.now_ns += 1
    assert len(ros.messages('motor/command')) == 6 and world_model.core.in_flight is None
    assert learner.observed == [] and world_model.policy.pending() >= 1
    learner.release.set()
    assert world_model.policy.drain(timeout_s=10)
    assert len(learner.observed) == 5
    assert not any('no motor/state' in text for _, _, text in ros.logs)


def test_learning_and_inspection_run_off_the_callback_thread(node):
    world_model, learner, ros = node()
    learner.release.set()
    for step in range(3):
        ros.deliver('camera/image_raw', _image(ros, step))
        ros.deliver('motor/state', _state(ros, ros.messages('motor/command')[-1]))
        ros.now_ns += 1
    ros.deliver('camera/image_raw', _image(ros, 9))
    assert world_model.policy.drain(timeout_s=10) and world_model.inspector.wait_idle(10)
    assert learner.observed and ros.messages('world_model/reconstruction')
    assert threading.current_thread().name not in learner.threads
    assert learner.threads == {'devrobot-node-learning', 'devrobot-inspection'}


def test_no_replayed_frame_is_dropped_while_the_learner_is_busy(node):
    world_model, learner, ros = node(observe_only=True)
    image_sub, = [s for s in world_model.subscriptions if s.topic_name == 'camera/image_raw']
    assert image_sub.qos_profile.depth >= 100  # frames wait in the queue, not dropped
    from devrobot_core.conversions import build_motor_command
    from devrobot_world_model.node.node_config import WorldModelNodeConfig
    recorded, actions = [], WorldModelNodeConfig().commands()
    for step in range(20):  # a bag: frame, command, its state; the learner busy throughout
        recorded.append(('camera/image_raw', _image(ros, step)))
        ros.now_ns += 1
        msg = build_motor_command(ros_message_classes(), actions[step % 2].stamped(ros.now_ns))
        recorded.append(('motor/state', _state(ros, msg)))
        ros.now_ns += 1
    recorded.append(('camera/image_raw', _image(ros, 99)))
    for topic, msg in recorded:
        ros.deliver(topic, msg)
    world_model.core.finish()
    expected = list(transitions_from_events(
        frame_from_image(m) if t == 'camera/image_raw' else motor_outcome_from_msg(m)
        for t, m in recorded))
    assert len(expected) == 20 and learner.observed == []
    learner.release.set()
    assert world_model.policy.drain(timeout_s=10)
    assert [t.outcome for t in learner.observed] == [t.outcome for t in expected]
    assert world_model.policy.learned == 20


def test_the_learning_queue_raises_a_learner_failure_on_the_callers_thread():
    class Broken:
        def observe(self, transition):
            raise ValueError('bad batch')

        def select(self, pixels):
            return 0, {}
    queue = LearningQueue(Broken())
    queue.observe('t')
    with pytest.raises(RuntimeError, match='bad batch'):
        queue.drain(timeout_s=10)
    with pytest.raises(RuntimeError, match='bad batch'):
        queue.select(None)


def test_the_inspection_worker_inspects_the_newest_frame_when_free():
    started, go, published = threading.Event(), threading.Event(), []

    def inspect(pixels):
        started.set()
        assert go.wait(10)
        return pixels
    worker = InspectionWorker(inspect, lambda stamp, result: published.append(result))
    worker.offer(1, 'first')
    assert started.wait(10)
    worker.offer(2, 'second')
    worker.offer(3, 'third')  # replaces the waiting second
    go.set()
    assert worker.wait_idle(10)
    worker.close()
    assert published == ['first', 'third'] and worker.replaced == 1
