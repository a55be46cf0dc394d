"""Fake `rclpy.node.Node` and the entities it creates, wired to a `Graph` that tests drive.

Signatures follow rclpy jazzy (`node.py`, `timer.py`, `time.py`, `qos.py`), restricted to what
is also valid on Humble (no `autostart` for timers). Entities record what they were created
with (QoS, period, message type) so tests can assert on it.
"""

from __future__ import annotations

import re
from enum import IntEnum

from .parameters import Parameter, ParameterStore


class InvalidTopicNameException(Exception):
    """`rclpy.exceptions.InvalidTopicNameException` (and InvalidServiceNameException)."""


_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*\Z')


def validate_topic_name(name: str) -> str:
    """Refuse the names rcl refuses.

    Those are: empty tokens (`//`, a trailing `/`), characters other than letters, digits and
    `_`, a token starting with a digit, and `__`.
    """
    body = name[2:] if name.startswith('~/') else name[1:] if name.startswith('/') else name
    if '__' in name or not all(_TOKEN.match(token) for token in body.split('/')):
        raise InvalidTopicNameException(f'invalid topic or service name {name!r}')
    return name


class InvalidQoSProfileException(Exception):
    """A QoSProfile without history or depth."""


class HistoryPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


class ReliabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class DurabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


class QoSProfile:
    """History, depth, reliability and durability; the rest of rclpy's profile is not used."""

    def __init__(self, **kwargs):
        allowed = {'history', 'depth', 'reliability', 'durability'}
        assert set(kwargs) <= allowed, f'Invalid arguments passed to constructor: {kwargs}'
        if 'history' not in kwargs and 'depth' not in kwargs:
            raise InvalidQoSProfileException('History and/or depth settings are required.')
        self.history = kwargs.get('history', HistoryPolicy.KEEP_LAST)
        if self.history == HistoryPolicy.KEEP_LAST and 'depth' not in kwargs:
            raise InvalidQoSProfileException('History set to KEEP_LAST without a depth setting.')
        self.depth = kwargs.get('depth', 0)
        self.reliability = kwargs.get('reliability', ReliabilityPolicy.RELIABLE)
        self.durability = kwargs.get('durability', DurabilityPolicy.VOLATILE)

    def __repr__(self):
        return (f'QoSProfile(history={self.history.name}, depth={self.depth}, '
                f'reliability={self.reliability.name}, durability={self.durability.name})')


# rmw's predefined profiles: sensor data is best effort, depth 5; the default is reliable, 10.
qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
qos_profile_system_default = QoSProfile(history=HistoryPolicy.SYSTEM_DEFAULT,
                                        reliability=ReliabilityPolicy.SYSTEM_DEFAULT)
qos_profile_services_default = QoSProfile(depth=10)


def as_profile(qos) -> QoSProfile:
    """Accept a profile or a history depth, as rclpy does."""
    if isinstance(qos, QoSProfile):
        return qos
    if isinstance(qos, int) and not isinstance(qos, bool):
        return QoSProfile(depth=qos)
    raise TypeError(f'Expected QoSProfile or int, but received {type(qos)!r}')


class Duration:
    """`rclpy.duration.Duration`."""

    def __init__(self, *, seconds=0, nanoseconds=0):
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)

    def to_msg(self):
        from .messages import message_class
        sec, nanosec = divmod(self.nanoseconds, 10 ** 9)
        return message_class('builtin_interfaces/msg/Duration')(sec=sec, nanosec=nanosec)


class Time:
    """`rclpy.time.Time` (one clock type: what the graph's clock says)."""

    def __init__(self, *, seconds=0, nanoseconds=0):
        self.nanoseconds = int(seconds * 1e9) + int(nanoseconds)

    def to_msg(self):
        from .messages import message_class
        sec, nanosec = divmod(self.nanoseconds, 10 ** 9)
        return message_class('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg):
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec)

    def __sub__(self, other):
        if isinstance(other, Time):
            return Duration(nanoseconds=self.nanoseconds - other.nanoseconds)
        return Time(nanoseconds=self.nanoseconds - other.nanoseconds)

    def __add__(self, other):
        return Time(nanoseconds=self.nanoseconds + other.nanoseconds)

    def __eq__(self, other):
        return isinstance(other, Time) and self.nanoseconds == other.nanoseconds

    def __lt__(self, other):
        return self.nanoseconds < other.nanoseconds


class Clock:
    """A node's clock: reads the graph's time (wall or simulated, as the test sets it)."""

    def __init__(self, graph):
        self._graph = graph

    def now(self) -> Time:
        return Time(nanoseconds=self._graph.now_ns)


class Logger:
    """Records every message: `graph.logs` holds (node, level, text)."""

    def __init__(self, graph, name):
        self._graph, self._name = graph, name

    def _log(self, level, message):
        self._graph.logs.append((self._name, level, str(message)))
        return True

    def debug(self, message, **kwargs):
        return self._log('debug', message)

    def info(self, message, **kwargs):
        return self._log('info', message)

    def warning(self, message, **kwargs):
        return self._log('warn', message)

    warn = warning

    def error(self, message, **kwargs):
        return self._log('error', message)

    def fatal(self, message, **kwargs):
        return self._log('fatal', message)


class Publisher:
    def __init__(self, node, msg_type, topic, qos_profile):
        self.node, self.msg_type, self.topic_name = node, msg_type, topic
        self.qos_profile = qos_profile

    def publish(self, msg):
        if not isinstance(msg, self.msg_type):
            raise TypeError(f'Expected {self.msg_type.__name__}, got {type(msg).__name__}')
        self.node._check_alive()
        self.node.graph._publish(self, msg)

    def get_subscription_count(self):
        return len(self.node.graph.subscriptions_on(self.topic_name))


class Subscription:
    def __init__(self, node, msg_type, topic, callback, qos_profile):
        self.node, self.msg_type, self.topic_name = node, msg_type, topic
        self.callback, self.qos_profile = callback, qos_profile


class Timer:
    """Fires every `timer_period_ns` of graph time once started; `cancel()` stops it."""

    def __init__(self, node, period_s, callback):
        if period_s <= 0:
            raise ValueError('timer period must be positive')
        self.node, self.callback = node, callback
        self.timer_period_ns = int(round(period_s * 1e9))
        self._canceled = False
        self.next_ns = node.graph.now_ns + self.timer_period_ns

    def is_canceled(self):
        return self._canceled

    def cancel(self):
        self._canceled = True

    def reset(self):
        self._canceled = False
        self.next_ns = self.node.graph.now_ns + self.timer_period_ns

    def time_until_next_call(self):
        return None if self._canceled else self.next_ns - self.node.graph.now_ns

    def destroy(self):
        self.cancel()


class Service:
    def __init__(self, node, srv_type, name, callback, qos_profile):
        self.node, self.srv_type, self.srv_name = node, srv_type, name
        self.callback, self.qos_profile = callback, qos_profile


class Node:
    """The rclpy Node surface the devrobot node shells use."""

    def __init__(self, node_name, *, context=None, cli_args=None, namespace=None,
                 use_global_arguments=True, enable_rosout=True, start_parameter_services=True,
                 parameter_overrides=None, allow_undeclared_parameters=False,
                 automatically_declare_parameters_from_overrides=False):
        from .runtime import current_graph
        from .messages import message_class
        self.graph = current_graph()
        if not self.graph.initialized:
            raise RuntimeError('rclpy.init() has not been called')
        self._name = node_name
        overrides = dict(self.graph.parameter_overrides_for(node_name))
        for parameter in parameter_overrides or []:
            overrides[parameter.name] = parameter.value
        self._parameters = ParameterStore(
            overrides, message_class('rcl_interfaces/msg/SetParametersResult'),
            message_class('rcl_interfaces/msg/ParameterDescriptor'))
        self.publishers, self.subscriptions, self.timers, self.services = [], [], [], []
        self._clock = Clock(self.graph)
        self._destroyed = False
        self.declare_parameter('use_sim_time', False)  # every rclpy node has it
        self.graph.nodes.append(self)

    def _check_alive(self):
        if self._destroyed:
            raise RuntimeError(f'node {self._name} was destroyed')

    def get_name(self):
        return self._name

    def get_namespace(self):
        return '/'

    def get_clock(self):
        return self._clock

    def get_logger(self):
        return Logger(self.graph, self._name)

    def declare_parameter(self, name, value=None, descriptor=None, ignore_override=False):
        return self._parameters.declare(name, value, descriptor, ignore_override)

    def declare_parameters(self, namespace, parameters, ignore_override=False):
        prefix = f'{namespace}.' if namespace else ''
        return [self._parameters.declare(prefix + entry[0], *entry[1:3],
                                         ignore_override=ignore_override)
                for entry in parameters]

    def has_parameter(self, name):
        return name in self._parameters.values

    def get_parameter(self, name):
        return self._parameters.get(name)

    def get_parameters(self, names):
        return [self._parameters.get(name) for name in names]

    def set_parameters(self, parameter_list):
        return self._parameters.set(parameter_list)

    def describe_parameter(self, name):
        self._parameters.get(name)
        return self._parameters.descriptors[name]

    def add_on_set_parameters_callback(self, callback):
        self._parameters.callbacks.insert(0, callback)

    def create_publisher(self, msg_type, topic, qos_profile, *, callback_group=None,
                         event_callbacks=None, qos_overriding_options=None,
                         publisher_class=None):
        self._check_alive()
        publisher = Publisher(self, msg_type, validate_topic_name(topic),
                              as_profile(qos_profile))
        self.publishers.append(publisher)
        return publisher

    def create_subscription(self, msg_type, topic, callback, qos_profile, *,
                            callback_group=None, event_callbacks=None,
                            qos_overriding_options=None, raw=False):
        self._check_alive()
        subscription = Subscription(self, msg_type, validate_topic_name(topic), callback,
                                    as_profile(qos_profile))
        self.subscriptions.append(subscription)
        return subscription

    def create_timer(self, timer_period_sec, callback, callback_group=None, clock=None):
        self._check_alive()
        timer = Timer(self, timer_period_sec, callback)
        self.timers.append(timer)
        return timer

    def destroy_timer(self, timer):
        timer.cancel()
        if timer in self.timers:
            self.timers.remove(timer)
            return True
        return False

    def create_service(self, srv_type, srv_name, callback, *,
                       qos_profile=qos_profile_services_default, callback_group=None):
        self._check_alive()
        if not hasattr(srv_type, 'Request') or not hasattr(srv_type, 'Response'):
            raise TypeError(f'{srv_type!r} is not a service type')
        service = Service(self, srv_type, validate_topic_name(srv_name), callback, qos_profile)
        self.services.append(service)
        return service

    def destroy_node(self):
        for timer in self.timers:
            timer.cancel()
        self._destroyed = True
        self.graph.destroyed.append(self._name)
        return None


__all__ = ['Node', 'Parameter', 'QoSProfile', 'HistoryPolicy', 'ReliabilityPolicy',
           'DurabilityPolicy', 'qos_profile_sensor_data', 'qos_profile_system_default',
           'Time', 'Duration', 'Clock']
