"""Launch files compile, include only files that exist, and build their descriptions.

Real descriptions are built where `launch` is importable (a ROS install); everywhere they are
built against the recording launch double, which checks what --show-args would list, that
arguments are checked before any process starts, and how the graph ends.
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


def _entities(description):
    return list(description.entities)


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


def _shown_and_fixed(path, launch_double):
    """(arguments --show-args would list, arguments a parent fixes), through every include.

    --show-args lists the declarations of included files too (launch's
    get_launch_arguments); an argument a parent passes with its own value cannot be set by a
    user, so listing it would be a lie.
    """
    shown, fixed = set(), []
    for entity in _load(path).entities:
        if isinstance(entity, launch_double.DeclareLaunchArgument):
            shown.add(entity.name)
        if isinstance(entity, launch_double.IncludeLaunchDescription):
            child = BRINGUP / 'launch' / entity.source.launch_file_path.substitutions[-1]
            child_shown, child_fixed = _shown_and_fixed(child, launch_double)
            shown |= child_shown
            fixed += child_fixed
            fixed += [(name, child.name) for name, value in entity.launch_arguments
                      if not (isinstance(value, launch_double.LaunchConfiguration)
                              and value.variable_name == name)]
    return shown, fixed


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_show_args_lists_only_what_a_user_may_set(path, monkeypatch):
    import launch_double
    launch_double.install(monkeypatch)
    shown, fixed = _shown_and_fixed(path, launch_double)
    assert [(name, child) for name, child in fixed if name in shown] == []


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_arguments_are_checked_before_any_process_starts(path, monkeypatch):
    """A bad argument must stop the launch before a process runs (or it could outlive it)."""
    import launch_double
    launch_double.install(monkeypatch)
    entities = _entities(_load(path))
    starters = [i for i, e in enumerate(entities)
                if isinstance(e, (launch_double.ExecuteProcess, launch_double.Node))
                or isinstance(e, launch_double.OpaqueFunction) and e.function.__name__ == 'start']
    checks = [i for i, e in enumerate(entities)
              if isinstance(e, launch_double.OpaqueFunction) and e.function.__name__ == 'check']
    if starters:
        assert checks and max(checks) < min(starters)


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_the_world_model_may_save_and_drivers_end_the_launch(path, monkeypatch):
    import launch_double
    from devrobot_bringup.launch_blocks import SAVE_TIMEOUT_S
    launch_double.install(monkeypatch)
    for entity in _entities(_load(path)):
        if not isinstance(entity, launch_double.Node):
            continue
        if entity.executable in ('world_model_node', 'sim_node', 'jetbot_node'):
            assert isinstance(entity.kwargs.get('on_exit'), launch_double.Shutdown)
        if entity.executable == 'world_model_node':
            assert float(entity.kwargs['sigterm_timeout']) == SAVE_TIMEOUT_S


def _launch_ros_type(value, launch_double):
    """The parameter type launch_ros gives a value of a `parameters` dict.

    None: decided when the launch runs (a substitution's text is read as YAML).
    """
    if isinstance(value, launch_double.ParameterValue):
        return value.value_type
    if isinstance(value, (str, bool, int, float)):
        return type(value)  # a plain str stays a STRING parameter, whatever it says
    return None


@pytest.mark.parametrize('path', ALL_LAUNCH, ids=lambda p: p.name)
def test_parameters_set_in_launch_files_have_the_declared_types(path, monkeypatch):
    """A plain 'false' (a str) reaches the node as a STRING: a BOOL parameter refuses it."""
    import launch_double
    from devrobot_core.config_fields import field_specs
    from devrobot_jetbot.jetbot_config import JetBotConfig, JetBotNodeConfig
    from devrobot_world_model.node.node_config import WorldModelNodeConfig
    declared = {'world_model_node': [WorldModelNodeConfig], 'jetbot_node': [JetBotConfig,
                                                                            JetBotNodeConfig]}
    launch_double.install(monkeypatch)
    for entity in _entities(_load(path)):
        if not isinstance(entity, launch_double.Node) or entity.executable not in declared:
            continue
        kinds = {spec.name: spec.kind for config in declared[entity.executable]
                 for spec in field_specs(config)}
        kinds['use_sim_time'] = bool
        for parameters in entity.parameters:
            if not isinstance(parameters, dict):
                continue
            for name, value in parameters.items():
                kind = _launch_ros_type(value, launch_double)
                assert kind in (None, kinds[name]), (
                    f'{entity.executable} parameter {name} gets a {kind.__name__}, '
                    f'declared {kinds[name].__name__}')
