"""What every devrobot node shell does the same way: parameters from a config dataclass, and main.

Imports rclpy only inside its functions, so this module loads without ROS (the runner and the
tests import the package freely); the functions themselves need rclpy (or its test double).

- `declare_config(node, ConfigClass)`: one ROS parameter per dataclass field, described by the
  field's help text, read-only unless named in `dynamic`; returns the config built from the
  values (YAML overrides included). An int given for a float field is refused by rclpy itself.
- `watch_config(node, ...)`: validates runtime changes of the dynamic fields by rebuilding the
  config (its `__post_init__` checks), refusing bad values with the reason instead of raising.
- `spin_node(make_node, args)`: init without rclpy's signal handlers, spin until SIGINT,
  SIGTERM or the node's own stop request, then close (while the context is still valid),
  destroy and shut down; returns the exit status.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from typing import Callable

from devrobot_core.config_fields import check_finite_values, config_from_lookup, field_specs
from devrobot_core.errors import UsageError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long one executor wait may block: the latest a stop request is noticed while idle.
SPIN_POLL_S = 0.1
# At a Ctrl-C in a terminal every node gets the terminal's SIGINT and, milliseconds later, the
# one launch forwards: the same signal within this window is that echo, not a second request.
SIGNAL_ECHO_S = 1.0


def _declared_default(spec):
    """The value (or, for an empty list, the type) to declare a field's parameter with."""
    from rclpy.parameter import Parameter
    if spec.kind is list:
        if spec.default:
            return [spec.item_kind(v) for v in spec.default]
        # rclpy infers BYTE_ARRAY from [], so an empty default needs its type spelt out.
        return {float: Parameter.Type.DOUBLE_ARRAY, int: Parameter.Type.INTEGER_ARRAY,
                str: Parameter.Type.STRING_ARRAY, bool: Parameter.Type.BOOL_ARRAY
                }[spec.item_kind]
    return spec.kind(spec.default)


def declare_config(node, config_class: type, dynamic: tuple = (), prefix: str = '',
                   defaults: dict | None = None):
    """Declare one parameter per field of `config_class`; return the config they give.

    `defaults` replaces the declared default of the fields it names (a node that uses a field
    otherwise than the dataclass's default says, e.g. the world-model node's replay ratio).

    Raises ValueError (from the dataclass's checks) for values that make no sense, and rclpy's
    InvalidParameterTypeException for a value of the wrong type.
    """
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.exceptions import ParameterUninitializedException

    for spec in field_specs(config_class):
        if defaults and spec.name in defaults:
            spec = dataclasses.replace(spec, default=defaults[spec.name])
        descriptor = ParameterDescriptor(description=spec.help,
                                         read_only=spec.name not in dynamic)
        node.declare_parameter(prefix + spec.name, _declared_default(spec), descriptor)

    def lookup(name):
        try:
            return node.get_parameter(prefix + name).value
        except ParameterUninitializedException:  # an empty list left unset
            return None
    return config_from_lookup(config_class, lookup)


def watch_config(node, config_class: type, current: Callable[[], object],
                 apply: Callable[[object], None], prefix: str = '') -> None:
    """Validate and apply runtime changes of the node's config parameters.

    `current()` returns the config in force; `apply(config)` installs a validated new one.
    Parameters outside the config are left to other callbacks.
    """
    from rcl_interfaces.msg import SetParametersResult

    names = {prefix + spec.name: spec for spec in field_specs(config_class)}

    def on_set(parameters):
        changes = {}
        for parameter in parameters:
            spec = names.get(parameter.name)
            if spec is None:
                continue
            value = parameter.value
            changes[spec.name] = ([spec.item_kind(v) for v in value] if spec.kind is list
                                  else value)
        if not changes:
            return SetParametersResult(successful=True)
        try:
            config = dataclasses.replace(current(), **check_finite_values(changes))
        except (ValueError, TypeError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        apply(config)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


class StopRequest:
    """Why a node's spin loop should end, and the process's exit status.

    Set from a signal handler or from any thread (a driver that lost its robot): plain
    attribute writes, so a handler interrupting the main thread can never deadlock on a lock.
    The first reason wins; a non-zero status set later (a fatal error after a Ctrl-C) still
    counts.
    """

    def __init__(self):
        self.requested = False
        self.reason = ''
        self.exit_status = 0

    def set(self, reason: str, exit_status: int = 0) -> None:
        if not self.requested:
            self.reason = reason
        self.exit_status = self.exit_status or exit_status
        self.requested = True


def install_stop_handlers(stop: StopRequest,
                          clock: Callable[[], float] = time.monotonic) -> dict:
    """SIGINT and SIGTERM request a stop (a repeated one says so); returns the old handlers.

    rclpy's own handlers shut the context down the moment the signal arrives, before a node
    could publish its STOPPED states or save; these only ask the spin loop to end. The same
    signal again within SIGNAL_ECHO_S of the first is launch forwarding the terminal's Ctrl-C,
    and passes silently; another signal, or the same one later, is told to stderr.
    """
    first = []  # (signum, time) of the first stop signal

    def on_signal(signum, frame):
        name = signal.Signals(signum).name
        if stop.requested:
            echo = first and first[0][0] == signum and clock() - first[0][1] < SIGNAL_ECHO_S
            if not echo:
                # os.write: print() could re-enter a stream the main thread is writing to.
                os.write(2, f'{name} again: still shutting down (saving); SIGKILL ends at '
                            'once\n'.encode())
        elif not first:
            first.append((signum, clock()))
        stop.set(name)
    return {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}


def restore_handlers(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def spin_node(make_node: Callable[[], object], args=None,
              make_executor: Callable[[], object] | None = None) -> int:
    """Run one node until SIGINT, SIGTERM or a stop it requests; then close, destroy, shut down.

    rclpy is initialised without its signal handlers, so the context stays valid until the
    node's `close()` has run (it publishes STOPPED states, saves a checkpoint) and
    `destroy_node()` returned; only then is the context shut down. A node that has a
    `stop_request` attribute (a StopRequest) can end its own run, with the exit status it sets.
    `make_executor()` builds the executor (default: a SingleThreadedExecutor). Bad input (a
    parameter file rcl refuses, a bad parameter value, an unusable checkpoint: UsageError)
    stops the start-up with one clear line and exit status 2. Returns the exit status.
    """
    import rclpy
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    stop = StopRequest()
    previous = install_stop_handlers(stop)
    node = None
    try:
        try:
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        except RuntimeError as error:  # RCLError: rcl refused the arguments or a params file
            print(f'error: {error}', file=sys.stderr, flush=True)
            return 2
        try:
            node = make_node()
        except (ValueError, ParameterException, UsageError) as error:
            print(f'error: {error}', file=sys.stderr, flush=True)
            return 2
        own = getattr(node, 'stop_request', None) or StopRequest()
        executor = (make_executor or SingleThreadedExecutor)()
        executor.add_node(node)
        try:
            while not (stop.requested or own.requested) and rclpy.ok():
                executor.spin_once(timeout_sec=SPIN_POLL_S)
        except ExternalShutdownException:
            pass
        finally:
            executor.remove_node(node)
            executor.shutdown()
        return own.exit_status or stop.exit_status
    finally:
        try:
            if node is not None:
                try:
                    close = getattr(node, 'close', None)
                    if close is not None:
                        close()
                finally:
                    node.destroy_node()
        finally:
            rclpy.try_shutdown()
            restore_handlers(previous)
