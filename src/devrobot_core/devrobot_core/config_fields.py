"""One config dataclass per component, turned into CLI flags and ROS parameters.

Every field is declared with `setting(default, help)`, so its one-line description travels with
it into `--help` and into the ROS parameter descriptor. Supported field types: bool, int, float,
str, and lists of float or str (ROS double and string arrays).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
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


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type,
                         skip: tuple = ()) -> None:
    """Add one `--flag` per field (`dot_radius` becomes `--dot-radius`)."""
    group = parser.add_argument_group(config_class.__name__)
    for spec in field_specs(config_class):
        if spec.name in skip:
            continue
        flag = '--' + spec.name.replace('_', '-')
        text = f'{spec.help} (default: {spec.default})'
        if spec.kind is bool:
            group.add_argument(flag, dest=spec.name, action=argparse.BooleanOptionalAction,
                               default=None, help=text)
        elif spec.kind is list:
            group.add_argument(flag, dest=spec.name, nargs='+', type=spec.item_kind,
                               default=None, help=text)
        else:
            group.add_argument(flag, dest=spec.name, type=spec.kind, default=None, help=text)


def config_from_arguments(config_class: type, namespace: argparse.Namespace, **overrides: Any):
    """Build the config from parsed flags; flags left unset keep the dataclass default."""
    values = {}
    for spec in field_specs(config_class):
        value = getattr(namespace, spec.name, None)
        if value is not None:
            values[spec.name] = value
    values.update(overrides)
    return config_class(**values)


def config_from_lookup(config_class: type, lookup: Callable[[str], Any]):
    """Build the config from a name -> value function (a node's declared parameters).

    The lookup returns None for a name it does not set; that field keeps its default.
    """
    values = {}
    for spec in field_specs(config_class):
        value = lookup(spec.name)
        if value is None:
            continue
        if spec.kind is list:
            value = [spec.item_kind(v) for v in value]
        elif spec.kind is float:
            value = float(value)
        values[spec.name] = value
    return config_class(**values)


def config_to_dict(config: Any) -> dict:
    """Plain data, for bags, checkpoints and logs."""
    return dataclasses.asdict(config)
