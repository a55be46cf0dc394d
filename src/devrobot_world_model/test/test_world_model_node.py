"""The world-model node, run through the rclpy test double with a recording fake learner."""

import math

import numpy as np
import pytest

from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.messages import to_rosbags

from devrobot_core.conversions import (build_image, build_motor_state,
                                       motor_command_from_msg, ros_message_classes)
from devrobot_core.motor import MotorOutcome, MotorStatus
from devrobot_core.msg_types import get_devrobot_typestore


class FakeLearner:
    """Proposes actions from a list (None: decline), records what it is taught."""

    def __init__(self, proposals=(1, 0, 1, 1, 0, 1)):
        self.proposals = list(proposals)
        self.observed, self.idled, self.closed = [], 0, False

    def select(self, pixels):
        return (self.proposals.pop(0) if self.proposals else 0), {'selector': 'fake'}

    def idle(self, pixels):
        self.idled += 1
        return {'train/recon_loss': 0.25}

    def observe(self, transition):
        self.observed.append(transition)
        return {'train/pred_loss': 0.5, 'act/uncertainty': float(len(self.observed)),
                'train/skipped': False, 'note': 'text is not plotted'}

    def inspect(self, pixels):
        float_image = np.full((3, 8, 8), 0.5, dtype=np.float32)  # [3, H, W] in [0, 1]
        return {'reconstruction': float_image, 'predictions': [float_image, pixels],
                'scores': [0.1, 0.9], 'score_parts': {
                    'predicted_error': [-3.0, -2.0], 'disagreement': None,
                    'progress': [float('nan'), 0.25]}}

    def close(self):
        self.closed = True


@pytest.fixture
def ros(monkeypatch):
    return rclpy_double.install(monkeypatch)


@pytest.fixture
def start(ros, monkeypatch):
    module = rclpy_double.import_fresh(monkeypatch, 'devrobot_world_model.node.world_model_node')
    learner = FakeLearner()
    monkeypatch.setattr(module, 'build_policy', lambda *configs: learner)
    import rclpy
    rclpy.init()

    def make(**overrides):
        ros.overrides['world_model'] = dict(overrides)
        return module.WorldModelNode(), learner
    make.module = module
    return make


def _image(ros, value=0):
    pixels = np.full((8, 8, 3), value, dtype=np.uint8)
    return build_image(ros_message_classes(), pixels, ros.now_ns)


def _complete(ros, command_msg, duration_ns=200_000_000):
    command = motor_command_from_msg(command_msg)
    start_ns = ros.now_ns
    ros.now_ns += duration_ns
    outcome = MotorOutcome(command, command.left, command.right, start_ns, ros.now_ns,
                           MotorStatus.COMPLETED)
    ros.deliver('motor/state', build_motor_state(ros_message_classes(), outcome))


def test_frames_and_states_drive_commands_and_learning(ros, start):
    node, learner = start()
    from rclpy.qos import ReliabilityPolicy
    image_sub = [s for s in node.subscriptions if s.topic_name == 'camera/image_raw'][0]
    assert image_sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
    for step in range(4):
        ros.deliver('camera/image_raw', _image(ros, step))
        ros.deliver('camera/image_raw', _image(ros, step))  # in flight: no second command
        assert len(ros.messages('motor/command')) == step + 1
        _complete(ros, ros.messages('motor/command')[-1])
        ros.now_ns += 1
    ros.deliver('camera/image_raw', _image(ros, 9))
    # Each new command closes the previous command's window for a next frame.
    assert node.policy.drain(timeout_s=10)
    assert len(learner.observed) == 4
    commands = [motor_command_from_msg(m) for m in ros.messages('motor/command')]
    assert [c.right for c in commands[:3]] == [0.12, 0.0, 0.12]
    store = get_devrobot_typestore()
    store.serialize_cdr(to_rosbags(ros.messages('motor/command')[0]),
                        'devrobot_interfaces/msg/MotorCommand')


def test_metrics_go_to_diagnostics_and_plottable_topics(ros, start):
    node, learner = start()
    for step in range(2):
        ros.deliver('camera/image_raw', _image(ros, step))
        _complete(ros, ros.messages('motor/command')[-1])
    assert node.policy.drain(timeout_s=10)
    node.flow.publish_metrics()  # the learner's metrics go out with the next callback's
    diagnostics = ros.messages('/diagnostics')[-1]
    status, = diagnostics.status
    values = {kv.key: kv.value for kv in status.values}
    assert values['train/pred_loss'] == '0.5' and 'note' not in values
    assert status.level == status.OK
    assert [m.data for m in ros.messages('world_model/metrics/act/uncertainty')] == [1.0]
    store = get_devrobot_typestore()
    store.serialize_cdr(to_rosbags(diagnostics), 'diagnostic_msgs/msg/DiagnosticArray')


def test_non_finite_metrics_raise_a_warning(ros, start):
    node, learner = start()
    node.inspection.publish_metrics([{'train/loss': float('nan')}])
    status, = ros.messages('/diagnostics')[-1].status
    assert status.level == status.WARN and 'train/loss' in status.message


def test_inspection_images_and_scores(ros, start):
    node, learner = start(inspect_every_frames=2)
    ros.deliver('camera/image_raw', _image(ros, 7))
    assert ros.messages('world_model/reconstruction') == []
    ros.deliver('camera/image_raw', _image(ros, 7))
    assert node.inspector.wait_idle(timeout_s=10)
    reconstruction, = ros.messages('world_model/reconstruction')
    assert reconstruction.encoding == 'rgb8' and bytes(reconstruction.data)[:3] == b'\x80' * 3
    prediction_1, = ros.messages('world_model/prediction/action_1')
    assert bytes(prediction_1.data) == bytes([7]) * 8 * 8 * 3
    scores, = ros.messages('world_model/scores')
    assert list(scores.data[:2]) == pytest.approx([0.1, 0.9])  # rqt_plot: data[i]
    assert list(scores.data[2:4]) == pytest.approx([-3.0, -2.0])
    assert math.isnan(scores.data[4]) and scores.data[5] == pytest.approx(0.25)
    rows, actions = scores.layout.dim
    assert rows.label == 'score,predicted_error,progress' and rows.size == 3
    assert (actions.label, actions.size, actions.stride) == ('action', 2, 2)


def test_observe_only_never_publishes_commands(ros, start):
    node, learner = start(observe_only=True)
    assert not any(p.topic_name == 'motor/command' for p in node.publishers)
    for step in range(3):
        ros.deliver('camera/image_raw', _image(ros, step))
    assert ros.messages('motor/command') == []


def test_interactive_accept_and_override(ros, start):
    from std_msgs.msg import UInt8
    from std_srvs.srv import Trigger
    node, learner = start(interactive=True)
    ros.deliver('camera/image_raw', _image(ros))
    assert ros.messages('motor/command') == [] and len(ros.messages('world_model/proposal')) == 1
    ros.now_ns += 3_000_000_000  # the person takes three seconds
    response = ros.call_service('world_model/accept', Trigger.Request())
    assert response.success
    sent = motor_command_from_msg(ros.messages('motor/command')[-1])
    assert sent.right == 0.12 and sent.stamp_ns == ros.now_ns  # stamped at the decision
    assert not ros.call_service('world_model/accept', Trigger.Request()).success
    _complete(ros, ros.messages('motor/command')[-1])
    ros.deliver('camera/image_raw', _image(ros, 1))  # proposes action 0
    ros.deliver('world_model/override', UInt8(data=5))  # no such action: refused
    assert len(ros.messages('motor/command')) == 1
    ros.deliver('world_model/override', UInt8(data=1))
    assert motor_command_from_msg(ros.messages('motor/command')[-1]).right == 0.12


def test_a_lost_state_stops_blocking_after_the_timeout(ros, start):
    node, learner = start(state_timeout_s=1.0)
    ros.deliver('camera/image_raw', _image(ros))
    ros.now_ns += 1_100_000_000  # 0.2 s command + 0.9 s: still waiting
    ros.deliver('camera/image_raw', _image(ros))
    assert len(ros.messages('motor/command')) == 1
    ros.now_ns += 200_000_000
    ros.deliver('camera/image_raw', _image(ros))
    assert len(ros.messages('motor/command')) == 2
    assert any('no motor/state' in text for _, level, text in ros.logs if level == 'warn')


def test_a_pending_proposal_is_never_timed_out(ros, start):
    node, learner = start(interactive=True, state_timeout_s=1.0)
    ros.deliver('camera/image_raw', _image(ros))
    ros.now_ns += 60_000_000_000  # the person is away for a minute
    ros.deliver('camera/image_raw', _image(ros))
    assert len(ros.messages('world_model/proposal')) == 1
    assert node.gate.pending is not None


def test_bad_messages_are_dropped_with_a_warning(ros, start):
    node, learner = start()
    broken = _image(ros)
    broken.encoding = 'no_such_encoding'  # (yuv422 is one cv_bridge converts)
    ros.deliver('camera/image_raw', broken)
    state = build_motor_state(ros_message_classes(), MotorOutcome(
        learner_command(), 0.0, 0.0, 0, 0, MotorStatus.COMPLETED))
    state.status = 77
    ros.deliver('motor/state', state)
    warnings = [text for _, level, text in ros.logs if level == 'warn']
    assert any('no_such_encoding' in w for w in warnings) and any('77' in w for w in warnings)
    assert ros.messages('motor/command') == []


def test_a_frame_of_another_size_is_dropped_with_a_warning(ros, start):
    from devrobot_world_model.model.model_io import FrameSizeError
    node, learner = start()

    def select(pixels):
        raise FrameSizeError(f'a uint8 {list(pixels.shape)} frame arrived; the model takes 16')
    learner.select = select
    ros.deliver('camera/image_raw', _image(ros))  # the callback returns: the node lives on
    warnings = [text for _, level, text in ros.logs if level == 'warn']
    assert any('dropped a camera image: a uint8 [8, 8, 3] frame' in w for w in warnings)
    assert ros.messages('motor/command') == []


def learner_command():
    from devrobot_world_model.node.node_config import WorldModelNodeConfig
    return WorldModelNodeConfig().commands()[0]


def test_main_closes_the_learner_on_shutdown(ros, start):
    import rclpy
    rclpy.shutdown()
    learner = FakeLearner()
    start.module.build_policy = lambda *configs: learner
    assert start.module.main([]) == 0
    assert learner.closed and ros.destroyed == ['world_model']


def test_checkpoint_folder_defaults_per_robot(ros, start):
    node, _ = start(robot_type='jetbot', checkpoint_root='/data/ckpt')
    assert str(node.config.checkpoint_folder()) == '/data/ckpt/jetbot'


def test_a_used_up_recorded_policy_turns_the_node_into_an_observer(ros, start):
    from devrobot_core.interactive import StopRequested
    node, learner = start()
    proposals = [1]

    def select(pixels):
        if not proposals:
            raise StopRequested('the recorded session has no more actions')
        return proposals.pop(0), {}
    learner.select = select
    ros.deliver('camera/image_raw', _image(ros, 0))
    _complete(ros, ros.messages('motor/command')[-1])
    for step in range(3):
        ros.deliver('camera/image_raw', _image(ros, step + 1))
    assert len(ros.messages('motor/command')) == 1
    assert node.core.observe_only


def test_frames_of_another_size_are_dropped_with_a_throttled_warning(ros, start):
    node, learner = start()
    clock = [0.0]
    node.flow.warn_dropped.clock = lambda: clock[0]
    ros.deliver('camera/image_raw', _image(ros))  # 8x8: the size from now on
    big = build_image(ros_message_classes(), np.zeros((16, 16, 3), np.uint8), ros.now_ns)
    for _ in range(3):
        ros.deliver('camera/image_raw', big)  # a second camera on the domain
    clock[0] = 10.0
    ros.deliver('camera/image_raw', big)
    warnings = [text for _, level, text in ros.logs if level == 'warn']
    assert len(warnings) == 2 and '16x16' in warnings[0] and 'takes 8x8' in warnings[0]
    assert '2 more since the last' in warnings[1]
    assert node.flow.frame_gate.dropped == 4 and len(ros.messages('motor/command')) == 1


def test_a_resumed_models_frame_size_is_the_one_admitted(ros, start, monkeypatch):
    learner = FakeLearner()
    learner.frame_shape, learner.steps, learner.updates = (16, 16, 3), 120, 80
    monkeypatch.setattr(start.module, 'build_policy', lambda *configs: learner)
    start.module.WorldModelNode()
    ros.deliver('camera/image_raw', _image(ros))  # 8x8 from a camera at another resolution
    assert ros.messages('motor/command') == []
    assert any('resumed from' in text and '120 steps, 80 updates' in text
               for _, level, text in ros.logs if level == 'info')


def test_a_non_square_first_frame_is_dropped_not_fatal(ros, start):
    node, learner = start()
    wide = build_image(ros_message_classes(), np.zeros((6, 8, 3), np.uint8), ros.now_ns)
    ros.deliver('camera/image_raw', wide)
    assert any('square' in text for _, level, text in ros.logs if level == 'warn')
    ros.deliver('camera/image_raw', _image(ros))
    assert len(ros.messages('motor/command')) == 1


def test_the_proposal_is_latched_for_late_subscribers_and_decisions_are_logged(ros, start):
    from devrobot_interfaces.msg import MotorCommand
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_srvs.srv import Trigger
    node, learner = start(interactive=True)
    ros.deliver('camera/image_raw', _image(ros))
    late = []  # e.g. `ros2 topic echo --qos-durability transient_local`, started later
    Node('tool').create_subscription(MotorCommand, 'world_model/proposal', late.append,
                                     QoSProfile(depth=1,
                                                durability=DurabilityPolicy.TRANSIENT_LOCAL))
    ros.spin_until_idle()
    assert len(late) == 1 and motor_command_from_msg(late[0]).right == 0.12
    ros.call_service('world_model/accept', Trigger.Request())
    assert any('proposal of action 1 accepted' in text for _, _, text in ros.logs)


def test_a_replay_ratio_in_the_parameters_is_not_used_and_says_so_once(ros, start):
    node, _ = start()
    assert node.get_parameter('updates_per_step').value == -1.0  # declared as used: no ratio
    assert not any('updates_per_step' in text for _, _, text in ros.logs)
    start(updates_per_step=1.0)
    warnings = [text for _, level, text in ros.logs
                if level == 'warn' and 'updates_per_step' in text]
    assert warnings == ['updates_per_step 1 is not used: the world-model node learns without '
                        'a replay ratio (the robot acts at its own pace; the learner trains '
                        'with the compute left)']
