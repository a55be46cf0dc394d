"""ROS 2 parameter YAML files (`node: ros__parameters: {...}`) read onto command-line flags.

The same file configures the ROS nodes and the `devrobot` commands: each node section's
parameters are the fields of that node's config dataclasses, and `config_fields.add_config_group`
records which flag each (node, parameter) pair sets. Values must have the type the node would
accept: rclpy refuses an integer for a double parameter, and so does this reader.

- `read_parameter_file(path)` -> `{node: {parameter: value}}`, every malformed file a UsageError;
- `file_defaults(parser, sections, declared)` -> the flag values the file gives;
- `write_parameter_file(path, sections, header)`, written atomically;
- `save_run_config(folder, sections, header)`: a run folder's `config.yaml`, keeping a different
  earlier one as `config.N.yaml`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Callable

from devrobot_core.config_fields import parameter_keys, ParameterKey
from devrobot_core.durable_files import write_atomically
from devrobot_core.errors import UsageError

PARAMETERS = 'ros__parameters'
# The nodes' names in the launch files, which name their sections in a parameter YAML.
SIM_NODE, JETBOT_NODE, WORLD_MODEL_NODE = 'sim_node', 'jetbot_node', 'world_model'
CONFIG_FILE = 'config.yaml'  # a run folder's resolved configuration
EXPONENT_FLOAT = re.compile(r'[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+')


def read_parameter_file(path) -> dict:
    """`{node: {parameter: value}}`; nested parameter maps come back as dotted names."""
    import yaml
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text('utf-8'))
    except OSError as error:
        raise UsageError(f'cannot read {path}: {error.strerror}') from None
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f' (line {mark.line + 1})' if mark is not None else ''
        raise UsageError(f'{path} is not valid YAML{where}') from None
    if not isinstance(document, dict) or not document:
        raise UsageError(f'{path} holds no node sections (node_name: {PARAMETERS}: ...)')
    sections = {}
    for node, body in document.items():
        if not isinstance(body, dict) or set(body) != {PARAMETERS} \
                or not isinstance(body[PARAMETERS], dict):
            raise UsageError(f'{path}: section {node!r} must hold exactly {PARAMETERS}: '
                             '{name: value, ...}')
        sections[str(node)] = dict(_flatten(body[PARAMETERS]))
    return sections


def _flatten(mapping: dict, prefix: str = ''):
    for key, value in mapping.items():
        if isinstance(value, dict):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}', value


def file_defaults(parser, sections: dict, declared: Callable[[str], set | None],
                  source: str = 'the file') -> dict:
    """`{dest: value}` that `sections` give the flags of `parser`; a UsageError when wrong.

    `declared(node)` is every parameter name the node declares (None: not a node). A parameter
    the node declares but this command has no flag for is left out; a parameter the node does
    not declare, a section that is no node, or a value of the wrong type is an error. Two
    sections giving one flag different values (`sim_node.seed` and `world_model.seed` for
    `devrobot run`, which seeds both from one flag) are an error too.
    """
    keys = parameter_keys(parser)
    values, origins = {}, {}
    for node, parameters in sections.items():
        names = declared(node)
        if names is None:
            raise UsageError(f'{source}: unknown section {node!r} (not a devrobot node)')
        for name, value in parameters.items():
            if name not in names:
                close = difflib.get_close_matches(name, sorted(names), n=1)
                hint = f'; did you mean {close[0]!r}?' if close else ''
                raise UsageError(f'{source}: {node} has no parameter {name!r}{hint}')
            key = keys.get((node, name))
            if key is None:
                continue  # a parameter of the node that this command does not use
            value = checked_value(key, value, f'{source}: {node}.{name}')
            if key.dest in values and values[key.dest] != value:
                raise UsageError(f'{source}: {origins[key.dest]} and {node}.{name} set the same '
                                 f'setting to different values ({values[key.dest]!r}, '
                                 f'{value!r})')
            values[key.dest], origins[key.dest] = value, f'{node}.{name}'
    return values


def checked_value(key: ParameterKey, value, where: str):
    """`value` if it is of the key's kind (as rclpy would type it), else a UsageError."""
    if key.kind is list:
        if not isinstance(value, list) or not value:
            raise UsageError(f'{where} must be a non-empty list of {key.item_kind.__name__}')
        return [_check_scalar(key.item_kind, item, where) for item in value]
    return _check_scalar(key.kind, value, where)


def _check_scalar(kind: type, value, where: str):
    if kind is float and isinstance(value, str) and EXPONENT_FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 (PyYAML) reads `1e-5` as a string; ROS reads a double
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        raise UsageError(f'{where}: {value} is an integer where a float is expected; write '
                         f'{value}.0 (ROS refuses integers for double parameters)')
    if type(value) is not kind:
        raise UsageError(f'{where} must be {_kind_name(kind)}, got {value!r}')
    if kind is float and not math.isfinite(value):
        raise UsageError(f'{where} must be a finite number, got {value}')
    return value


def _kind_name(kind: type) -> str:
    return {bool: 'true or false', int: 'an integer', float: 'a float',
            str: 'a string'}.get(kind, kind.__name__)


def write_parameter_file(path, sections: dict, header: str = '') -> Path:
    """Write `{node: {parameter: value}}` as a parameter YAML, atomically; return its path."""
    import yaml
    path = Path(path)
    document = {node: {PARAMETERS: parameters} for node, parameters in sections.items()}
    lines = [f'# {line}' if line else '#' for line in header.splitlines()]
    text = '\n'.join(lines + [yaml.dump(document, Dumper=_dumper(), sort_keys=False)])
    write_atomically(path, text)
    return path


def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        """Block-style sections, lists on one line (`action_space: [0.0, 0.0, 0.2]`)."""

        def represent_list(self, data):
            return self.represent_sequence('tag:yaml.org,2002:seq', data, flow_style=True)

    Dumper.add_representer(list, Dumper.represent_list)
    return Dumper


def save_run_config(folder, sections: dict, header: str = '') -> Path:
    """Write `folder/config.yaml`; an earlier one that differs is kept as `config.N.yaml`.

    A run resumed in the same folder with other settings so keeps the settings of every run.
    """
    import yaml
    path = Path(folder) / CONFIG_FILE
    if path.exists():
        try:
            earlier = yaml.safe_load(path.read_text('utf-8'))
        except (OSError, yaml.YAMLError):
            earlier = None
        wanted = {node: {PARAMETERS: parameters} for node, parameters in sections.items()}
        if earlier != wanted:
            number = 1
            while path.with_name(f'config.{number}.yaml').exists():
                number += 1
            os.replace(path, path.with_name(f'config.{number}.yaml'))
    return write_parameter_file(path, sections, header)
