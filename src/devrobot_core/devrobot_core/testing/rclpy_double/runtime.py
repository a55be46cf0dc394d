"""The graph tests drive, the fake `rclpy` modules, and `install()`.

A `Graph` stands in for the middleware and the executor: published messages are recorded per
topic and queued; `spin_until_idle()` delivers the queue to matching subscriptions (so two fake
nodes can talk), `advance(seconds)` moves the clock and fires due timers in time order,
`deliver(topic, msg)` hands a message to the subscriptions of a topic, `call_service()` calls a
service callback, `load_params_file()` reads a `node: ros__parameters:` YAML as overrides.
"""

from __future__ import annotations

import sys
import types
from contextlib import contextmanager
from pathlib import Path

from . import messages, node, parameters

_current = None


def current_graph() -> 'Graph':
    if _current is None:
        raise RuntimeError('rclpy_double is not installed')
    return _current


class Graph:
    def __init__(self, start_ns: int = 1_700_000_000 * 10 ** 9):
        self.now_ns = int(start_ns)
        self.initialized = False
        self.init_args = None
        self.nodes: list = []
        self.destroyed: list = []
        self.logs: list = []
        self.published: dict = {}
        self.pending: list = []
        self.overrides: dict = {}
        self.spin_hook = None  # called by rclpy.spin(node); default: a Ctrl-C
        self.shutdown_calls = 0

    # --- parameters -------------------------------------------------------------------------
    def parameter_overrides_for(self, node_name: str) -> dict:
        values = dict(self.overrides.get('/**', {}))
        values.update(self.overrides.get(node_name, {}))
        values.update(self.overrides.get('/' + node_name, {}))
        return values

    def load_params_file(self, path) -> None:
        """Read a ROS 2 parameter YAML the way rcl does for scalar and list values."""
        import yaml
        document = yaml.safe_load(Path(path).read_text('utf-8'))
        for node_name, section in document.items():
            if not isinstance(section, dict) or 'ros__parameters' not in section:
                raise ValueError(f'{path}: {node_name} has no ros__parameters')
            flat = {}
            _flatten(section['ros__parameters'], '', flat)
            self.overrides.setdefault(node_name, {}).update(flat)

    def set_parameters(self, node_name: str, values: dict) -> list:
        target = self.node(node_name)
        return target.set_parameters(
            [parameters.Parameter(name, value=value) for name, value in values.items()])

    # --- entities ---------------------------------------------------------------------------
    def node(self, name: str):
        for candidate in self.nodes:
            if candidate.get_name() == name:
                return candidate
        raise KeyError(f'no node named {name!r}; nodes: {[n.get_name() for n in self.nodes]}')

    def subscriptions_on(self, topic: str) -> list:
        return [s for n in self.nodes if not n._destroyed for s in n.subscriptions
                if _same_topic(s.topic_name, topic)]

    def publishers_on(self, topic: str) -> list:
        return [p for n in self.nodes for p in n.publishers if _same_topic(p.topic_name, topic)]

    def messages(self, topic: str) -> list:
        return list(self.published.get(_normal(topic), []))

    # --- executing --------------------------------------------------------------------------
    def _publish(self, publisher, msg) -> None:
        self.published.setdefault(_normal(publisher.topic_name), []).append(msg)
        self.pending.append(_Queued(publisher.topic_name, msg, publisher.qos_profile))

    def deliver(self, topic: str, msg, publisher_qos=None) -> int:
        """Call every subscription on `topic` with `msg`; returns how many were called.

        With `publisher_qos`, subscriptions whose QoS DDS would not match with it get nothing
        (a best-effort publisher never reaches a reliable subscription, a volatile one never a
        transient-local one).
        """
        subscriptions = [s for s in self.subscriptions_on(topic)
                         if publisher_qos is None or qos_compatible(publisher_qos, s.qos_profile)]
        for subscription in subscriptions:
            if not isinstance(msg, subscription.msg_type):
                raise TypeError(f'{topic}: subscription expects {subscription.msg_type}, '
                                f'got {type(msg)}')
            subscription.callback(msg)
        return len(subscriptions)

    def spin_until_idle(self, max_callbacks: int = 10_000) -> int:
        """Deliver queued messages (and those they cause) to subscriptions; returns the count."""
        calls = 0
        while self.pending:
            queued = self.pending.pop(0)
            calls += self.deliver(*queued, publisher_qos=queued.qos)
            if calls > max_callbacks:
                raise RuntimeError(f'more than {max_callbacks} callbacks: a message loop?')
        return calls

    def advance(self, seconds: float, deliver: bool = True) -> int:
        """Move the clock by `seconds`, firing due timers in time order; returns timer calls."""
        target_ns = self.now_ns + int(round(seconds * 1e9))
        fired = 0
        while True:
            if deliver:
                self.spin_until_idle()
            due = [t for n in self.nodes if not n._destroyed for t in n.timers
                   if not t.is_canceled() and t.next_ns <= target_ns]
            if not due:
                break
            timer = min(due, key=lambda t: t.next_ns)
            self.now_ns = max(self.now_ns, timer.next_ns)
            timer.next_ns += timer.timer_period_ns
            timer.callback()
            fired += 1
        self.now_ns = target_ns
        if deliver:
            self.spin_until_idle()
        return fired

    def call_service(self, name: str, request):
        for candidate in self.nodes:
            for service in candidate.services:
                if _same_topic(service.srv_name, name):
                    return service.callback(request, service.srv_type.Response())
        raise KeyError(f'no service {name!r}')


class _Queued(tuple):
    """A published message waiting for delivery: unpacks as (topic, msg).

    `.qos` is the publishing profile.
    """

    def __new__(cls, topic, msg, qos):
        queued = super().__new__(cls, (topic, msg))
        queued.qos = qos
        return queued


def qos_compatible(offered, requested) -> bool:
    """Whether DDS connects a publisher offering `offered` to one requesting `requested`.

    Only reliability and durability are compared; system defaults count as compatible.
    """
    reliability, durability = node.ReliabilityPolicy, node.DurabilityPolicy
    if (offered.reliability == reliability.BEST_EFFORT
            and requested.reliability == reliability.RELIABLE):
        return False
    return not (offered.durability == durability.VOLATILE
                and requested.durability == durability.TRANSIENT_LOCAL)


def _flatten(section: dict, prefix: str, out: dict) -> None:
    for key, value in section.items():
        if isinstance(value, dict):
            _flatten(value, f'{prefix}{key}.', out)
        else:
            out[prefix + key] = value


def _normal(topic: str) -> str:
    return '/' + topic.lstrip('/').replace('~/', '')


def _same_topic(a: str, b: str) -> bool:
    return _normal(a) == _normal(b)


# --- the fake rclpy package --------------------------------------------------------------------
class ExternalShutdownException(Exception):
    """`rclpy.executors.ExternalShutdownException`."""


def _init(*, args=None, context=None, domain_id=None, signal_handler_options=None):
    graph = current_graph()
    if graph.initialized:
        raise RuntimeError('Context.init() must only be called once')
    graph.initialized, graph.init_args = True, args


def _ok(*, context=None):
    return current_graph().initialized


def _shutdown(*, context=None, uninstall_handlers=None):
    graph = current_graph()
    if not graph.initialized:
        raise RuntimeError('Context must be initialized before it can be shutdown')
    graph.initialized = False
    graph.shutdown_calls += 1


def _try_shutdown(*, context=None):
    if current_graph().initialized:
        _shutdown()


def _spin(node_, executor=None):
    graph = current_graph()
    if graph.spin_hook is None:
        raise KeyboardInterrupt()  # what a person pressing Ctrl-C causes
    graph.spin_hook(node_)


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


def build_modules() -> dict:
    """Every fake module by import name."""
    rclpy = _module('rclpy', init=_init, ok=_ok, shutdown=_shutdown, try_shutdown=_try_shutdown,
                    spin=_spin, __path__=[])
    modules = {
        'rclpy': rclpy,
        'rclpy.node': _module('rclpy.node', Node=node.Node),
        'rclpy.qos': _module(
            'rclpy.qos', QoSProfile=node.QoSProfile, HistoryPolicy=node.HistoryPolicy,
            ReliabilityPolicy=node.ReliabilityPolicy, DurabilityPolicy=node.DurabilityPolicy,
            qos_profile_sensor_data=node.qos_profile_sensor_data,
            qos_profile_system_default=node.qos_profile_system_default,
            InvalidQoSProfileException=node.InvalidQoSProfileException),
        'rclpy.parameter': _module('rclpy.parameter', Parameter=parameters.Parameter),
        'rclpy.time': _module('rclpy.time', Time=node.Time),
        'rclpy.duration': _module('rclpy.duration', Duration=node.Duration),
        'rclpy.executors': _module('rclpy.executors',
                                   ExternalShutdownException=ExternalShutdownException),
        'rclpy.exceptions': _module(
            'rclpy.exceptions', InvalidTopicNameException=node.InvalidTopicNameException,
            InvalidServiceNameException=node.InvalidTopicNameException, **{
                name: getattr(parameters, name) for name in (
                    'ParameterException', 'ParameterNotDeclaredException',
                    'ParameterAlreadyDeclaredException', 'InvalidParameterTypeException',
                    'InvalidParameterValueException', 'ParameterUninitializedException')}),
    }
    for submodule in ('node', 'qos', 'parameter', 'time', 'duration', 'executors', 'exceptions'):
        setattr(rclpy, submodule, modules[f'rclpy.{submodule}'])
    for package in ('sensor_msgs', 'std_msgs', 'builtin_interfaces', 'diagnostic_msgs',
                    'rcl_interfaces', 'devrobot_interfaces', 'std_srvs'):
        kind = 'srv' if package == 'std_srvs' else 'msg'
        top = _module(package, __path__=[])
        modules[package] = top
        modules[f'{package}.{kind}'] = messages.interface_module(package, kind)
        setattr(top, kind, modules[f'{package}.{kind}'])
    return modules


def install(monkeypatch, graph: Graph | None = None) -> Graph:
    """Put the fake modules into sys.modules until the test ends; returns the graph to drive.

    Modules importing rclpy at their top (node shells) must be imported after this: use
    `import_fresh(monkeypatch, 'devrobot_sim.sim_node')`.
    """
    graph = graph or Graph()
    for name, module in build_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(sys.modules[__name__], '_current', graph)
    return graph


def import_fresh(monkeypatch, module_name: str):
    """Import `module_name` against the installed fakes; forgotten again when the test ends."""
    import importlib
    # Recording the current entry first makes monkeypatch remove the fresh import on teardown.
    monkeypatch.setitem(sys.modules, module_name, sys.modules.get(module_name))
    del sys.modules[module_name]
    return importlib.import_module(module_name)


@contextmanager
def installed(graph: Graph | None = None):
    """`install()` outside pytest: a context manager restoring sys.modules on exit."""
    import pytest
    patch = pytest.MonkeyPatch()
    try:
        yield install(patch, graph)
    finally:
        patch.undo()
