"""The devrobot message types, loaded from the .msg files into a rosbags typestore.

The .msg files of devrobot_interfaces are the single source of truth for message layouts: bags
are written and read without ROS by registering those files' text into a rosbags typestore, so a
changed field shows up here without any hand-written copy of the layout.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

INTERFACES_PACKAGE = 'devrobot_interfaces'
MESSAGE_NAMES = ('MotorCommand', 'MotorState')
MSG_DIR_ENV = 'DEVROBOT_MSG_DIR'

IMAGE_TYPE = 'sensor_msgs/msg/Image'
STRING_TYPE = 'std_msgs/msg/String'
MOTOR_COMMAND_TYPE = f'{INTERFACES_PACKAGE}/msg/MotorCommand'
MOTOR_STATE_TYPE = f'{INTERFACES_PACKAGE}/msg/MotorState'


class MessageDefinitionsNotFound(RuntimeError):
    """The devrobot_interfaces .msg files could not be located."""


def _has_messages(folder: Path) -> bool:
    return all((folder / f'{name}.msg').is_file() for name in MESSAGE_NAMES)


def _ament_share_msg_dir() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(INTERFACES_PACKAGE)) / 'msg'
    except (LookupError, ValueError):  # PackageNotFoundError is a KeyError
        return None


def _source_tree_msg_dirs(start: Path) -> list:
    """Folders to try while walking up from this file: an editable install or a colcon build."""
    candidates = []
    for parent in start.parents:
        candidates.append(parent / 'src' / INTERFACES_PACKAGE / 'msg')
        candidates.append(parent / INTERFACES_PACKAGE / 'msg')
    return candidates


def find_msg_dir() -> Path:
    """The folder holding MotorCommand.msg and MotorState.msg.

    Search order: the DEVROBOT_MSG_DIR environment variable; the ament index share folder of
    devrobot_interfaces (when ament_index_python is importable and the package is installed);
    the source tree, walking up from this file.
    """
    tried = []
    from_env = os.environ.get(MSG_DIR_ENV)
    if from_env:
        folder = Path(from_env)
        if _has_messages(folder):
            return folder
        tried.append(f'${MSG_DIR_ENV}={folder}')
    share = _ament_share_msg_dir()
    if share is not None:
        if _has_messages(share):
            return share
        tried.append(f'ament share folder {share}')
    else:
        tried.append('the ament index (ament_index_python missing or package not installed)')
    for folder in _source_tree_msg_dirs(Path(__file__).resolve()):
        if _has_messages(folder):
            return folder
    tried.append(f'{INTERFACES_PACKAGE}/msg folders above {Path(__file__).resolve().parent}')
    names = ', '.join(f'{name}.msg' for name in MESSAGE_NAMES)
    raise MessageDefinitionsNotFound(
        f'cannot find {names}; tried: ' + '; '.join(tried)
        + f'. Set {MSG_DIR_ENV} to the folder src/{INTERFACES_PACKAGE}/msg.')


def message_definitions(msg_dir: Path | None = None) -> dict:
    """Map full type name (`devrobot_interfaces/msg/MotorState`) to the text of its .msg file."""
    folder = find_msg_dir() if msg_dir is None else Path(msg_dir)
    return {f'{INTERFACES_PACKAGE}/msg/{name}': (folder / f'{name}.msg').read_text('utf-8')
            for name in MESSAGE_NAMES}


def message_constants(type_name: str) -> dict:
    """The constants (`STATUS_COMPLETED=0`, ...) a devrobot .msg file declares, by name."""
    from rosbags.typesys import get_types_from_msg

    parsed = get_types_from_msg(message_definitions()[type_name], type_name)
    constants, _fields = parsed[type_name]
    return {name: value for name, _kind, value in constants}


@functools.lru_cache(maxsize=None)
def get_devrobot_typestore():
    """A rosbags typestore (ROS 2 Jazzy base types) with the devrobot messages registered.

    Cached: every caller shares one store. Raises MessageDefinitionsNotFound when the .msg files
    cannot be located.
    """
    from rosbags.typesys import get_types_from_msg, get_typestore, Stores

    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for type_name, text in message_definitions().items():
        types.update(get_types_from_msg(text, type_name))
    store.register(types)
    return store
