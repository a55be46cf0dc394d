"""The graph tests drive, the fake `rclpy` modules, and `install()`.

A `Graph` stands in for the middleware, the executor and the process's signal table:
- a published message is queued on every matching subscription at once (as DDS does), up to
  the subscription's depth (KEEP_LAST drops the oldest); a TRANSIENT_LOCAL publisher keeps its
  last `depth` messages for TRANSIENT_LOCAL subscriptions created later;
- callbacks run in rclpy's executor order: round after round, node by node in the order they
  were added, first each due timer, then each subscription with a message waiting (one message
  each), in creation order (`spin_until_idle()` runs rounds until nothing is waiting;
  `advance(seconds)` moves the clock, firing due timers in time order);
- `deliver(topic, msg)` hands a message straight to a topic's subscriptions (a message from
  outside the test graph);
- `send_signal(signum)` is a signal reaching the process: whichever Python handler is installed
  runs (the fake `rclpy.init()` installs rclpy's, which shuts every context down first, like the
  real one; `signal.signal` is redirected to this table while the double is installed);
- after a shutdown, publishing raises `RCLError`, as rcl does ("publisher's context is invalid");
- `load_params_file()` and `rclpy.init(args=[..., '--params-file', F, '-p', 'k:=v'])` read
  parameters by rcl's rules (see `param_yaml`).
"""

from __future__ import annotations

import signal as signal_module
import sys
import types
from contextlib import contextmanager

from . import executors, messages, node, parameters
from .param_yaml import parse_param_argument, parse_params_file, ParamFileError

_current = None


def current_graph() -> 'Graph':
    if _current is None:
        raise RuntimeError('rclpy_double is not installed')
    return _current


class RCLError(RuntimeError):
    """`rclpy._rclpy_pybind11.RCLError` (a RuntimeError, as in rclpy)."""


class Graph:
    def __init__(self, start_ns: int = 1_700_000_000 * 10 ** 9):
        self.now_ns = int(start_ns)
        self.initialized = False
        self.init_args = None
        self.nodes: list = []
        self.destroyed: list = []
        self.logs: list = []
        self.published: dict = {}
        self.publish_log: list = []  # (topic, msg) in publish order, every topic
        self.overrides: dict = {}
        self.shutdown_calls = 0
        # A fresh Python process: Ctrl-C raises KeyboardInterrupt, SIGTERM kills it.
        self.signal_handlers = {signal_module.SIGINT: signal_module.default_int_handler,
                                signal_module.SIGTERM: signal_module.SIG_DFL}
        self.idle_hook = None  # called when a spinning executor has nothing to do
        self.idle_calls = 0

    # --- parameters -------------------------------------------------------------------------
    def parameter_overrides_for(self, node_name: str) -> dict:
        values = dict(self.overrides.get('/**', {}))
        values.update(self.overrides.get(node_name, {}))
        values.update(self.overrides.get('/' + node_name, {}))
        return values

    def load_params_file(self, path) -> None:
        """Read a ROS 2 parameter YAML the way rcl does (ParamFileError for what it refuses)."""
        for node_name, values in parse_params_file(path).items():
            self.overrides.setdefault(node_name.lstrip('/') if node_name != '/**' else node_name,
                                      {}).update(values)

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

    def live_nodes(self) -> list:
        return [n for n in self.nodes if not n._destroyed]

    def subscriptions_on(self, topic: str) -> list:
        return [s for n in self.live_nodes() for s in n.subscriptions
                if _same_topic(s.topic_name, topic)]

    def publishers_on(self, topic: str) -> list:
        return [p for n in self.nodes for p in n.publishers if _same_topic(p.topic_name, topic)]

    def messages(self, topic: str) -> list:
        return list(self.published.get(_normal(topic), []))

    # --- the middleware ---------------------------------------------------------------------
    def _publish(self, publisher, msg) -> None:
        if not self.initialized:
            raise RCLError("Failed to publish: publisher's context is invalid")
        self.published.setdefault(_normal(publisher.topic_name), []).append(msg)
        self.publish_log.append((publisher.topic_name, msg))
        publisher.remember(msg)
        for subscription in self.subscriptions_on(publisher.topic_name):
            if qos_compatible(publisher.qos_profile, subscription.qos_profile):
                subscription.enqueue(msg)

    def _subscribed(self, subscription) -> None:
        """A new TRANSIENT_LOCAL subscription receives what such publishers kept."""
        durability = node.DurabilityPolicy
        if subscription.qos_profile.durability != durability.TRANSIENT_LOCAL:
            return
        for publisher in self.publishers_on(subscription.topic_name):
            if qos_compatible(publisher.qos_profile, subscription.qos_profile):
                for msg in publisher.kept:
                    subscription.enqueue(msg)

    def deliver(self, topic: str, msg, publisher_qos=None) -> int:
        """Call every subscription on `topic` with `msg` now; returns how many were called.

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

    # --- the executor -----------------------------------------------------------------------
    def ready_callbacks(self, nodes=None, timers: bool = True) -> list:
        """One wait's worth of work, in rclpy's order: per node, due timers, then messages."""
        work = []
        for owner in (self.live_nodes() if nodes is None else nodes):
            if owner._destroyed:
                continue
            if timers:
                work += [t for t in owner.timers if t.is_due(self.now_ns)]
            work += [s for s in owner.subscriptions if s.queue]
        return work

    def run(self, entity) -> None:
        """Execute one ready entity: fire a timer, or take one message of a subscription."""
        if isinstance(entity, node.Timer):
            if entity.is_due(self.now_ns):
                entity.next_ns += entity.timer_period_ns
                entity.callback()
        elif entity.queue and not entity.node._destroyed:
            entity.callback(entity.queue.pop(0))

    def spin_until_idle(self, max_callbacks: int = 10_000, timers: bool = False) -> int:
        """Run rounds of waiting messages (and due timers, when asked); returns the count."""
        calls = 0
        while True:
            work = self.ready_callbacks(timers=timers)
            if not work:
                return calls
            for entity in work:
                self.run(entity)
                calls += 1
            if calls > max_callbacks:
                raise RuntimeError(f'more than {max_callbacks} callbacks: a message loop?')

    def advance(self, seconds: float, deliver: bool = True) -> int:
        """Move the clock by `seconds`, firing due timers in time order; returns timer calls."""
        target_ns = self.now_ns + int(round(seconds * 1e9))
        fired = 0
        while True:
            if deliver:
                self.spin_until_idle()
            due = [t for n in self.live_nodes() for t in n.timers
                   if not t.is_canceled() and t.next_ns <= target_ns]
            if not due:
                break
            self.now_ns = max(self.now_ns, min(t.next_ns for t in due))
            for entity in self.ready_callbacks(timers=True):
                if isinstance(entity, node.Timer):
                    self.run(entity)
                    fired += 1
        self.now_ns = target_ns
        if deliver:
            self.spin_until_idle()
        return fired

    def idle(self) -> None:
        """A spinning executor found nothing to do: the test's `idle_hook`, else a Ctrl-C.

        Without a hook, the second idle wait means the Ctrl-C did not stop the spinning: an
        error, rather than a test that never ends.
        """
        self.idle_calls += 1
        if self.idle_hook is not None:
            self.idle_hook()
        elif self.idle_calls == 1:
            self.send_signal(signal_module.SIGINT)
        else:
            raise RuntimeError('the executor kept spinning after a Ctrl-C')

    def call_service(self, name: str, request):
        for candidate in self.nodes:
            for service in candidate.services:
                if _same_topic(service.srv_name, name):
                    return service.callback(request, service.srv_type.Response())
        raise KeyError(f'no service {name!r}')

    # --- the process ------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """What the process does when `signum` arrives: its installed Python handler runs."""
        handler = self.signal_handlers.get(signum, signal_module.SIG_DFL)
        if handler == signal_module.SIG_IGN:
            return
        if handler == signal_module.SIG_DFL:
            if signum == signal_module.SIGINT:
                raise KeyboardInterrupt()
            raise SystemExit(-signum)  # the process is killed
        handler(signum, None)

    def _signal(self, signum, handler):
        """`signal.signal` while the double is installed: this graph's table, not the OS's."""
        if signum not in self.signal_handlers:
            return _real_signal(signum, handler)
        previous, self.signal_handlers[signum] = self.signal_handlers[signum], handler
        return previous

    def _getsignal(self, signum):
        if signum not in self.signal_handlers:
            return _real_getsignal(signum)
        return self.signal_handlers[signum]


_real_signal, _real_getsignal = signal_module.signal, signal_module.getsignal


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


def _normal(topic: str) -> str:
    return '/' + topic.lstrip('/').replace('~/', '')


def _same_topic(a: str, b: str) -> bool:
    return _normal(a) == _normal(b)


# --- the fake rclpy package --------------------------------------------------------------------
def _apply_ros_args(graph: Graph, args) -> None:
    """`--params-file F` and `-p name:=value` after `--ros-args`, read as rcl reads them."""
    args = list(args or [])
    if '--ros-args' not in args:
        return
    rest = args[args.index('--ros-args') + 1:]
    for flag, value in zip(rest, rest[1:]):
        try:
            if flag == '--params-file':
                graph.load_params_file(value)
            elif flag in ('-p', '--param'):
                name, parsed = parse_param_argument(value)
                graph.overrides.setdefault('/**', {})[name] = parsed
        except (ParamFileError, OSError) as error:
            raise RCLError(f'failed to initialize rcl: {error}') from None


def _init(*, args=None, context=None, domain_id=None, signal_handler_options=None):
    graph = current_graph()
    if graph.initialized:
        raise RuntimeError('Context.init() must only be called once')
    _apply_ros_args(graph, args)
    graph.initialized, graph.init_args = True, args
    options = executors.SignalHandlerOptions.ALL if signal_handler_options is None \
        else signal_handler_options
    executors.install_rclpy_handlers(graph, options)


def _ok(*, context=None):
    return current_graph().initialized


def _shutdown(*, context=None, uninstall_handlers=None):
    graph = current_graph()
    if not graph.initialized:
        raise RuntimeError('Context must be initialized before it can be shutdown')
    graph.initialized = False
    graph.shutdown_calls += 1
    if uninstall_handlers is None or uninstall_handlers:
        executors.uninstall_rclpy_handlers(graph)


def _try_shutdown(*, context=None, uninstall_handlers=None):
    if current_graph().initialized:
        _shutdown(uninstall_handlers=uninstall_handlers)


def _spin(node_, executor=None):
    """`rclpy.spin`: the global executor until the context is shut down."""
    executor = executor or executors.SingleThreadedExecutor()
    executor.add_node(node_)
    try:
        while current_graph().initialized:
            executor.spin_once()
    finally:
        executor.remove_node(node_)


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
        'rclpy.executors': _module(
            'rclpy.executors', ExternalShutdownException=executors.ExternalShutdownException,
            SingleThreadedExecutor=executors.SingleThreadedExecutor,
            MultiThreadedExecutor=executors.MultiThreadedExecutor),
        'rclpy.signals': _module('rclpy.signals',
                                 SignalHandlerOptions=executors.SignalHandlerOptions),
        'rclpy.exceptions': _module(
            'rclpy.exceptions', InvalidTopicNameException=node.InvalidTopicNameException,
            InvalidServiceNameException=node.InvalidTopicNameException, **{
                name: getattr(parameters, name) for name in (
                    'ParameterException', 'ParameterNotDeclaredException',
                    'ParameterAlreadyDeclaredException', 'InvalidParameterTypeException',
                    'InvalidParameterValueException', 'ParameterUninitializedException')}),
    }
    for submodule in ('node', 'qos', 'parameter', 'time', 'duration', 'executors', 'signals',
                      'exceptions'):
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
    `import_fresh(monkeypatch, 'devrobot_sim.sim_node')`. `signal.signal` and
    `signal.getsignal` use the graph's table for SIGINT and SIGTERM until the test ends, so
    no handler installed by code under test outlives it.
    """
    graph = graph or Graph()
    for name, module in build_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(sys.modules[__name__], '_current', graph)
    monkeypatch.setattr(signal_module, 'signal', graph._signal)
    monkeypatch.setattr(signal_module, 'getsignal', graph._getsignal)
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
