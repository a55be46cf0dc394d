"""A recording stand-in for the `launch` / `launch_ros` surface the devrobot launch files use.

ROS is not installable here, so the launch files cannot build real descriptions. These classes
take exactly the arguments of the jazzy-branch originals (keyword-only where they are) and record
them, so a launch file that calls something with a wrong keyword, or names a launch file,
package or executable that does not exist, fails here too. `install(monkeypatch)` puts them
into sys.modules for one test.
"""

import sys
import types


class Recorded:
    """Base: remembers its keyword arguments; `condition` is accepted as by launch.Action."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.condition = kwargs.get('condition')


class LaunchDescription:
    def __init__(self, initial_entities=None, *, deprecated_reason=None):
        self.entities = list(initial_entities or [])


class DeclareLaunchArgument(Recorded):
    def __init__(self, name, *, default_value=None, description=None, choices=None, **kwargs):
        super().__init__(default_value=default_value, description=description,
                         choices=choices, **kwargs)
        self.name, self.description, self.choices = name, description, choices
        self.default_value = default_value


class IncludeLaunchDescription(Recorded):
    def __init__(self, launch_description_source, *, launch_arguments=None, condition=None):
        super().__init__(launch_arguments=launch_arguments, condition=condition)
        self.source = launch_description_source
        self.launch_arguments = list(launch_arguments or [])


# What ExecuteProcess passes on to ExecuteLocal and Action (jazzy; respawn_max_retries is
# jazzy-only, so devrobot does not use it).
EXECUTE_LOCAL_KEYWORDS = {'shell', 'sigterm_timeout', 'sigkill_timeout', 'emulate_tty', 'output',
                          'output_format', 'cached_output', 'log_cmd', 'on_exit', 'respawn',
                          'respawn_delay', 'condition'}


class ExecuteProcess(Recorded):
    def __init__(self, *, cmd, prefix=None, name=None, cwd=None, env=None, additional_env=None,
                 **kwargs):
        unknown = set(kwargs) - EXECUTE_LOCAL_KEYWORDS
        if unknown:
            raise TypeError(f'unexpected keyword arguments {sorted(unknown)}')
        super().__init__(cmd=cmd, name=name, **kwargs)


class OpaqueFunction(Recorded):
    def __init__(self, *, function, args=None, kwargs=None, condition=None):
        super().__init__(function=function, condition=condition)
        self.function = function


class TimerAction(Recorded):
    def __init__(self, *, period, actions, cancel_on_shutdown=True, **kwargs):
        super().__init__(period=period, actions=actions, **kwargs)
        self.period, self.actions = period, list(actions)


class Shutdown(Recorded):
    def __init__(self, *, reason='reason not given', **kwargs):
        super().__init__(reason=reason, **kwargs)
        self.reason = reason


class Logger:
    """`launch.logging.get_logger()`'s loggers: every message lands in `LOGS`."""

    def __init__(self, name):
        self.name = name

    def info(self, message, *args):
        LOGS.append(('info', message))

    def warning(self, message, *args):
        LOGS.append(('warning', message))

    def error(self, message, *args):
        LOGS.append(('error', message))


LOGS = []


class PythonLaunchDescriptionSource:
    def __init__(self, launch_file_path):
        self.launch_file_path = launch_file_path


class LaunchConfiguration:
    def __init__(self, variable_name, *, default=None):
        self.variable_name, self.default = variable_name, default

    def perform(self, context):
        """The argument's value; here `context` is a plain dict of launch arguments."""
        if self.variable_name in context:
            return context[self.variable_name]
        if self.default is None:  # launch raises SubstitutionFailure
            raise LookupError(f"launch configuration '{self.variable_name}' does not exist")
        return self.default


class PathJoinSubstitution:
    def __init__(self, substitutions):
        self.substitutions = list(substitutions)


class IfCondition:
    def __init__(self, predicate_expression):
        self.predicate_expression = predicate_expression

    def evaluate(self, context) -> bool:
        """The rule of launch: 'true'/'1' or 'false'/'0' after strip and lower, else an error."""
        word = self.predicate_expression.perform(context).strip().lower()
        if word not in ('true', '1', 'false', '0'):
            raise ValueError(f'invalid condition expression {word!r}')
        return word in ('true', '1')


class FindPackageShare:
    def __init__(self, package):
        self.package = package


class Node(ExecuteProcess):
    def __init__(self, *, executable, package=None, name=None, namespace=None, exec_name=None,
                 parameters=None, remappings=None, ros_arguments=None, arguments=None,
                 **kwargs):
        super().__init__(cmd=[executable], name=name, **kwargs)
        self.package, self.executable, self.name = package, executable, name
        self.parameters, self.arguments = parameters, arguments


class ParameterValue:
    def __init__(self, value, *, value_type=None):
        # launch_ros's normalize_typed_substitution: a value that is no substitution must
        # already have the type (ParameterValue('false', value_type=bool) is a TypeError)
        if (value_type is not None and isinstance(value, (str, bool, int, float))
                and not isinstance(value, value_type)):
            raise TypeError(f'value={value!r} is not an instance of {value_type}')
        self.value, self.value_type = value, value_type


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    module.__path__ = []
    return module


def install(monkeypatch):
    """Replace `launch` and `launch_ros` (whatever is importable) for the current test."""
    modules = {
        'launch': _module('launch', LaunchDescription=LaunchDescription),
        'launch.actions': _module(
            'launch.actions', DeclareLaunchArgument=DeclareLaunchArgument,
            IncludeLaunchDescription=IncludeLaunchDescription, ExecuteProcess=ExecuteProcess,
            OpaqueFunction=OpaqueFunction, TimerAction=TimerAction, Shutdown=Shutdown),
        'launch.logging': _module('launch.logging', get_logger=Logger),
        'launch.substitutions': _module('launch.substitutions',
                                        LaunchConfiguration=LaunchConfiguration,
                                        PathJoinSubstitution=PathJoinSubstitution),
        'launch.conditions': _module('launch.conditions', IfCondition=IfCondition),
        'launch.launch_description_sources': _module(
            'launch.launch_description_sources',
            PythonLaunchDescriptionSource=PythonLaunchDescriptionSource),
        'launch_ros': _module('launch_ros'),
        'launch_ros.actions': _module('launch_ros.actions', Node=Node),
        'launch_ros.substitutions': _module('launch_ros.substitutions',
                                            FindPackageShare=FindPackageShare),
        'launch_ros.parameter_descriptions': _module('launch_ros.parameter_descriptions',
                                                     ParameterValue=ParameterValue),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    modules['launch'].actions = modules['launch.actions']
    modules['launch'].logging = modules['launch.logging']
    LOGS.clear()
