"""Where record:=true sessions go and the disk budget they obey."""

import os
import time
from collections import namedtuple

import pytest

from devrobot_bringup import recording

GB = 1024 ** 3


def _bag(folder, size_bytes, age_s):
    folder.mkdir(parents=True)
    (folder / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    with open(folder / 'data_0.mcap', 'wb') as stream:
        stream.truncate(size_bytes)  # sparse: counts its size, takes no disk
    stamp = time.time() - age_s
    for path in (folder / 'metadata.yaml', folder / 'data_0.mcap', folder):
        os.utime(path, (stamp, stamp))
    return folder


def test_a_session_without_bag_dir_goes_under_its_robot(tmp_path):
    plan = recording.plan_recording('', 'sim', sessions_root=str(tmp_path), now_s=0)
    assert plan.output.parent == tmp_path / 'sim' and plan.output.parent.is_dir()
    assert plan.output.name.startswith('session_') and not plan.output.exists()
    plan.output.mkdir()  # the recorder made it: the next session gets another name
    second = recording.plan_recording('', 'sim', sessions_root=str(tmp_path), now_s=0)
    assert second.output != plan.output and second.output.name.endswith('_2')


def test_the_oldest_sessions_go_first_and_never_the_current_one(tmp_path):
    sessions = tmp_path / 'jetbot'
    oldest = _bag(sessions / 'session_1', 3 * GB, 3000)
    older = _bag(sessions / 'session_2', 3 * GB, 2000)
    recent = _bag(sessions / 'session_3', 3 * GB, 1000)
    plan = recording.plan_recording('', 'jetbot', max_disk_gb=7, sessions_root=str(tmp_path))
    messages = plan.check()
    assert not oldest.exists() and older.exists() and recent.exists()
    assert any('deleted old session' in m and 'session_1' in m for m in messages)
    _bag(plan.output, 5 * GB, 3000)  # the session being recorded grows past the budget
    plan.check()
    assert plan.output.exists() and not older.exists() and not recent.exists()


def test_a_session_in_a_folder_the_user_names_deletes_nothing(tmp_path):
    theirs = _bag(tmp_path / 'mine' / 'old', 30 * GB, 9000)
    plan = recording.plan_recording(str(tmp_path / 'mine' / 'new'), 'sim', max_disk_gb=1)
    assert plan.budget is None
    plan.check()
    assert theirs.exists()


def test_a_disk_running_low_is_said_clearly(tmp_path, monkeypatch):
    usage = namedtuple('usage', 'total used free')
    monkeypatch.setattr(recording.shutil, 'disk_usage', lambda path: usage(0, 0, GB // 4))
    plan = recording.plan_recording('', 'sim', max_bag_size_mb=1024,
                                    sessions_root=str(tmp_path))
    message, = plan.check()
    assert message.startswith('only 0.25 GB free on the disk of') and 'recording stops' in message


@pytest.mark.parametrize('robot, budget', [('', 1.0), ('../x', 1.0), ('sim', -1.0)])
def test_bad_values_are_refused(tmp_path, robot, budget):
    with pytest.raises(ValueError):
        recording.plan_recording('', robot, max_disk_gb=budget, sessions_root=str(tmp_path))
