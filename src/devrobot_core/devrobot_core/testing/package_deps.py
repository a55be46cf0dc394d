"""Every import of a package is declared in its package.xml, so `rosdep install` is complete.

Each package's `test/test_package_xml.py` calls `undeclared(package_root)`. The imports are read
(not run) from every Python file of the package: its modules, `launch/` and `test/`, lazy
imports inside functions included; code under `test/` or a `testing/` subpackage needs a
`test_depend` (or `depend`), the rest an `exec_depend` (or `depend`). `IMPORT_KEYS` maps an
import to its rosdep key; each key was checked against ros/rosdistro (`rosdep/base.yaml`,
`rosdep/python.yaml`, and the humble, jazzy and lyrical `distribution.yaml` for ROS packages).
A new import fails the test until its key is added here and to the package.xml.
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

# import name -> rosdep key; None: no key exists (installed by pip: docs/ros.md says how).
IMPORT_KEYS = {
    # Python packages (rosdep/python.yaml, base.yaml)
    'numpy': 'python3-numpy',
    'PIL': 'python3-pil',
    'matplotlib': 'python3-matplotlib',
    'cv2': 'python3-opencv',
    'yaml': 'python3-yaml',
    'tqdm': 'python3-tqdm',
    'torch': 'python3-torch',
    'torchvision': 'python3-torchvision',
    'timm': 'python3-timm-pip',
    'rosbags': 'python3-rosbags-pip',
    'ruamel': 'python3-ruamel.yaml',
    'mcap': 'mcap-ros2-support',  # the key installs mcap with it
    'mcap_ros2': 'mcap-ros2-support',
    'pytest': 'python3-pytest',
    'hypothesis': 'python3-hypothesis',
    'wandb': 'python3-wandb-pip',
    'uvicorn': 'python3-uvicorn',
    'httpx': 'python3-httpx',
    'rpyc': None,
    'starlette': None,
    'playwright': None,
    'lz4': None,  # (lz4 and backports.zstd come with rosbags, from pip)
    'backports': None,
    'compression': None,  # the standard library's from Python 3.14 (compression.zstd)
    # ROS 2 packages (their own names; in the humble, jazzy and lyrical distributions)
    **{name: name for name in (
        'rclpy', 'launch', 'launch_ros', 'launch_testing', 'launch_testing_ros',
        'ament_index_python', 'cv_bridge', 'rosbag2_py', 'sensor_msgs', 'std_msgs',
        'std_srvs', 'builtin_interfaces', 'rcl_interfaces', 'diagnostic_msgs',
        'devrobot_interfaces', 'devrobot_core', 'devrobot_sim', 'devrobot_jetbot',
        'devrobot_world_model', 'devrobot_bringup')},
}
RUN_TAGS = ('depend', 'exec_depend')
TEST_TAGS = ('depend', 'test_depend')


def declared(package_root) -> dict:
    """{'run': keys a running package may use, 'test': keys its tests may use}."""
    root = ElementTree.parse(Path(package_root) / 'package.xml').getroot()

    def keys(tags):
        return {element.text.strip() for element in root if element.tag in tags and
                element.text}
    return {'run': keys(RUN_TAGS), 'test': keys(TEST_TAGS) | keys(RUN_TAGS)}


def _is_test_code(relative: Path) -> bool:
    return relative.parts[0] == 'test' or 'testing' in relative.parts[:-1]


def imports(package_root) -> dict:
    """{top-level import name: {(kind, 'file:line'), ...}} of the package's Python files.

    kind is 'test' or 'run'; the standard library, relative imports, the package itself and
    its test helpers (modules beside the tests) are left out; setup.py is the build's own.
    """
    package_root = Path(package_root)
    local = {path.stem for path in (package_root / 'test').glob('*.py')}
    found: dict = {}
    for path in sorted(package_root.rglob('*.py')):
        relative = path.relative_to(package_root)
        if relative.name == 'setup.py' or relative.parts[0] in ('build', 'install', 'log'):
            continue
        kind = 'test' if _is_test_code(relative) else 'run'
        for node in ast.walk(ast.parse(path.read_text('utf-8'), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top in sys.stdlib_module_names or top in local or top == package_root.name:
                    continue
                found.setdefault(top, set()).add((kind, f'{relative}:{node.lineno}'))
    return found


def undeclared(package_root, allowed: dict | None = None) -> list:
    """One line per import its package.xml does not cover; empty when all are declared.

    `allowed` maps an import name to the reason it needs no declaration (an optional
    hardware library, a dependency that would be a cycle); every reason is the package's own.
    """
    allowed = allowed or {}
    have = declared(package_root)
    problems = []
    for name, uses in sorted(imports(package_root).items()):
        if name in allowed:
            continue
        if name not in IMPORT_KEYS:
            where = sorted(place for _, place in uses)[0]
            problems.append(f'{where}: imports {name}, which has no rosdep key in '
                            'devrobot_core/testing/package_deps.py: add it (checked against '
                            'ros/rosdistro) and to package.xml')
            continue
        key = IMPORT_KEYS[name]
        if key is None:
            continue  # installed by pip, as the docs say
        for kind in sorted({kind for kind, _ in uses}):
            if key not in have[kind]:
                tag = 'exec_depend' if kind == 'run' else 'test_depend'
                where = sorted(place for k, place in uses if k == kind)[0]
                problems.append(f'{where}: imports {name}; package.xml needs '
                                f'<{tag}>{key}</{tag}>')
    return problems
