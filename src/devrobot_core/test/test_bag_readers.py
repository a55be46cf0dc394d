"""Which library reads a bag, how it is chosen, and a bag whose recorder died.

The session-bag tests (devrobot_sim/test/test_session_bag.py, test_recorded_policy.py) run once
per reader that imports; these cover what differs between the two. Without rosbag2_py, a whole
mcap bag is read by devrobot's checked scan ('bag_scan') and a sqlite3 one by rosbags.
"""

import numpy as np
import pytest

from devrobot_core.bags import bag_readers
from devrobot_core.bags.session_bag import read_session, SessionBagError, SessionBagWriter
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome, MotorStatus

STAY, MOVE = MotorCommand(0.0, 0.0, 0.2), MotorCommand(0.0, 0.12, 0.2)


def _write(path, steps=3, storage='mcap'):
    with SessionBagWriter(path, 'toroidal_dot', (STAY, MOVE), {}, storage=storage) as writer:
        writer.write_frame(Frame(np.zeros((4, 4, 3), np.uint8), 10))
        for step in range(steps):
            start = 1_000 + step * 1_000
            command = MOVE.stamped(start)
            writer.write_step(command, MotorOutcome(command, 0.0, 0.12, start, start + 200,
                                                    MotorStatus.COMPLETED),
                              Frame(np.full((4, 4, 3), step, np.uint8), start + 300))
    return path


def test_the_reader_is_chosen_by_availability_or_by_name(monkeypatch):
    monkeypatch.delenv(bag_readers.READER_ENV, raising=False)
    available = bag_readers.available_readers()
    assert 'rosbags' in available
    assert bag_readers.choose_reader() == available[0]
    assert bag_readers.choose_reader('rosbags') == 'rosbags'
    monkeypatch.setenv(bag_readers.READER_ENV, 'rosbags')
    assert bag_readers.choose_reader() == 'rosbags'
    monkeypatch.setenv(bag_readers.READER_ENV, 'pyrosbag')
    with pytest.raises(bag_readers.BagReadError, match="expected one of rosbag2_py, rosbags"):
        bag_readers.choose_reader()


def test_asking_for_a_reader_that_is_not_installed_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(bag_readers, 'available_readers', lambda: ['rosbags'])
    with pytest.raises(bag_readers.BagReadError, match='rosbag2_py is not installed'):
        bag_readers.choose_reader('rosbag2_py')


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('reader', bag_readers.available_readers())
def test_the_session_info_names_the_reader_that_read_it(tmp_path, monkeypatch, reader,
                                                        storage):
    monkeypatch.setenv(bag_readers.READER_ENV, reader)
    info, events = read_session(_write(tmp_path / 'bag', storage=storage))
    expected = 'bag_scan' if (reader, storage) == ('rosbags', 'mcap') else reader
    assert info.reader == expected
    assert len([e for e in events if isinstance(e, MotorOutcome)]) == 3


def _kill_recorder(bag):
    """What a recorder killed before closing leaves: data files, no metadata.yaml.

    The data file gets the name `ros2 bag record` gives it (<bag>_0.mcap), the one rosbag2's
    reindexer looks for.
    """
    (bag / 'metadata.yaml').unlink()
    for data in [p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3')]:
        data.rename(bag / f'{bag.name}_0{data.suffix}')
    return bag


def test_without_rosbag2_py_a_sqlite3_bag_whose_recorder_died_is_one_line_naming_the_fix(
        tmp_path, monkeypatch):
    monkeypatch.setenv(bag_readers.READER_ENV, 'rosbags')
    bag = _kill_recorder(_write(tmp_path / 'bag', storage='sqlite3'))
    with pytest.raises(SessionBagError, match='ros2 bag reindex'):
        read_session(bag)  # (an mcap one is the checked scan's: DamagedBagError, partial)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_rosbag2_py_reindexes_a_recorded_bag_without_metadata(tmp_path, monkeypatch, storage):
    if 'rosbag2_py' not in bag_readers.available_readers():
        pytest.skip('rosbag2_py is not installed here (ROS 2 not sourced)')
    monkeypatch.setenv(bag_readers.READER_ENV, 'rosbag2_py')
    bag = _kill_recorder(_write(tmp_path / 'bag', storage=storage))
    info, events = read_session(bag)
    assert (bag / 'metadata.yaml').is_file() and info.reader == 'rosbag2_py'
    assert len([e for e in events if isinstance(e, Frame)]) == 4


def test_a_folder_of_other_files_is_not_a_bag_for_either_reader(tmp_path, monkeypatch):
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'readme.txt').write_text('hello')
    for reader in bag_readers.available_readers():
        monkeypatch.setenv(bag_readers.READER_ENV, reader)
        with pytest.raises(SessionBagError, match='metadata.yaml'):
            read_session(tmp_path / 'notes')
