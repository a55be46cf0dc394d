"""Fake `rclpy.parameter` and the parameter exceptions, with rclpy's typing rules.

The rules reproduced (rclpy jazzy `parameter.py`, `node.py`): a parameter's type is inferred
from its default value (so `1` declares an INTEGER and `[]` a BYTE_ARRAY); a value of another
type is refused at declaration (InvalidParameterTypeException, e.g. an int from YAML for a double
parameter) and at runtime (an unsuccessful SetParametersResult whose reason starts with 'Wrong
parameter type'); on-set callbacks run at declaration too, and a rejection there raises
InvalidParameterValueException.
"""

from __future__ import annotations

import array
from enum import Enum


class Parameter:
    """A name, a type and a value, as `rclpy.parameter.Parameter`."""

    class Type(Enum):
        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_parameter_value(cls, value):
            if value is None:
                return cls.NOT_SET
            for kind, check in ((cls.BOOL, bool), (cls.INTEGER, int), (cls.DOUBLE, float),
                                (cls.STRING, str)):
                if isinstance(value, check):
                    return kind
            if isinstance(value, (list, tuple, array.array)):
                # Same order as rclpy: an empty list is a BYTE_ARRAY.
                for kind, check in ((cls.BYTE_ARRAY, bytes), (cls.BOOL_ARRAY, bool),
                                    (cls.INTEGER_ARRAY, int), (cls.DOUBLE_ARRAY, float),
                                    (cls.STRING_ARRAY, str)):
                    if all(isinstance(v, check) for v in value):
                        return kind
                raise TypeError(f"The given value is not a list of one of the allowed types "
                                f"'{value}'.")
            raise TypeError(f"The given value is not one of the allowed types '{value}'.")

        def check(self, value) -> bool:
            if self is Parameter.Type.NOT_SET:
                return value is None
            try:
                inferred = Parameter.Type.from_parameter_value(value)
            except TypeError:
                return False
            if inferred is self:
                return True
            # An empty list satisfies every array type.
            return (isinstance(value, (list, tuple, array.array)) and len(value) == 0
                    and self.name.endswith('_ARRAY'))

    def __init__(self, name, type_=None, value=None):
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError("type must be an instance of 'Parameter.Type'")
        if not type_.check(value):
            raise ValueError(f"Type '{type_}' and value '{value}' do not agree")
        self._name, self._type_, self._value = name, type_, value

    name = property(lambda self: self._name)
    type_ = property(lambda self: self._type_)
    value = property(lambda self: self._value)

    def __repr__(self):
        return f'Parameter({self._name!r}, {self._type_}, {self._value!r})'


class ParameterException(Exception):
    """Base of the parameter errors, as `rclpy.exceptions.ParameterException`."""


class ParameterNotDeclaredException(ParameterException):
    """Get or set of a parameter that was never declared."""


class ParameterAlreadyDeclaredException(ParameterException):
    """A second declaration of one name (e.g. `use_sim_time`, which every node declares)."""


class InvalidParameterTypeException(ParameterException):
    """A value whose type differs from the declared type."""

    def __init__(self, parameter: Parameter, expected_type: str):
        super().__init__(
            f"Trying to set parameter '{parameter.name}' to '{parameter.value}' of type "
            f"'{Parameter.Type.from_parameter_value(parameter.value).name}', expecting type "
            f"'{expected_type}'")


class InvalidParameterValueException(ParameterException):
    """An on-set callback rejected the value at declaration."""

    def __init__(self, name, value, reason):
        super().__init__(f"Invalid parameter value ({value}) for parameter '{name}'. "
                         f'Reason: {reason}')


class ParameterUninitializedException(ParameterException):
    """Get of a parameter declared with a type but never given a value."""


class ParameterStore:
    """A node's declared parameters, descriptors and on-set callbacks."""

    def __init__(self, overrides: dict, result_class, descriptor_class):
        self.overrides = dict(overrides)
        self.values: dict = {}
        self.descriptors: dict = {}
        self.callbacks: list = []
        self._result = result_class
        self._descriptor = descriptor_class

    def declare(self, name, value=None, descriptor=None, ignore_override=False) -> Parameter:
        if name in self.values:
            raise ParameterAlreadyDeclaredException(f'parameter {name!r} already declared')
        descriptor = self._descriptor() if descriptor is None else descriptor
        if isinstance(value, Parameter.Type):
            if value is Parameter.Type.NOT_SET or descriptor.dynamic_typing:
                raise ValueError(f'cannot declare {name!r} statically typed as {value}')
            descriptor.type, value = value.value, None
        elif not descriptor.dynamic_typing:
            descriptor.type = Parameter.Type.from_parameter_value(value).value
            if descriptor.type == 0:
                raise ValueError('Cannot declare a statically typed parameter with default '
                                 'value of type PARAMETER_NOT_SET')
        if not ignore_override and name in self.overrides:
            value = self.overrides[name]
        parameter = Parameter(name, value=value)
        result = self._apply([parameter], {name: descriptor})
        if not result.successful:
            if result.reason.startswith('Wrong parameter type'):
                raise InvalidParameterTypeException(
                    parameter, Parameter.Type(descriptor.type).name)
            raise InvalidParameterValueException(name, value, result.reason)
        return self.values[name]

    def get(self, name) -> Parameter:
        if name not in self.values:
            raise ParameterNotDeclaredException(f'parameter {name!r} is not declared')
        parameter = self.values[name]
        if parameter.type_ is Parameter.Type.NOT_SET and not self.descriptors[name].dynamic_typing:
            raise ParameterUninitializedException(f'parameter {name!r} has no value')
        return parameter

    def set(self, parameters) -> list:
        results = []
        for parameter in parameters:
            if parameter.name not in self.values:
                raise ParameterNotDeclaredException(f'parameter {parameter.name!r} is not '
                                                    'declared')
            results.append(self._apply([parameter], None))
        return results

    def _apply(self, parameters, descriptors):
        for parameter in parameters:
            descriptor = (descriptors or self.descriptors)[parameter.name]
            if descriptors is None and descriptor.read_only:
                return self._result(successful=False, reason='Trying to set a read-only '
                                    f'parameter: {parameter.name}.')
            if descriptor.dynamic_typing:
                descriptor.type = parameter.type_.value
            elif (parameter.type_ is not Parameter.Type.NOT_SET
                  and parameter.type_.value != descriptor.type):
                return self._result(successful=False, reason=(
                    f"Wrong parameter type, expected '{Parameter.Type(descriptor.type)}' "
                    f"got '{parameter.type_}'"))
        for callback in self.callbacks:
            result = callback(list(parameters))
            if not result.successful:
                return result
        for parameter in parameters:
            if descriptors is not None:
                self.descriptors[parameter.name] = descriptors[parameter.name]
            self.values[parameter.name] = parameter
        return self._result(successful=True)
