"""Launch files compile, include only files that exist, and build their descriptions.

Descriptions are built only where `launch` is importable (the Docker image); here the files
are compiled and their includes checked.
"""

import importlib.util
import py_compile
import re
from pathlib import Path

import pytest

BRINGUP = Path(__file__).resolve().parents[1]
BRINGUP_LAUNCH = sorted((BRINGUP / 'launch').glob('*.py'))
SCENARIOS = sorted((BRINGUP.parents[1] / 'launch').glob('*.py'))
ALL_LAUNCH = BRINGUP_LAUNCH + SCENARIOS


def test_there_are_launch_files():
    names = {p.name for p in BRINGUP_LAUNCH}
    assert {'sim.launch.py', 'replay.launch.py', 'world_model.launch.py',
            'record.launch.py'} <= names
    assert SCENARIOS


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_launch_files_compile_and_use_one_suffix(path, tmp_path):
    assert path.name.endswith('.launch.py')  # the glob in setup.py installs only these
    py_compile.compile(str(path), cfile=str(tmp_path / 'compiled.pyc'), doraise=True)


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_included_files_exist_in_bringup(path):
    existing = {p.name for p in BRINGUP_LAUNCH}
    for name in re.findall(r"include\(\s*'([^']+)'", path.read_text()):
        if name == 'jetbot.launch.py' and name not in existing:
            pytest.skip('jetbot.launch.py is written by the JetBot bringup')
        assert name in existing, f'{path.name} includes {name}, which bringup does not have'


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_launch_descriptions_are_built(path):
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from launch.actions import DeclareLaunchArgument
    description = _load(path)
    arguments = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    assert len(arguments) <= 5
    assert all(a.description and a.description != 'no description given' for a in arguments)


def _entry_points(package: str) -> set:
    """Console scripts a package's setup.py declares (read as text: no setuptools run)."""
    text = (BRINGUP.parent / package / 'setup.py').read_text()
    return set(re.findall(r"'(\w+) = [\w.]+:\w+'", text))


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_descriptions_build_against_the_launch_double(path, monkeypatch):
    import launch_double
    launch_double.install(monkeypatch)
    description = _load(path)
    arguments = [e for e in description.entities
                 if isinstance(e, launch_double.DeclareLaunchArgument)]
    assert len(arguments) <= 5, 'a scenario should need at most five arguments'
    assert all(a.description for a in arguments)
    existing = {p.name for p in BRINGUP_LAUNCH}
    for entity in description.entities:
        if isinstance(entity, launch_double.IncludeLaunchDescription):
            included = entity.source.launch_file_path.substitutions[-1]
            assert included in existing
        if isinstance(entity, launch_double.Node) and entity.package.startswith('devrobot_'):
            assert entity.executable in _entry_points(entity.package)
