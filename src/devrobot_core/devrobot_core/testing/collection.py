"""Test modules that pytest collects wherever they run: no skip at module level.

With ROS installed, launch_testing's pytest plugin imports every test module of a package to
look for launch tests. A module that skips while being imported (`pytest.importorskip` or
`pytest.skip(allow_module_level=True)` at its top) then skips the whole test folder: colcon
reports "0 failures" having run nothing. So a missing optional library skips the tests that
need it, inside them, and each package's `test_packaging.py` checks with
`module_level_skips(package_root)`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SKIPS = ('skip', 'importorskip')


def _skip_calls(statement) -> list:
    """Calls of pytest.skip / pytest.importorskip in a statement, not inside a def or class."""
    found, pending = [], [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SKIPS and isinstance(node.func.value, ast.Name)
                and node.func.value.id == 'pytest'):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def module_level_skips(package_root) -> list:
    """'test/file.py:line' of every skip that would run while a test module is imported."""
    places = []
    for path in sorted((Path(package_root) / 'test').glob('*.py')):
        tree = ast.parse(path.read_text('utf-8'), str(path))
        for statement in tree.body:
            places += [f'test/{path.name}:{call.lineno}' for call in _skip_calls(statement)]
    return places
