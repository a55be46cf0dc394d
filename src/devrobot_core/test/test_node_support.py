"""Config dataclasses as ROS parameters, and the shared main, through the rclpy double."""

from dataclasses import dataclass

import pytest
from devrobot_core.testing import rclpy_double

from devrobot_core.config_fields import setting
from devrobot_core.ros.node_support import declare_config, spin_node, watch_config


@dataclass
class ExampleConfig:
    """A config with every supported field type."""

    rate_hz: float = setting(2.0, 'How often.')
    count: int = setting(3, 'How many.')
    name: str = setting('dot', 'Which.')
    enabled: bool = setting(True, 'Whether.')
    weights: list[float] = setting([0.5, 1.5], 'Per action.')
    tags: list[str] = setting([], 'Labels; empty by default.')

    def __post_init__(self):
        if self.rate_hz <= 0:
            raise ValueError(f'rate_hz must be positive, got {self.rate_hz}')


@pytest.fixture
def make_node(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    import rclpy
    from rclpy.node import Node
    rclpy.init()

    def make(**overrides):
        ros.overrides['example'] = dict({'count': 7, 'weights': [1.0, 2.0, 3.0]}, **overrides)
        return Node('example')
    return make


@pytest.fixture
def node(make_node):
    return make_node()


def test_every_field_becomes_a_described_parameter(node):
    config = declare_config(node, ExampleConfig, dynamic=('rate_hz',))
    assert config == ExampleConfig(count=7, weights=[1.0, 2.0, 3.0])
    assert node.describe_parameter('rate_hz').description == 'How often.'
    assert not node.describe_parameter('rate_hz').read_only
    assert node.describe_parameter('count').read_only
    from rclpy.parameter import Parameter
    assert node.get_parameter('weights').type_ is Parameter.Type.DOUBLE_ARRAY


def test_an_empty_list_default_is_declared_with_its_element_type(node, make_node):
    assert declare_config(node, ExampleConfig).tags == []
    assert declare_config(make_node(tags=['a', 'b']), ExampleConfig).tags == ['a', 'b']


def test_an_int_for_a_float_field_is_refused(make_node):
    with pytest.raises(rclpy_double.InvalidParameterTypeException):
        declare_config(make_node(rate_hz=2), ExampleConfig)


def test_runtime_changes_are_validated_by_the_dataclass(node):
    holder = [declare_config(node, ExampleConfig, dynamic=('rate_hz',))]
    watch_config(node, ExampleConfig, lambda: holder[0], lambda c: holder.__setitem__(0, c))
    result, = node.graph.set_parameters('example', {'rate_hz': -1.0})
    assert not result.successful and 'positive' in result.reason
    assert holder[0].rate_hz == 2.0
    assert node.graph.set_parameters('example', {'rate_hz': 5.0})[0].successful
    assert holder[0].rate_hz == 5.0
    result, = node.graph.set_parameters('example', {'count': 1})
    assert not result.successful and 'read-only' in result.reason


def test_spin_node_closes_before_destroying(monkeypatch):
    ros = rclpy_double.install(monkeypatch)
    from rclpy.node import Node
    calls = []

    class Closing(Node):
        def __init__(self):
            super().__init__('closing')

        def close(self):
            calls.append(('close', self._destroyed))

    ros.spin_hook = lambda node: calls.append('spun')
    assert spin_node(Closing) == 0
    assert calls == ['spun', ('close', False)] and ros.destroyed == ['closing']


def test_spin_node_turns_bad_input_into_one_line_and_status_2(monkeypatch, capsys):
    from devrobot_core.errors import UsageError
    ros = rclpy_double.install(monkeypatch)

    def broken():
        raise UsageError('checkpoint /x is corrupt')

    assert spin_node(broken) == 2
    assert capsys.readouterr().err == 'error: checkpoint /x is corrupt\n'
    assert ros.shutdown_calls == 1
