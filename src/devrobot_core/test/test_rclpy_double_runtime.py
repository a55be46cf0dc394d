"""The double's executor order, signals, QoS queues and parameter files follow rclpy and rcl.

Each case is what the real stack does (rclpy jazzy `executors.py`, `signal_handler.cpp`; rcl
`rcl_yaml_param_parser/src/parse.c`), so a node shell that relies on something else fails here.
"""

import signal

import pytest
from devrobot_core.testing import rclpy_double
from devrobot_core.testing.rclpy_double.param_yaml import parse_params_file, scalar_value


@pytest.fixture
def ros(monkeypatch):
    return rclpy_double.install(monkeypatch)


@pytest.fixture
def node(ros):
    import rclpy
    from rclpy.node import Node
    rclpy.init()
    return Node('n')


def _string(text):
    from std_msgs.msg import String
    return String(data=text)


# --- signals ---------------------------------------------------------------------------------


def test_ctrl_c_under_rclpys_handlers_shuts_the_context_before_anything_else(ros, node):
    import rclpy
    from std_msgs.msg import String
    publisher = node.create_publisher(String, 'state', 10)
    with pytest.raises(KeyboardInterrupt):
        ros.send_signal(signal.SIGINT)
    assert not rclpy.ok()
    with pytest.raises(rclpy_double.RCLError, match='context is invalid'):
        publisher.publish(_string('stopped'))  # what a close() after Ctrl-C meets


def test_sigterm_under_rclpys_handlers_only_shuts_the_context(ros, node):
    import rclpy
    ros.send_signal(signal.SIGTERM)  # the previous handler is the default: not called
    assert not rclpy.ok()


def test_without_rclpys_handlers_the_context_outlives_a_ctrl_c(ros):
    import rclpy
    from rclpy.node import Node
    from rclpy.signals import SignalHandlerOptions
    from std_msgs.msg import String
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    publisher = Node('n').create_publisher(String, 'state', 10)
    with pytest.raises(KeyboardInterrupt):  # Python's own handler
        ros.send_signal(signal.SIGINT)
    assert rclpy.ok()
    publisher.publish(_string('stopped'))
    with pytest.raises(SystemExit):  # no handler at all: SIGTERM kills the process
        ros.send_signal(signal.SIGTERM)


def test_shutdown_uninstalls_rclpys_handlers_and_the_table_is_the_doubles(ros):
    import rclpy
    rclpy.init()
    assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    rclpy.shutdown()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    seen = []
    signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    ros.send_signal(signal.SIGTERM)
    assert seen == [signal.SIGTERM]


def test_spin_ends_at_a_ctrl_c_with_the_context_shut_down(ros, node):
    import rclpy
    with pytest.raises(KeyboardInterrupt):
        rclpy.spin(node)  # idle at once: the double's default idle is a Ctrl-C
    assert not rclpy.ok()


def test_an_executor_that_ignores_the_ctrl_c_is_an_error_not_a_hang(ros):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.signals import SignalHandlerOptions
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    executor = SingleThreadedExecutor()
    executor.add_node(Node('n'))
    executor.spin_once(timeout_sec=0.1)
    with pytest.raises(RuntimeError, match='kept spinning'):
        executor.spin_once(timeout_sec=0.1)


# --- executor order and queues ---------------------------------------------------------------


def test_callbacks_run_by_entity_type_and_creation_order_one_message_each(ros, node):
    from std_msgs.msg import String
    order = []
    node.create_subscription(String, 'a', lambda m: order.append('a' + m.data), 10)
    node.create_subscription(String, 'b', lambda m: order.append('b' + m.data), 10)
    node.create_timer(1.0, lambda: order.append('timer'))
    pub_a = node.create_publisher(String, 'a', 10)
    pub_b = node.create_publisher(String, 'b', 10)
    for publisher, text in ((pub_b, '1'), (pub_b, '2'), (pub_a, '1')):
        publisher.publish(_string(text))
    ros.now_ns += 1_000_000_000  # the timer is due as well
    ros.spin_until_idle(timers=True)
    # publish order was b1, b2, a1; rclpy takes timers first, then one message per
    # subscription in creation order, round after round
    assert order == ['timer', 'a1', 'b1', 'b2']


def test_the_executor_takes_one_callback_per_spin_once(ros, node):
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String
    heard = []
    node.create_subscription(String, 'a', heard.append, 10)
    publisher = node.create_publisher(String, 'a', 10)
    publisher.publish(_string('1'))
    publisher.publish(_string('2'))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.spin_once(timeout_sec=0.0)
    assert [m.data for m in heard] == ['1']
    executor.spin_once(timeout_sec=0.0)
    assert [m.data for m in heard] == ['1', '2']


def test_keep_last_keeps_the_newest_depth_messages(ros, node):
    from std_msgs.msg import String
    heard = []
    subscription = node.create_subscription(String, 'a', heard.append, 2)
    publisher = node.create_publisher(String, 'a', 10)
    for text in '1234':
        publisher.publish(_string(text))
    ros.spin_until_idle()
    assert [m.data for m in heard] == ['3', '4'] and subscription.dropped == 2


def test_transient_local_reaches_a_late_subscriber_and_volatile_does_not(ros, node):
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_publisher(String, 'latched', latched).publish(_string('proposal'))
    node.create_publisher(String, 'plain', 10).publish(_string('gone'))
    late, missed = [], []
    node.create_subscription(String, 'latched', late.append, latched)
    node.create_subscription(String, 'plain', missed.append, latched)
    ros.spin_until_idle()
    assert [m.data for m in late] == ['proposal'] and missed == []


# --- parameter files read as rcl reads them ---------------------------------------------------


@pytest.mark.parametrize('text, value', [
    ('2e-4', 2e-4), ('1e3', 1000.0), ('2', 2), ('2.0', 2.0), ('0x1F', 31), ('017', 15),
    ('08', 8.0), ('-3', -3), ('yes', True), ('Off', False), ('y', True), ('.inf', float('inf')),
    ('null', 'null'), ('~', '~'), ('1e999', '1e999'), ('abc', 'abc'), ('1_000', '1_000'),
])
def test_plain_scalars_get_rcls_types(text, value):
    result = scalar_value(text)
    assert result == value and type(result) is type(value)


def test_quoted_and_tagged_scalars_are_strings():
    assert scalar_value('1.0', quoted=True) == '1.0'
    assert scalar_value('true', string_tag=True) == 'true'


def _write(tmp_path, body):
    path = tmp_path / 'params.yaml'
    path.write_text(body)
    return path


def test_a_params_file_is_read_with_rcls_rules(tmp_path):
    path = _write(tmp_path, 'sim_node:\n  ros__parameters:\n    lr: 2e-4\n    size: 16\n'
                  "    name: '7'\n    flags: [yes, no]\n    unset: []\n    nested:\n"
                  '      depth: 3\n/**:\n  ros__parameters:\n    use_sim_time: true\n'
                  'ns:\n  other:\n    ros__parameters:\n      k: 1.5\n')
    assert parse_params_file(path) == {
        '/sim_node': {'lr': 2e-4, 'size': 16, 'name': '7', 'flags': [True, False],
                      'unset': None, 'nested.depth': 3},
        '/**': {'use_sim_time': True}, '/ns/other': {'k': 1.5}}


@pytest.mark.parametrize('body, message', [
    ('n:\n  ros__parameters:\n    rate_hz:\n', 'No value at line 3'),
    ('n:\n  ros__parameters:\n    mixed: [1, 2.0]\n', 'Sequence should be of same type'),
    ('n:\n  rate_hz: 2.0\n', 'Cannot have a value before ros__parameters'),
])
def test_what_rcl_refuses_is_refused(tmp_path, body, message):
    with pytest.raises(rclpy_double.ParamFileError, match=message):
        parse_params_file(_write(tmp_path, body))


def test_an_empty_list_leaves_the_parameter_unset_so_the_default_holds(ros, tmp_path):
    import rclpy
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.node import Node
    rclpy.init(args=['--ros-args', '--params-file',
                     str(_write(tmp_path, 'n:\n  ros__parameters:\n    weights: []\n'))])
    node = Node('n')
    node.declare_parameter('weights', [1.0, 2.0])
    with pytest.raises(ParameterUninitializedException):
        node.get_parameter('weights')  # declare_config then keeps the dataclass default


def test_init_refuses_a_file_rcl_refuses_and_reads_p_overrides(ros, tmp_path):
    import rclpy
    bad = _write(tmp_path, 'n:\n  ros__parameters:\n    rate_hz:\n')
    with pytest.raises(RuntimeError, match='No value at line 3'):
        rclpy.init(args=['--ros-args', '--params-file', str(bad)])
    assert not rclpy.ok()
    rclpy.init(args=['--ros-args', '-p', 'lr:=2e-4', '-p', 'name:=x'])
    assert ros.parameter_overrides_for('any') == {'lr': 2e-4, 'name': 'x'}
