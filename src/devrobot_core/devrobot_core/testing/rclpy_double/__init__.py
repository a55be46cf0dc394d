"""A test double of the rclpy surface the devrobot node shells use (ROS is not installable here).

Usage in a package's conftest.py::

    from devrobot_core.testing import rclpy_double

    @pytest.fixture
    def ros(monkeypatch):
        return rclpy_double.install(monkeypatch)   # a Graph to drive

then `node_module = rclpy_double.import_fresh(monkeypatch, 'pkg.some_node')`, build the node,
`ros.deliver(topic, msg)`, `ros.advance(seconds)`, `ros.messages(topic)`,
`ros.call_service(name, request)`, `ros.set_parameters(node_name, {...})`.
Message classes are generated from the rosbags typestore (see `messages.py`).
"""

from .messages import message_class, service_class
from .parameters import (InvalidParameterTypeException, InvalidParameterValueException,
                         Parameter, ParameterAlreadyDeclaredException,
                         ParameterNotDeclaredException)
from .runtime import Graph, import_fresh, install, installed

__all__ = ['Graph', 'install', 'installed', 'import_fresh', 'message_class', 'service_class',
           'Parameter', 'InvalidParameterTypeException', 'InvalidParameterValueException',
           'ParameterAlreadyDeclaredException', 'ParameterNotDeclaredException']
