"""The package.xml check finds what a rosdep-only install would lack."""

from devrobot_core.testing.package_deps import undeclared

PACKAGE_XML = """<?xml version="1.0"?>
<package format="3">
  <name>demo</name>
  {depends}
</package>
"""


def _package(tmp_path, depends='', files=None):
    root = tmp_path / 'demo'
    for relative, text in (files or {}).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    (root / 'package.xml').write_text(PACKAGE_XML.format(depends=depends))
    return root


def test_a_new_import_without_its_key_fails(tmp_path):
    root = _package(tmp_path, files={'demo/a.py': 'import os\nimport numpy\n\n\n'
                                     'def f():\n    import tqdm\n'})
    assert undeclared(root) == [
        'demo/a.py:2: imports numpy; package.xml needs <exec_depend>python3-numpy</exec_depend>',
        'demo/a.py:6: imports tqdm; package.xml needs <exec_depend>python3-tqdm</exec_depend>']


def test_declared_keys_pass_and_tests_need_test_or_plain_depends(tmp_path):
    files = {'demo/a.py': 'import numpy\nfrom demo import b\nfrom . import c\n',
             'demo/testing/double.py': 'import yaml\n',
             'test/test_a.py': 'import pytest\nimport helper\nimport numpy\n',
             'test/helper.py': '', 'setup.py': 'import setuptools\n'}
    root = _package(tmp_path, '<depend>python3-numpy</depend>', files)
    assert undeclared(root) == [
        'test/test_a.py:1: imports pytest; package.xml needs '
        '<test_depend>python3-pytest</test_depend>',
        'demo/testing/double.py:1: imports yaml; package.xml needs '
        '<test_depend>python3-yaml</test_depend>']


def test_an_import_without_a_known_key_must_be_looked_up(tmp_path):
    root = _package(tmp_path, files={'demo/a.py': 'import some_new_library\n'})
    problem, = undeclared(root)
    assert 'some_new_library' in problem and 'no rosdep key' in problem
    assert undeclared(root, {'some_new_library': 'on the robot only'}) == []


def test_pip_only_libraries_need_no_key(tmp_path):
    assert undeclared(_package(tmp_path, files={'demo/a.py': 'import rpyc\n'})) == []
