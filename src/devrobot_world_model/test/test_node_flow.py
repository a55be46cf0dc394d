"""The world-model node's behaviour without ROS: NodeFlow and MetricsSink with fakes."""

import numpy as np
import pytest

from devrobot_core.interactive import StopRequested
from devrobot_core.motor import Frame, MotorOutcome, MotorStatus
from devrobot_world_model.learning.learner import FREE_RUNNING, LearnerConfig
from devrobot_world_model.model.model_io import FrameSizeError
from devrobot_world_model.node.metrics_sink import MetricsSink
from devrobot_world_model.node.node_config import unused_ratio, WorldModelNodeConfig
from devrobot_world_model.node.node_flow import NodeFlow, Outputs

SECOND_NS = 1_000_000_000


class FakeQueue:
    """A LearningQueue stand-in that runs everything inline and records the calls."""

    def __init__(self, proposals=(1, 0, 1, 0), steps=None, events=None):
        self.proposals = list(proposals)
        self.policy = self  # the learner behind the queue
        self.observed, self.metrics, self.events = [], {}, events if events is not None else []
        if steps is not None:
            self.steps = steps
        self.logger = None

    def select(self, pixels):
        return (self.proposals.pop(0) if self.proposals else 0), {}

    def idle(self, pixels):
        return {}

    def observe(self, transition):
        self.observed.append(transition)
        self.events.append('observe')
        self.metrics['train/loss'] = 0.5
        return {'act/uncertainty': float(len(self.observed))}

    def inspect(self, pixels):
        return {'scores': [0.0, 1.0]}

    def take_metrics(self):
        metrics, self.metrics = self.metrics, {}
        return metrics

    def take_final_metrics(self):
        return {'train/updates': 7}

    def close(self):
        self.events.append('close')


class Recorder:
    """The shell's side: a settable clock, and lists of everything that left."""

    def __init__(self):
        self.now = 10 * SECOND_NS
        self.sent, self.proposed, self.metrics, self.pictures = [], [], [], []
        self.infos, self.warnings = [], []

    def outputs(self):
        return Outputs(now_ns=lambda: self.now, send=self.sent.append,
                       propose=self.proposed.append, publish_metrics=self.metrics.append,
                       publish_inspection=lambda stamp, result: self.pictures.append(stamp),
                       info=self.infos.append, warning=self.warnings.append)


class FakeLog:
    def __init__(self, events):
        self.records, self.events = [], events

    def log(self, metrics, step):
        self.records.append((dict(metrics), step))

    def close(self):
        self.events.append('log closed')


def _flow(queue=None, **fields):
    fields.setdefault('inspect_every_frames', 0)
    queue = queue or FakeQueue()
    out = Recorder()
    opened = []

    def open_log():
        opened.append(FakeLog(queue.events))
        return opened[-1]
    flow = NodeFlow(WorldModelNodeConfig(**fields), queue, out.outputs(), open_log)
    return flow, queue, out, opened


def _frame(out, value=0, size=8):
    return Frame(np.full((size, size, 3), value, np.uint8), out.now)


def _complete(flow, out, command):
    start = out.now
    out.now += int(command.duration_s * SECOND_NS)
    flow.on_outcome(MotorOutcome(command, command.left, command.right, start, out.now,
                                 MotorStatus.COMPLETED))


def test_a_frame_acts_and_the_command_is_stamped_as_it_leaves():
    flow, queue, out, _ = _flow()
    flow.on_frame(_frame(out))
    flow.on_frame(_frame(out))  # the command is in flight: nothing new
    assert len(out.sent) == 1 and out.sent[0].right == 0.12
    assert out.sent[0].stamp_ns == out.now and flow.core.in_flight == out.sent[0]
    _complete(flow, out, out.sent[0])
    flow.on_frame(_frame(out, 1))  # closes the first command's window: one transition
    assert len(out.sent) == 2 and len(queue.observed) == 1
    assert {'act/uncertainty', 'train/loss'} <= set().union(*out.metrics)


def test_frames_of_another_size_are_dropped_with_throttled_warnings():
    flow, queue, out, _ = _flow()
    clock = [0.0]
    flow.warn_dropped.clock = lambda: clock[0]
    flow.on_frame(_frame(out))  # 8x8 from now on
    for _ in range(3):
        flow.on_frame(_frame(out, size=16))
    clock[0] = 10.0
    flow.on_frame(_frame(out, size=16))
    assert len(out.warnings) == 2 and '2 more since the last' in out.warnings[1]
    assert flow.frame_gate.dropped == 4 and len(out.sent) == 1


def test_an_overdue_state_releases_the_robot_but_a_waiting_proposal_never_times_out():
    flow, queue, out, _ = _flow(state_timeout_s=1.0)
    flow.on_frame(_frame(out))
    out.now += int(1.1 * SECOND_NS)  # 0.2 s command + 0.9 s: still waiting
    flow.on_frame(_frame(out))
    assert len(out.sent) == 1 and out.warnings == []
    out.now += int(0.2 * SECOND_NS)
    flow.on_frame(_frame(out))
    assert len(out.sent) == 2 and out.warnings == ['no motor/state for the last command: '
                                                   'acting again']
    waiting, _, waiting_out, _ = _flow(interactive=True, state_timeout_s=1.0)
    waiting.on_frame(_frame(waiting_out))
    waiting_out.now += 60 * SECOND_NS  # the person is away for a minute
    waiting.on_frame(_frame(waiting_out))
    assert len(waiting_out.proposed) == 1 and waiting.gate.pending is not None
    assert waiting_out.warnings == []


def test_interactive_decisions_send_stamped_commands_or_refuse_in_one_line():
    flow, queue, out, _ = _flow(interactive=True)
    flow.on_frame(_frame(out))
    assert out.sent == [] and len(out.proposed) == 1
    assert 'proposed action 1' in out.infos[-1]
    out.now += 3 * SECOND_NS
    ok, message = flow.accept()
    assert ok and out.sent[-1].stamp_ns == out.now and message == f'sent {out.sent[-1]}'
    assert 'proposal of action 1 accepted' in out.infos[-1]
    assert flow.accept() == (False, 'no command is waiting for a decision')
    _complete(flow, out, out.sent[-1])
    flow.on_frame(_frame(out, 1))
    ok, message = flow.override(5)
    assert not ok and 'outside the action space' in message and out.warnings[-1] == message
    assert flow.override(1)[0] and out.sent[-1].right == 0.12 and len(out.sent) == 2


def test_a_used_up_recorded_policy_or_a_refused_frame_does_not_end_the_node():
    flow, queue, out, _ = _flow()

    def used_up(pixels):
        raise StopRequested('the recorded session has no more actions')
    queue.select = used_up
    flow.on_frame(_frame(out))
    assert flow.core.observe_only and 'observing only from now on' in out.infos[-1]
    refusing, refusing_queue, refusing_out, _ = _flow()

    def refuse(pixels):
        raise FrameSizeError('the model takes 16')
    refusing_queue.select = refuse
    refusing.on_frame(_frame(refusing_out))
    assert refusing_out.warnings == ['dropped a camera image: the model takes 16']
    assert refusing_out.sent == [] and refusing_out.metrics == []


def test_every_nth_frame_is_inspected_off_the_callback():
    flow, queue, out, _ = _flow(inspect_every_frames=2)
    stamps = []
    for step in range(4):
        stamps.append(out.now)
        flow.on_frame(_frame(out, step))
        assert flow.inspector.wait_idle(timeout_s=10)
        out.now += 1
    assert out.pictures == [stamps[1], stamps[3]]
    flow.close()


def test_close_learns_the_last_transitions_then_closes_the_learner_and_logs_its_last_updates():
    events = []
    queue = FakeQueue(steps=1, events=events)
    flow, _, out, opened = _flow(queue, observe_only=True)  # a replayed bag: states only
    move = WorldModelNodeConfig().commands()[1]
    for step in range(2):
        flow.on_frame(_frame(out, step))
        out.now += 1
        _complete(flow, out, move.stamped(out.now))
        out.now += 1
    flow.on_frame(_frame(out, 2))  # the second command's window stays open until the end
    assert out.sent == [] and len(queue.observed) == 1 and len(opened) == 1
    queue.steps = 2
    flow.close()
    assert len(queue.observed) == 2
    assert events == ['observe', 'observe', 'close', 'close', 'log closed']  # queue, learner
    assert opened[0].records[-1] == ({'train/loss': 0.5, 'train/updates': 7}, 2)


def test_the_metrics_log_is_closed_even_when_the_learner_fails_to_close():
    events = []
    queue = FakeQueue(steps=3, events=events)
    flow, _, out, opened = _flow(queue)
    flow.on_frame(_frame(out))
    _complete(flow, out, out.sent[0])
    flow.on_frame(_frame(out, 1))  # a learner's metrics: the log opens
    assert len(opened) == 1

    def broken():
        raise RuntimeError('disk full')
    queue.close = broken
    with pytest.raises(RuntimeError):
        flow.close()
    assert events[-1] == 'log closed'


def test_a_learners_metrics_are_logged_at_its_step_a_selectors_only_published():
    published, opened = [], []
    learner = FakeQueue(steps=5)
    sink = MetricsSink(learner, published.append,
                       lambda: opened.append(FakeLog([])) or opened[-1])
    sink.send({})  # nothing to log: no log opened
    assert opened == [] and published == [{}]
    sink.send({'train/loss': 1.0})
    sink.send({'train/loss': 0.5})
    log, = opened
    assert log.records == [({'train/loss': 1.0}, 5), ({'train/loss': 0.5}, 5)]
    assert learner.logger is log  # the learner's prediction grid goes there too
    selector = FakeQueue()  # no step count
    plain = MetricsSink(selector, published.append, lambda: pytest.fail('opened a log'))
    plain.send({'act/uncertainty': 1.0})
    plain.send_final({'train/updates': 1})
    plain.close()
    assert published[-1] == {'act/uncertainty': 1.0}


def test_a_replay_ratio_in_the_node_parameters_gets_one_warning():
    learning, observing = WorldModelNodeConfig(), WorldModelNodeConfig(learning=False)
    assert unused_ratio(learning, LearnerConfig(updates_per_step=FREE_RUNNING)) is None
    notice = unused_ratio(learning, LearnerConfig(updates_per_step=1.0))
    assert notice.startswith('updates_per_step 1 is not used') and 'without a replay' in notice
    assert '\n' not in notice
    assert 'does not learn' in unused_ratio(observing, LearnerConfig(updates_per_step=0.5))
