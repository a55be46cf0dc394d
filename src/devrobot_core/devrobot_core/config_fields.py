"""One config dataclass per component, turned into CLI flags and ROS parameters.

Every field is declared with `setting(default, help)`, so its one-line description travels with
it into `--help` and into the ROS parameter descriptor. Supported field types: bool, int, float,
str, and lists of float or str (ROS double and string arrays).

Every float that enters through a flag or a parameter is finite: `nan`, `inf` and `1e999` are
refused where they are parsed (a flag gets argparse's one-line error, a lookup a ValueError), so
no config downstream has to guard against them.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
import weakref
from typing import Any, Callable, Iterator


def setting(default: Any, help: str) -> Any:
    """A dataclass field with a default and a one-line description."""
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata={'help': help})
    return dataclasses.field(default=default, metadata={'help': help})


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What a CLI flag or a ROS parameter needs to know about one config field."""

    name: str
    kind: type  # bool, int, float, str, or list
    item_kind: type | None  # element type for lists
    default: Any
    help: str


def field_specs(config_class: type) -> Iterator[FieldSpec]:
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        hint = hints[field.name]
        origin = typing.get_origin(hint)
        if origin in (list, typing.List):
            kind, item_kind = list, typing.get_args(hint)[0]
        elif hint in (bool, int, float, str):
            kind, item_kind = hint, None
        else:
            raise TypeError(f'{config_class.__name__}.{field.name}: unsupported type {hint}')
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            raise TypeError(f'{config_class.__name__}.{field.name} needs a default')
        yield FieldSpec(field.name, kind, item_kind, default, field.metadata.get('help', ''))


def finite_float(text: str) -> float:
    """Parse a flag's float, refusing NaN and infinity (`1e999` overflows to inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid float value: {text!r}') from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'{text!r} is not a finite number')
    return value


def check_finite_values(values: dict) -> dict:
    """Return `values` (field name -> value); ValueError naming the first NaN or infinite float."""
    for name, value in values.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f'{name} must be a finite number, got {item}')
    return values


def _parser_type(kind: type) -> Callable[[str], Any]:
    return finite_float if kind is float else kind


def config_from_arguments(config_class: type, namespace: argparse.Namespace, **overrides: Any):
    """Build the config from parsed flags; flags left unset keep the dataclass default.

    Raises ValueError for a non-finite float (`check_finite_values`) and whatever the
    dataclass's own checks raise.
    """
    values = {}
    for spec in field_specs(config_class):
        value = getattr(namespace, spec.name, None)
        if value is not None:
            values[spec.name] = value
    values.update(overrides)
    return config_class(**check_finite_values(values))


def config_from_lookup(config_class: type, lookup: Callable[[str], Any]):
    """Build the config from a name -> value function (a node's declared parameters).

    The lookup returns None for a name it does not set; that field keeps its default. A value
    of the wrong kind or a non-finite float raises ValueError naming the field.
    """
    values = {}
    for spec in field_specs(config_class):
        value = lookup(spec.name)
        if value is None:
            continue
        try:
            if spec.kind is list:
                value = [spec.item_kind(v) for v in value]
            elif spec.kind is float:
                value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f'{spec.name}: {value!r} is not a {spec.kind.__name__}') from None
        values[spec.name] = value
    return config_class(**check_finite_values(values))


def config_from_dict(config_class: type, data: Any):
    """Build the config from stored plain data (a checkpoint's or a bag's copy of it).

    Every key must name a field and every value have its field's type (an int is accepted for a
    float); keys left out keep their defaults. Raises ValueError naming the first that does not
    fit, so a damaged or foreign file never reaches the dataclass with a value of another kind.
    """
    name = config_class.__name__
    if not isinstance(data, dict):
        raise ValueError(f'{name}: expected a dict of settings, got {type(data).__name__}')
    specs = {spec.name: spec for spec in field_specs(config_class)}
    for key, value in data.items():
        spec = specs.get(key)
        if spec is None:
            raise ValueError(f'{name}: unknown setting {key!r}')
        items = value if spec.kind is list and isinstance(value, list) else [value]
        kind = spec.item_kind if spec.kind is list else spec.kind
        if (spec.kind is list and not isinstance(value, list)) or not all(
                _is_kind(item, kind) for item in items):
            raise ValueError(f'{name}.{key}: expected {spec.kind.__name__}, got {value!r}')
    return config_class(**check_finite_values(dict(data)))


def _is_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_at_least(config: Any, minimum: int, *names: str) -> None:
    """Raise ValueError naming the first of the fields `names` of `config` below `minimum`."""
    for name in names:
        value = getattr(config, name)
        if not value >= minimum:
            raise ValueError(f'{name} must be at least {minimum}, got {value}')


def config_to_dict(config: Any) -> dict:
    """Plain data, for bags, checkpoints and logs."""
    return dataclasses.asdict(config)


# -- Flags grouped by component, and the parameter-file key behind each flag ------------------
# `add_config_group` names a field's flag `--SECTION.NAME` and keeps the flat `--field-name` as
# a hidden alias (scripts written before the groups keep working). It also records, per parser,
# which ROS parameter (node section, parameter name) a flag stands for: `parameter_keys(parser)`
# is what reads a parameter YAML onto the same flags.

@dataclasses.dataclass(frozen=True)
class ParameterKey:
    """The flag a parameter of a node section sets, and the kind of value it takes."""

    dest: str  # the argparse destination (the config field's name)
    kind: type  # bool, int, float, str, or list
    item_kind: type | None  # element type for lists


_PARAMETER_KEYS: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


def parameter_keys(parser: argparse.ArgumentParser) -> dict:
    """`{(node, parameter): ParameterKey}` of every flag registered on `parser`."""
    return _PARAMETER_KEYS.setdefault(parser, {})


def nested_flag(section: str, name: str, strip: str = '') -> str:
    """`--cnn.channels` for field `cnn_channels` in section 'cnn' stripped of 'cnn_'."""
    if strip and name.startswith(strip):
        name = name[len(strip):]
    flag = name.replace('_', '-')
    return f'--{section}.{flag}' if section else f'--{flag}'


def add_config_group(parser: argparse.ArgumentParser, config_class: type, section: str = '',
                     node: str = '', strip: str = '', skip: tuple = (),
                     shared: tuple = ()) -> None:
    """One argument group for `config_class`: `--SECTION.NAME` per field, titled by the class.

    The flat `--field-name` stays as a hidden alias. `node` names the parameter-file section the
    fields belong to (empty: none). Fields in `skip` get no flag; fields in `shared` get none
    either, because another group's flag of the same name sets them: a parameter file's value
    for them goes to that flag.
    """
    title = f'{section} ({config_class.__name__})' if section else config_class.__name__
    doc = (config_class.__doc__ or '').strip().splitlines()
    group = parser.add_argument_group(title, doc[0] if doc else None)
    for spec in field_specs(config_class):
        if spec.name in skip:
            continue
        if spec.name not in shared:
            flag = nested_flag(section, spec.name, strip)
            _add_field_flag(group, spec, flag, f'{spec.help} (default: {spec.default})')
            alias = nested_flag('', spec.name)
            if alias != flag:
                _add_field_flag(group, spec, alias, argparse.SUPPRESS)
        if node:
            parameter_keys(parser)[(node, spec.name)] = ParameterKey(
                spec.name, spec.kind, spec.item_kind)


def _add_field_flag(group, spec: FieldSpec, flag: str, text: str) -> None:
    kind = spec.item_kind if spec.kind is list else spec.kind
    metavar = {int: 'N', float: 'X'}.get(kind) or flag.rpartition('.')[2].lstrip('-').upper()
    if spec.kind is bool:
        group.add_argument(flag, dest=spec.name, action=argparse.BooleanOptionalAction,
                           default=None, help=text)
    elif spec.kind is list:
        group.add_argument(flag, dest=spec.name, nargs='+', type=_parser_type(spec.item_kind),
                           default=None, metavar=metavar, help=text)
    else:
        group.add_argument(flag, dest=spec.name, type=_parser_type(spec.kind), default=None,
                           metavar=metavar, help=text)


def register_options(parser: argparse.ArgumentParser, node: str, dests: tuple) -> None:
    """Let a parameter file's `node` section set plain options of `parser` (by their dest).

    The kind of value comes from the option: a store_true flag is a bool, `nargs='+'` a list.
    """
    actions = {action.dest: action for action in parser._actions}
    for dest in dests:
        action = actions[dest]
        if isinstance(action, argparse._StoreTrueAction):
            kind, item_kind = bool, None
        elif action.nargs in ('+', '*'):
            kind, item_kind = list, action.type or str
        else:
            kind, item_kind = action.type or str, None
        parameter_keys(parser)[(node, dest)] = ParameterKey(dest, kind, item_kind)


def parameter_values(config: Any, skip: tuple = ()) -> dict:
    """A config's fields as ROS parameter values: floats stay floats, in field order."""
    values = {}
    for spec in field_specs(type(config)):
        if spec.name not in skip:
            values[spec.name] = typed_value(spec.kind, spec.item_kind, getattr(config, spec.name))
    return values


def typed_value(kind: type, item_kind: type | None, value: Any) -> Any:
    """`value` as a parameter of `kind` (an int for a float becomes a float); lists copied."""
    if kind is list:
        return [float(v) if item_kind is float else v for v in value]
    return float(value) if kind is float else value
