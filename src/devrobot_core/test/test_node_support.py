"""Config dataclasses as ROS parameters, and the shared main, through the rclpy double."""

import signal
from dataclasses import dataclass

import pytest
from devrobot_core.testing import rclpy_double

from devrobot_core.config_fields import setting
from devrobot_core.ros.node_support import declare_config, spin_node, watch_config


@dataclass
class ExampleConfig:
    """A config with every supported field type."""

    rate_hz: float = setting(2.0, 'How often.')
    count: int = setting(3, 'How many.')
    name: str = setting('dot', 'Which.')
    enabled: bool = setting(True, 'Whether.')
    weights: list[float] = setting([0.5, 1.5], 'Per action.')
    tags: list[str] = setting([], 'Labels; empty by default.')

    def __post_init__(self):
        if self.rate_hz <= 0:
            raise ValueError(f'rate_hz must be positive, got {self.rate_hz}')


@pytest.fixture
def make_node(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    import rclpy
    from rclpy.node import Node
    rclpy.init()

    def make(**overrides):
        ros.overrides['example'] = dict({'count': 7, 'weights': [1.0, 2.0, 3.0]}, **overrides)
        return Node('example')
    return make


@pytest.fixture
def node(make_node):
    return make_node()


def test_every_field_becomes_a_described_parameter(node):
    config = declare_config(node, ExampleConfig, dynamic=('rate_hz',))
    assert config == ExampleConfig(count=7, weights=[1.0, 2.0, 3.0])
    assert node.describe_parameter('rate_hz').description == 'How often.'
    assert not node.describe_parameter('rate_hz').read_only
    assert node.describe_parameter('count').read_only
    from rclpy.parameter import Parameter
    assert node.get_parameter('weights').type_ is Parameter.Type.DOUBLE_ARRAY


def test_an_empty_list_default_is_declared_with_its_element_type(node, make_node):
    assert declare_config(node, ExampleConfig).tags == []
    assert declare_config(make_node(tags=['a', 'b']), ExampleConfig).tags == ['a', 'b']


def test_an_int_for_a_float_field_is_refused(make_node):
    with pytest.raises(rclpy_double.InvalidParameterTypeException):
        declare_config(make_node(rate_hz=2), ExampleConfig)


def test_runtime_changes_are_validated_by_the_dataclass(node):
    holder = [declare_config(node, ExampleConfig, dynamic=('rate_hz',))]
    watch_config(node, ExampleConfig, lambda: holder[0], lambda c: holder.__setitem__(0, c))
    result, = node.graph.set_parameters('example', {'rate_hz': -1.0})
    assert not result.successful and 'positive' in result.reason
    assert holder[0].rate_hz == 2.0
    assert node.graph.set_parameters('example', {'rate_hz': 5.0})[0].successful
    assert holder[0].rate_hz == 5.0
    result, = node.graph.set_parameters('example', {'count': 1})
    assert not result.successful and 'read-only' in result.reason


class Closing:
    """A node class whose close() publishes, as the drivers publish their STOPPED states."""

    @staticmethod
    def make(log, on_close=None):
        from rclpy.node import Node
        from std_msgs.msg import String

        class Node_(Node):
            def __init__(self):
                super().__init__('closing')
                self.publisher = self.create_publisher(String, 'state', 10)

            def close(self):
                if on_close is not None:
                    on_close()
                self.publisher.publish(String(data='stopped'))
                log.append(('close', self._destroyed))
        return Node_


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_spinning_and_close_still_publishes(monkeypatch, signum):
    ros = rclpy_double.install(monkeypatch)
    log = []
    ros.idle_hook = lambda: ros.send_signal(signum)
    assert spin_node(Closing.make(log)) == 0
    assert log == [('close', False)] and ros.destroyed == ['closing']
    assert [m.data for m in ros.messages('state')] == ['stopped']  # the context was valid
    assert ros.shutdown_calls == 1 and not ros.initialized
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_callbacks_keep_running_until_the_stop_is_noticed(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    from std_msgs.msg import String
    heard = []

    def make():
        from rclpy.node import Node
        node = Node('listener')
        node.create_subscription(String, 'chatter', heard.append, 10)
        return node

    def idle():
        if ros.idle_calls == 1:
            ros.nodes[0].create_publisher(String, 'chatter', 10).publish(String(data='x'))
        else:
            ros.send_signal(signal.SIGINT)
    ros.idle_hook = idle
    assert spin_node(make) == 0
    assert [m.data for m in heard] == ['x']


def test_a_second_signal_during_close_does_not_cut_the_save_short(monkeypatch, capfd):
    ros = rclpy_double.install(monkeypatch)
    log = []
    ros.idle_hook = lambda: ros.send_signal(signal.SIGINT)
    assert spin_node(Closing.make(log, on_close=lambda: ros.send_signal(signal.SIGTERM))) == 0
    assert log == [('close', False)] and ros.messages('state')
    assert 'SIGTERM again: still shutting down' in capfd.readouterr().err


def test_launch_forwarding_the_terminals_ctrl_c_is_no_second_request(monkeypatch, capfd):
    ros = rclpy_double.install(monkeypatch)
    log = []

    def ctrl_c_in_a_terminal():  # the terminal's SIGINT, then launch's, milliseconds apart
        ros.send_signal(signal.SIGINT)
        ros.send_signal(signal.SIGINT)
    ros.idle_hook = ctrl_c_in_a_terminal
    assert spin_node(Closing.make(log)) == 0
    assert log == [('close', False)] and ros.messages('state')
    assert 'again' not in capfd.readouterr().err


def test_the_same_signal_later_is_told(monkeypatch, capfd):
    from devrobot_core.ros.node_support import (install_stop_handlers, restore_handlers,
                                                SIGNAL_ECHO_S, StopRequest)
    ros = rclpy_double.install(monkeypatch)
    now = [100.0]
    stop = StopRequest()
    previous = install_stop_handlers(stop, clock=lambda: now[0])
    try:
        ros.send_signal(signal.SIGINT)
        now[0] += SIGNAL_ECHO_S / 2
        ros.send_signal(signal.SIGINT)
        assert 'again' not in capfd.readouterr().err
        now[0] += SIGNAL_ECHO_S
        ros.send_signal(signal.SIGINT)
        assert 'SIGINT again: still shutting down' in capfd.readouterr().err
    finally:
        restore_handlers(previous)
    assert stop.requested and stop.reason == 'SIGINT'


def test_a_node_ends_its_own_run_with_its_exit_status(monkeypatch):
    from devrobot_core.ros.node_support import StopRequest
    ros = rclpy_double.install(monkeypatch)
    log = []
    node_class = Closing.make(log)

    def make():
        node = node_class()
        node.stop_request = StopRequest()
        ros.idle_hook = lambda: node.stop_request.set('robot lost', exit_status=1)
        return node
    assert spin_node(make) == 1
    assert log == [('close', False)] and ros.messages('state')


def test_rclpy_is_initialised_without_its_signal_handlers(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    seen = []

    def make():
        from rclpy.node import Node
        seen.append(signal.getsignal(signal.SIGINT))
        return Node('n')
    spin_node(make)
    assert ros.rclpy_previous_handlers == {}  # rclpy installed nothing
    assert seen[0] is not signal.default_int_handler  # spin_node's own handler was in place


def test_spin_node_turns_bad_input_into_one_line_and_status_2(monkeypatch, capsys):
    from devrobot_core.errors import UsageError
    ros = rclpy_double.install(monkeypatch)

    def broken():
        raise UsageError('checkpoint /x is corrupt')

    assert spin_node(broken) == 2
    assert capsys.readouterr().err == 'error: checkpoint /x is corrupt\n'
    assert ros.shutdown_calls == 1


def test_a_params_file_rcl_refuses_is_one_line_and_status_2(monkeypatch, capsys, tmp_path):
    rclpy_double.install(monkeypatch)
    bad = tmp_path / 'p.yaml'
    bad.write_text('n:\n  ros__parameters:\n    rate_hz:\n')
    assert spin_node(lambda: None, ['--ros-args', '--params-file', str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'No value at line 3' in err and err.count('\n') == 1
