"""The JetBot driver depends on devrobot_core only: no simulator, no world model, no torch.

A robot computer installs this package without torch; the import check runs in a fresh
interpreter, so what this test process has already imported cannot hide a violation.
"""

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ('torch', 'devrobot_sim', 'devrobot_world_model', 'devrobot_bringup')

# Imports every module of devrobot_jetbot but the rclpy node shells, then prints which of the
# forbidden top-level packages ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys
import devrobot_jetbot
names = ['devrobot_jetbot'] + [m.name for m in pkgutil.walk_packages(devrobot_jetbot.__path__,
                                                                    'devrobot_jetbot.')]
names = [n for n in names if not n.endswith('_node')]
for name in names:
    importlib.import_module(name)
print(json.dumps({{'imported': names,
                   'loaded': sorted({{m.split('.')[0] for m in sys.modules}} & set({watched}))}}))
"""


def test_importing_the_driver_loads_no_simulator_world_model_or_torch():
    code = PROBE.format(watched=list(FORBIDDEN))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert 'devrobot_jetbot.jetbot_robot' in found['imported']  # the walk did find modules
    assert found['loaded'] == []


def test_no_module_imports_them_even_inside_a_function():
    """The node shell (not importable without ROS) and lazy imports are read, not run."""
    offenders = []
    for path in sorted((PACKAGE_ROOT / 'devrobot_jetbot').rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or '']
            else:
                continue
            offenders += [f'{path.name}:{node.lineno} {name}' for name in names
                          if name.split('.')[0] in FORBIDDEN]
    assert offenders == []


def test_the_package_declares_devrobot_core_and_not_the_simulator():
    root = ElementTree.parse(PACKAGE_ROOT / 'package.xml').getroot()
    depends = {element.text for element in root.iter()
               if element.tag.endswith('depend') and element.text}
    assert 'devrobot_core' in depends
    assert not depends & set(FORBIDDEN)
