"""What every devrobot node shell does the same way: parameters from a config dataclass, and main.

Imports rclpy only inside its functions, so this module loads without ROS (the runner and the
tests import the package freely); the functions themselves need rclpy (or its test double).

- `declare_config(node, ConfigClass)`: one ROS parameter per dataclass field, described by the
  field's help text, read-only unless named in `dynamic`; returns the config built from the
  values (YAML overrides included). An int given for a float field is refused by rclpy itself.
- `watch_config(node, ...)`: validates runtime changes of the dynamic fields by rebuilding the
  config (its `__post_init__` checks), refusing bad values with the reason instead of raising.
- `spin_node(make_node, args)`: init, spin until Ctrl-C or shutdown, close in `finally`.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable

from devrobot_core.config_fields import config_from_lookup, field_specs
from devrobot_core.errors import UsageError


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


def declare_config(node, config_class: type, dynamic: tuple = (), prefix: str = ''):
    """Declare one parameter per field of `config_class`; return the config they give.

    Raises ValueError (from the dataclass's checks) for values that make no sense, and rclpy's
    InvalidParameterTypeException for a value of the wrong type.
    """
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.exceptions import ParameterUninitializedException

    for spec in field_specs(config_class):
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
            config = dataclasses.replace(current(), **changes)
        except (ValueError, TypeError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        apply(config)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


def spin_node(make_node: Callable[[], object], args=None) -> int:
    """Run one node until Ctrl-C or an external shutdown; always close and destroy it.

    `make_node()` builds the node; a node with a `close()` method has it called before
    `destroy_node()` (to stop motors, save a checkpoint). A bad parameter value or other bad
    input (UsageError: an unusable checkpoint) stops the start-up with one clear line and exit
    status 2.
    """
    import rclpy
    from rclpy.exceptions import ParameterException
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except (ValueError, ParameterException, UsageError) as error:
            print(f'error: {error}', file=sys.stderr, flush=True)
            return 2
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
