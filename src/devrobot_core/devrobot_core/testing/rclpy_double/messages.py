"""Fake ROS message classes generated from the rosbags typestore's definitions.

The layouts come from `devrobot_core.msg_types.get_devrobot_typestore()` (the ROS 2 Jazzy base
types plus the devrobot .msg files), so a fake class cannot drift from the real type. The classes
behave like the ones rosidl_generator_py makes where node shells can tell the difference:

- keyword-only constructor; an unknown keyword fails (real: AssertionError);
- `__slots__`, so assigning a misspelt field raises AttributeError;
- typed setters: a float field rejects an int, an int field rejects a float or an out-of-range
  value, a nested field rejects another type (real: AssertionError);
- numeric sequences (`uint8[] data`) are `array.array` of the matching typecode; string and
  nested sequences are lists; fixed-size numeric arrays are numpy arrays;
- constants as class attributes; `get_fields_and_field_types()`; equality by field values.

Service types (not in the typestore) are built the same way from their .srv text below, which is
the text of the real std_srvs definitions.
"""

from __future__ import annotations

import array
import functools
import math
import types

import numpy as np

TYPECODES = {
    'int8': 'b', 'uint8': 'B', 'int16': 'h', 'uint16': 'H', 'int32': 'i', 'uint32': 'I',
    'int64': 'q', 'uint64': 'Q', 'float32': 'f', 'float64': 'd',
}
INT_RANGES = {
    'int8': (-2 ** 7, 2 ** 7), 'uint8': (0, 2 ** 8), 'int16': (-2 ** 15, 2 ** 15),
    'uint16': (0, 2 ** 16), 'int32': (-2 ** 31, 2 ** 31), 'uint32': (0, 2 ** 32),
    'int64': (-2 ** 63, 2 ** 63), 'uint64': (0, 2 ** 64),
}
# rosidl makes `byte` a bytes object of length 1 (constants too) and `char` a 1-character str.
SCALAR_DEFAULTS = {'bool': False, 'string': '', 'byte': b'\x00', 'char': '\x00'}
FLOAT_LIMITS = {'float32': 3.402823466e+38, 'float64': 1.7976931348623157e+308}
NUMPY_DTYPES = {'float32': np.float32, 'float64': np.float64, 'uint8': np.uint8,
                'int8': np.int8, 'uint16': np.uint16, 'int16': np.int16, 'uint32': np.uint32,
                'int32': np.int32, 'uint64': np.uint64, 'int64': np.int64}

# rosbags gives empty messages one placeholder field; rosidl's Python classes have no field.
PLACEHOLDER_FIELD = 'structure_needs_at_least_one_member'

# The real std_srvs definitions (srv files of ros2/common_interfaces, jazzy).
SERVICE_DEFINITIONS = {
    'std_srvs/srv/Trigger': ('', 'bool success\nstring message\n'),
    'std_srvs/srv/SetBool': ('bool data\n', 'bool success\nstring message\n'),
    'std_srvs/srv/Empty': ('', ''),
}


def _check_scalar(kind: str, value, field: str) -> None:
    if kind == 'bool':
        ok = isinstance(value, bool)
    elif kind == 'string':
        ok = isinstance(value, str)
    elif kind == 'byte':
        ok = isinstance(value, bytes) and len(value) == 1
    elif kind == 'char':
        ok = isinstance(value, str) and len(value) == 1 and ord(value) < 128
    elif kind in FLOAT_LIMITS:
        limit = FLOAT_LIMITS[kind]
        ok = isinstance(value, float) and (math.isinf(value) or math.isnan(value)
                                           or -limit <= value <= limit)
    elif kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value < high
    else:
        raise TypeError(f'unsupported base type {kind!r} of field {field!r}')
    if not ok:
        raise AssertionError(f"The '{field}' field must be of type '{kind}' "
                             f'(got {type(value).__name__} {value!r})')


class _Field:
    """One field's type, default and setter check, from a typestore field definition."""

    def __init__(self, name: str, definition, resolve):
        self.name = name
        node_kind, detail = definition
        self.kind_name = node_kind.name  # BASE, NAME, ARRAY, SEQUENCE
        self.resolve = resolve
        if self.kind_name == 'BASE':
            self.base, _bound = detail
            self.element = None
        elif self.kind_name == 'NAME':
            self.base, self.element = None, detail
        else:
            (element_kind, element_detail), self.size = detail
            if element_kind.name == 'BASE':
                self.base, self.element = element_detail[0], None
            else:
                self.base, self.element = None, element_detail

    def type_string(self) -> str:
        inner = self.base if self.base is not None else self.element.replace('/msg/', '/')
        if self.kind_name == 'ARRAY':
            return f'{inner}[{self.size}]'
        if self.kind_name == 'SEQUENCE':
            return f'sequence<{inner}>' if not self.size else f'sequence<{inner}, {self.size}>'
        return inner

    def _numeric_sequence(self) -> bool:
        return self.base is not None and self.base in TYPECODES

    def default(self):
        if self.kind_name == 'NAME':
            return self.resolve(self.element)()
        if self.kind_name == 'BASE':
            return SCALAR_DEFAULTS.get(self.base, 0.0 if self.base in FLOAT_LIMITS else 0)
        if self.kind_name == 'ARRAY':
            if self._numeric_sequence():
                return np.zeros(self.size, dtype=NUMPY_DTYPES[self.base])
            if self.element is not None:
                return [self.resolve(self.element)() for _ in range(self.size)]
            return [SCALAR_DEFAULTS[self.base]] * self.size
        if self._numeric_sequence():
            return array.array(TYPECODES[self.base])
        return []

    def convert(self, value):
        """Check `value` like the real setter and return what the field then holds."""
        if self.kind_name == 'BASE':
            _check_scalar(self.base, value, self.name)
            return value
        if self.kind_name == 'NAME':
            cls = self.resolve(self.element)
            if not isinstance(value, cls):
                raise AssertionError(f"The '{self.name}' field must be a sub message of type "
                                     f"'{cls.__name__}' (got {type(value).__name__})")
            return value
        if self.kind_name == 'SEQUENCE' and self._numeric_sequence():
            typecode = TYPECODES[self.base]
            if isinstance(value, array.array):
                if value.typecode != typecode:
                    raise AssertionError(f"The '{self.name}' array.array() must have the type "
                                         f"code of '{typecode}'")
                return value
            if isinstance(value, (bytes, bytearray)) and typecode == 'B':
                return array.array('B', value)
        if self.kind_name == 'ARRAY' and self._numeric_sequence() and isinstance(
                value, np.ndarray):
            if value.dtype != NUMPY_DTYPES[self.base] or value.size != self.size:
                raise AssertionError(f"The '{self.name}' numpy.ndarray() must have dtype "
                                     f"{self.base} and size {self.size}")
            return value
        if isinstance(value, (str, dict)) or not hasattr(value, '__len__'):
            raise AssertionError(f"The '{self.name}' field must be a sequence")
        items = list(value)
        if self.kind_name == 'ARRAY' and len(items) != self.size:
            raise AssertionError(f"The '{self.name}' field must have {self.size} elements")
        if self.kind_name == 'SEQUENCE' and self.size and len(items) > self.size:
            raise AssertionError(f"The '{self.name}' field holds at most {self.size} elements")
        if self.element is not None:
            cls = self.resolve(self.element)
            if not all(isinstance(item, cls) for item in items):
                raise AssertionError(f"The '{self.name}' field must hold '{cls.__name__}'")
            return items
        for item in items:
            _check_scalar(self.base, item, self.name)
        if self.kind_name == 'ARRAY' and self._numeric_sequence():
            return np.array(items, dtype=NUMPY_DTYPES[self.base])
        if self._numeric_sequence():
            return array.array(TYPECODES[self.base], items)
        return items


def _make_class(full_name: str, constants, field_defs, resolve):
    fields = [_Field(name, definition, resolve) for name, definition in field_defs
              if name != PLACEHOLDER_FIELD]
    by_name = {field.name: field for field in fields}
    short_name = full_name.rsplit('/', 1)[-1]

    def __init__(self, **kwargs):
        unknown = [key for key in kwargs if key not in by_name]
        assert not unknown, f'Invalid arguments passed to constructor: {unknown}'
        for field in fields:
            if field.name in kwargs:
                setattr(self, field.name, kwargs[field.name])
            else:
                object.__setattr__(self, '_' + field.name, field.default())

    def __eq__(self, other):
        if not isinstance(other, type(self)):
            return False
        return all(_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields)

    def __repr__(self):
        body = ', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields)
        return f'{full_name.replace("/msg/", ".msg.")}({body})'

    def get_fields_and_field_types(cls):
        return {f.name: f.type_string() for f in fields}

    namespace = {
        '__slots__': tuple('_' + f.name for f in fields),
        '__init__': __init__, '__eq__': __eq__, '__repr__': __repr__, '__hash__': None,
        'get_fields_and_field_types': classmethod(get_fields_and_field_types),
        '_full_name': full_name, '_fields': tuple(by_name),
    }
    for name, kind, value in constants:
        namespace[name] = bytes([value]) if kind == 'byte' else value
    for field in fields:
        namespace[field.name] = _property(field)
    return type(short_name, (), namespace)


def _property(field: _Field):
    def getter(self):
        return getattr(self, '_' + field.name)

    def setter(self, value):
        object.__setattr__(self, '_' + field.name, field.convert(value))
    return property(getter, setter)


def _equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return a == b


@functools.lru_cache(maxsize=None)
def _typestore():
    from devrobot_core.msg_types import get_devrobot_typestore
    return get_devrobot_typestore()


_classes: dict = {}


def message_class(full_name: str) -> type:
    """The fake class of `pkg/msg/Name` (created once per process, so identity is stable)."""
    if full_name not in _classes:
        store = _typestore()
        if full_name not in store.fielddefs:
            raise KeyError(f'{full_name} is not in the typestore')
        constants, field_defs = store.fielddefs[full_name]
        _classes[full_name] = _make_class(full_name, constants, field_defs, message_class)
    return _classes[full_name]


def service_class(full_name: str) -> type:
    """The fake service type `pkg/srv/Name`, with `.Request` and `.Response` classes."""
    if full_name not in _classes:
        from rosbags.typesys import get_types_from_msg
        request_text, response_text = SERVICE_DEFINITIONS[full_name]
        parts = {}
        for suffix, text in (('Request', request_text), ('Response', response_text)):
            name = f'{full_name}_{suffix}'
            parsed = get_types_from_msg(text or f'uint8 {PLACEHOLDER_FIELD}', name)
            (constants, field_defs), = parsed.values()
            parts[suffix] = _make_class(name, constants, field_defs, message_class)
        _classes[full_name] = type(full_name.rsplit('/', 1)[-1], (), dict(parts))
    return _classes[full_name]


def interface_module(package: str, kind: str) -> types.ModuleType:
    """A module `package.msg` (or `.srv`) whose attributes are created on first access."""
    module = types.ModuleType(f'{package}.{kind}')

    def __getattr__(name):
        full_name = f'{package}/{kind}/{name}'
        try:
            return service_class(full_name) if kind == 'srv' else message_class(full_name)
        except KeyError:
            raise AttributeError(f'module {package}.{kind} has no type {name}') from None

    module.__getattr__ = __getattr__
    return module


def to_rosbags(msg, store=None):
    """The same message as a rosbags typestore instance (so it can be CDR-serialised).

    Fails when a fake and the typestore disagree on any field, at any depth: tests use it as
    proof that what a node publishes has exactly the real type's fields.
    """
    store = store or _typestore()
    full_name = type(msg)._full_name
    cls = store.types[full_name]
    _constants, field_defs = store.fielddefs[full_name]
    values = {}
    for name, (node_kind, detail) in field_defs:
        if name == PLACEHOLDER_FIELD:
            values[name] = 0
            continue
        value = getattr(msg, name)
        if node_kind.name == 'NAME':
            values[name] = to_rosbags(value, store)
        elif node_kind.name == 'BASE':
            values[name] = _rosbags_scalar(detail[0], value)
        elif detail[0][0].name == 'BASE' and detail[0][1][0] in NUMPY_DTYPES:
            values[name] = np.asarray(value, dtype=NUMPY_DTYPES[detail[0][1][0]])
        elif detail[0][0].name == 'BASE':
            values[name] = [_rosbags_scalar(detail[0][1][0], item) for item in value]
        else:
            values[name] = [to_rosbags(item, store) for item in value]
    return cls(**values)


def _rosbags_scalar(kind: str, value):
    """Rosbags holds `byte` and `char` as integers."""
    if kind == 'byte':
        return value[0]
    if kind == 'char':
        return ord(value)
    return value
