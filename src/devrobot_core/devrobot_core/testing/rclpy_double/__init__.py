"""A test double of the rclpy surface the devrobot node shells use (ROS is not installable here).

Usage in a package's conftest.py::

    from devrobot_core.testing import rclpy_double

    @pytest.fixture
    def ros(monkeypatch):
        return rclpy_double.install(monkeypatch)   # a Graph to drive

then `node_module = rclpy_double.import_fresh(monkeypatch, 'pkg.some_node')`, build the node,
`ros.deliver(topic, msg)`, `ros.advance(seconds)`, `ros.spin_until_idle()`,
`ros.messages(topic)`, `ros.call_service(name, request)`, `ros.set_parameters(node_name, {...})`,
`ros.send_signal(signal.SIGINT)` (a Ctrl-C), `ros.idle_hook` (what a spinning executor does
when no callback is ready; by default the first idle wait is a Ctrl-C). Message classes are
generated from the rosbags typestore (`messages.py`); parameter files are read by rcl's rules
(`param_yaml.py`).
"""

from .messages import message_class, service_class
from .parameters import (InvalidParameterTypeException, InvalidParameterValueException,
                         Parameter, ParameterAlreadyDeclaredException,
                         ParameterNotDeclaredException)
from .param_yaml import ParamFileError
from .runtime import Graph, import_fresh, install, installed, RCLError

__all__ = ['Graph', 'install', 'installed', 'import_fresh', 'message_class', 'service_class',
           'RCLError', 'ParamFileError',
           'Parameter', 'InvalidParameterTypeException', 'InvalidParameterValueException',
           'ParameterAlreadyDeclaredException', 'ParameterNotDeclaredException']
