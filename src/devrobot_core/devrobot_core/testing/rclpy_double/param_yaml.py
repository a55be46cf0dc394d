"""ROS 2 parameter YAML read by rcl's rules (rcl_yaml_param_parser `parse.c`), not PyYAML's.

The differences that matter to a parameter file, each checked against rcl's source:
- a value's type comes from its text, in this order: bool (`true`, `yes`, `on`, `y` and their
  capitalised forms; `false`, `no`, `off`, `n`), integer (C `strtoll` base 0: `0x1F`, `017`),
  double (C `strtod`: `2e-4`, `1e3`, `inf`, `nan`, and YAML's `.inf`, `.nan`), else string;
  a quoted scalar or one tagged `!!str` is always a string; `null` and `~` are strings;
- an empty plain value (`key:`) is refused: "No value at line N";
- a sequence holds one type ("Sequence should be of same type"); `[]` gives the parameter no
  value at all, so rclpy declares it unset and the node keeps its default;
- nested maps under `ros__parameters` make dotted names; maps above it name the node
  (`/ns/node` from `ns: node:`), and `/**` matches every node.

`parse_params_file(path)` returns {node name: {parameter: value}} with None for "no value".
"""

from __future__ import annotations

import re
from pathlib import Path

PARAMS_KEY = 'ros__parameters'
TRUE_WORDS = ('Y', 'y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON')
FALSE_WORDS = ('N', 'n', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF')
YAML_SPECIAL_FLOATS = {
    '.nan': float('nan'), '.NaN': float('nan'), '.NAN': float('nan'),
    '.inf': float('inf'), '.Inf': float('inf'), '.INF': float('inf'),
    '+.inf': float('inf'), '+.Inf': float('inf'), '+.INF': float('inf'),
    '-.inf': float('-inf'), '-.Inf': float('-inf'), '-.INF': float('-inf'),
}
# What C's strtoll(text, &end, 0) consumes entirely (an octal literal cannot hold 8 or 9).
_STRTOLL = re.compile(r'[ \t\n]*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\Z')
# What strtod consumes entirely: decimal with an optional exponent, hex floats, inf, nan.
_STRTOD_DECIMAL = re.compile(r'[ \t\n]*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z')
_STRTOD_HEX = re.compile(r'[ \t\n]*[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)'
                         r'([pP][+-]?\d+)?\Z')
_STRTOD_WORD = re.compile(r'[ \t\n]*[+-]?(inf|infinity|nan(\([0-9A-Za-z_]*\))?)\Z',
                          re.IGNORECASE)
INT64_RANGE = (-2 ** 63, 2 ** 63 - 1)


class ParamFileError(RuntimeError):
    """What rcl refuses; rclpy raises it from `rclpy.init()` as an RCLError (a RuntimeError)."""


def scalar_value(text: str, quoted: bool = False, string_tag: bool = False):
    """The value rcl gives one scalar: bool, int, float or str."""
    if string_tag or quoted:
        return text
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    if _STRTOLL.match(text):
        value = int(text.strip(), 0) if not _is_plain_octal(text) else int(text.strip(), 8)
        if INT64_RANGE[0] <= value <= INT64_RANGE[1]:
            return value
        # strtoll reports ERANGE: rcl then tries strtod, which reads it as a double.
    if text in YAML_SPECIAL_FLOATS:
        return YAML_SPECIAL_FLOATS[text]
    value = _strtod(text)
    return text if value is None else value


def _is_plain_octal(text: str) -> bool:
    digits = text.strip().lstrip('+-')
    return len(digits) > 1 and digits[0] == '0' and digits[1] not in 'xX'


def _strtod(text: str):
    """The double strtod reads from all of `text`, or None (not a number, or ERANGE)."""
    if _STRTOD_WORD.match(text):
        word = text.strip().lower().lstrip('+')
        return float(word.split('(')[0].replace('infinity', 'inf'))
    if _STRTOD_HEX.match(text):
        value = float.fromhex(text.strip())
    elif _STRTOD_DECIMAL.match(text):
        value = float(text)
    else:
        return None
    if value in (float('inf'), float('-inf')):
        return None  # overflow: strtod sets ERANGE and rcl keeps the text as a string
    if value == 0.0 and any(c in '123456789' for c in text.split('e')[0].split('E')[0]):
        return None  # underflow to zero: ERANGE as well
    return value


def parse_params_file(path) -> dict:
    """{node name: {dotted parameter name: value or None}} of a parameter file, rcl's way.

    Raises ParamFileError (with the line) for what rcl refuses.
    """
    import yaml
    text = Path(path).read_text('utf-8')
    try:
        events = list(yaml.parse(text))
    except yaml.YAMLError as error:
        raise ParamFileError(f'Error parsing a event near line '
                             f'{getattr(error, "problem_mark", None)}: {error}') from None
    return _Parser(events, str(path)).parse()


class _Parser:
    """A walk over PyYAML's events, keeping what rcl keeps (and refusing what it refuses)."""

    def __init__(self, events: list, source: str):
        self.events, self.index, self.source = events, 0, source
        self.result: dict = {}

    def _next(self):
        event = self.events[self.index]
        self.index += 1
        return event

    def _fail(self, message: str, event) -> None:
        raise ParamFileError(f'{message} at line {event.start_mark.line + 1} of {self.source}')

    def parse(self) -> dict:
        import yaml
        while self.index < len(self.events):
            event = self._next()
            if isinstance(event, yaml.MappingStartEvent):
                self._node_level([])
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.ScalarEvent)):
                self._fail('A parameter file is a map of node names', event)
        return self.result

    def _node_level(self, names: list) -> None:
        """Keys naming nodes (and namespaces) until `ros__parameters`."""
        import yaml
        while True:
            event = self._next()
            if isinstance(event, yaml.MappingEndEvent):
                return
            if not isinstance(event, yaml.ScalarEvent):
                self._fail('Node names must be plain keys', event)
            key, value = event.value, self._next()
            if key == PARAMS_KEY:
                if not names:
                    self._fail(f'{PARAMS_KEY} needs a node name above it', event)
                if not isinstance(value, yaml.MappingStartEvent):
                    self._fail(f'{PARAMS_KEY} must hold a map', value)
                node = '/'.join(part.strip('/') for part in names)
                node = node if node.startswith('/') else '/' + node
                if names == ['/**']:
                    node = '/**'
                self._parameters(self.result.setdefault(node, {}), '')
            elif isinstance(value, yaml.MappingStartEvent):
                self._node_level(names + [key])
            else:
                self._fail(f'Cannot have a value before {PARAMS_KEY}', value)

    def _parameters(self, out: dict, prefix: str) -> None:
        import yaml
        while True:
            event = self._next()
            if isinstance(event, yaml.MappingEndEvent):
                return
            if not isinstance(event, yaml.ScalarEvent):
                self._fail('Parameter names must be plain keys', event)
            name, value = prefix + event.value, self._next()
            if isinstance(value, yaml.MappingStartEvent):
                self._parameters(out, name + '.')
            elif isinstance(value, yaml.SequenceStartEvent):
                out[name] = self._sequence()
            else:
                out[name] = self._scalar(value)

    def _scalar(self, event):
        import yaml
        if isinstance(event, yaml.AliasEvent):
            self._fail('Aliases are not supported', event)
        quoted = event.style in ("'", '"')
        if not quoted and event.value == '':
            self._fail('No value', event)
        return scalar_value(event.value, quoted, event.tag == 'tag:yaml.org,2002:str')

    def _sequence(self):
        import yaml
        values = []
        while True:
            event = self._next()
            if isinstance(event, yaml.SequenceEndEvent):
                break
            if not isinstance(event, yaml.ScalarEvent):
                self._fail('Sequences hold scalars only', event)
            value = self._scalar(event)
            if values and _kind(value) != _kind(values[0]):
                self._fail(f"Sequence should be of same type. Value type '{_kind(value)}' do "
                           'not belong', event)
            values.append(value)
        return values or None  # `[]`: the parameter has no value


def _kind(value) -> str:
    for name, check in (('bool', bool), ('integer', int), ('double', float), ('string', str)):
        if isinstance(value, check):
            return name
    raise TypeError(value)


def parse_param_argument(text: str) -> tuple:
    """`-p name:=value` as rcl reads it: the value's type by the same rules as in a file."""
    import yaml
    name, separator, raw = text.partition(':=')
    if not separator or not name:
        raise ParamFileError(f"Couldn't parse parameter override rule: '-p {text}'")
    events = list(yaml.parse(raw or "''"))
    scalars = [e for e in events if isinstance(e, yaml.ScalarEvent)]
    if any(isinstance(e, yaml.SequenceStartEvent) for e in events):
        values = [scalar_value(e.value, e.style in ("'", '"')) for e in scalars]
        return name, values or None
    if len(scalars) != 1:
        raise ParamFileError(f"Couldn't parse parameter override rule: '-p {text}'")
    event = scalars[0]
    return name, scalar_value(event.value, event.style in ("'", '"'))
