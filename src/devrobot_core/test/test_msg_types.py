"""The typestore is built from the .msg files, and the Python enums agree with them."""

import shutil

import pytest

from devrobot_core import msg_types
from devrobot_core.motor import MotorStatus


def test_motor_status_matches_the_msg_constants():
    constants = msg_types.message_constants(msg_types.MOTOR_STATE_TYPE)
    assert constants == {f'STATUS_{status.name}': status.value for status in MotorStatus}


def test_typestore_holds_the_fields_of_the_msg_files():
    store = msg_types.get_devrobot_typestore()
    _, fields = store.fielddefs[msg_types.MOTOR_STATE_TYPE]
    names = [name for name, _ in fields]
    assert names == ['header', 'command', 'left', 'right', 'start', 'end', 'status', 'reason']
    _, fields = store.fielddefs[msg_types.MOTOR_COMMAND_TYPE]
    assert [name for name, _ in fields] == ['header', 'left', 'right', 'duration']
    assert msg_types.get_devrobot_typestore() is store  # cached


def test_env_var_wins(tmp_path, monkeypatch):
    source = msg_types.find_msg_dir()
    for name in msg_types.MESSAGE_NAMES:
        shutil.copy(source / f'{name}.msg', tmp_path / f'{name}.msg')
    monkeypatch.setenv(msg_types.MSG_DIR_ENV, str(tmp_path))
    assert msg_types.find_msg_dir() == tmp_path


def test_missing_msg_files_give_an_error_naming_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv(msg_types.MSG_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(msg_types, '_ament_share_msg_dir', lambda: None)
    monkeypatch.setattr(msg_types, '_source_tree_msg_dirs', lambda start: [tmp_path / 'nothing'])
    with pytest.raises(msg_types.MessageDefinitionsNotFound) as error:
        msg_types.find_msg_dir()
    assert str(tmp_path) in str(error.value)
    assert msg_types.MSG_DIR_ENV in str(error.value)
