"""devrobot_core stays the light package every other one can depend on.

Importing any of its modules loads no torch and no other devrobot package, and none outside
`ros/` loads rclpy. Each check imports in a fresh interpreter, so what this test process has
already imported cannot hide a violation.
"""

import json
import subprocess
import sys

OTHER_PACKAGES = ('devrobot_sim', 'devrobot_jetbot', 'devrobot_world_model', 'devrobot_bringup')

# Imports every module of devrobot_core (ros/ ones too, or only the others), then prints which
# of the watched top-level packages ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys
import devrobot_core
names = ['devrobot_core'] + [m.name for m in pkgutil.walk_packages(devrobot_core.__path__,
                                                                  'devrobot_core.')]
names = [n for n in names if {include_ros} or not n.startswith('devrobot_core.ros')]
for name in names:
    importlib.import_module(name)
watched = {watched}
print(json.dumps({{'imported': names,
                   'loaded': sorted({{m.split('.')[0] for m in sys.modules}} & set(watched))}}))
"""


def probe(include_ros: bool, watched: tuple) -> dict:
    code = PROBE.format(include_ros=include_ros, watched=list(watched))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_the_modules_outside_ros_load_neither_torch_nor_rclpy_nor_another_package():
    found = probe(include_ros=False, watched=('torch', 'rclpy') + OTHER_PACKAGES)
    assert 'devrobot_core.bags.session_bag' in found['imported']  # the walk did find modules
    assert 'devrobot_core.testing.rclpy_double' in found['imported']
    assert found['loaded'] == []


def test_the_ros_helpers_load_no_torch_and_no_other_package_at_import():
    found = probe(include_ros=True, watched=('torch',) + OTHER_PACKAGES)
    assert 'devrobot_core.ros.node_support' in found['imported']
    assert found['loaded'] == []
