"""Disk budget for session bags: oldest first, never the current one, never anything else."""

import os
import time

import pytest

from devrobot_core.bags import session_storage
from devrobot_core.bags.session_bag import read_session, SessionBagWriter
from devrobot_core.bags.session_storage import (
    BYTES_PER_GB, DiskBudget, enforce_disk_budget, folder_size_bytes, is_session_bag,
    session_bags_oldest_first, SessionStorageConfig, SessionStorageError)
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig

HOUR_S = 3600.0
NOW_S = time.time()  # bag ages are set relative to it


def fake_bag(folder, name, size_bytes, age_s, kind='mcap'):
    """A bag folder of `size_bytes`, last written `age_s` before NOW_S."""
    bag = folder / name
    bag.mkdir(parents=True)
    data = bag / (f'{name}_0.{kind}' if kind in ('mcap', 'db3') else kind)
    data.write_bytes(b'x' * size_bytes)
    if kind in ('mcap', 'db3'):
        (bag / 'metadata.yaml').write_text('rosbag2_bagfile_information: {}\n')
    for path in [*bag.iterdir(), bag]:
        os.utime(path, (NOW_S - age_s, NOW_S - age_s))
    return bag


def names(paths):
    return [p.name for p in paths]


def test_deletes_oldest_until_the_bags_fit(tmp_path):
    for name, age in [('b', 3), ('a', 1), ('c', 2), ('d', 0.5)]:
        fake_bag(tmp_path, name, 100, age * HOUR_S)
    assert names(session_bags_oldest_first(tmp_path)) == ['b', 'c', 'a', 'd']
    bag_bytes = folder_size_bytes(tmp_path / 'a')
    deleted = enforce_disk_budget(tmp_path, 2 * bag_bytes + 1, now_s=NOW_S)
    assert names(deleted) == ['b', 'c']
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a', 'd']


def test_nothing_deleted_within_budget(tmp_path):
    fake_bag(tmp_path, 'a', 100, HOUR_S)
    assert enforce_disk_budget(tmp_path, 200, now_s=NOW_S) == []
    assert enforce_disk_budget(tmp_path / 'missing', 0, now_s=NOW_S) == []


def test_never_deletes_the_current_session(tmp_path):
    current = fake_bag(tmp_path, 'a_current', 300, 5 * HOUR_S)
    fake_bag(tmp_path, 'b', 100, 2 * HOUR_S)
    fake_bag(tmp_path, 'c', 100, HOUR_S)
    deleted = enforce_disk_budget(tmp_path, 350, keep=current, now_s=NOW_S)
    assert names(deleted) == ['b', 'c'] and current.is_dir()
    # the current session alone is over budget: it stays, and so does nothing else
    assert enforce_disk_budget(tmp_path, 10, keep=[str(current)], now_s=NOW_S) == []
    assert current.is_dir()


def test_never_deletes_what_is_not_a_bag_folder(tmp_path):
    (tmp_path / 'notes.txt').write_bytes(b'n' * 1000)
    fake_bag(tmp_path, 'photos', 1000, 9 * HOUR_S, kind='holiday.jpg')
    mixed = fake_bag(tmp_path, 'mixed', 1000, 9 * HOUR_S)
    (mixed / 'inner').mkdir()  # a bag folder with a subfolder: someone keeps more there
    target = fake_bag(tmp_path / 'elsewhere', 'real', 1000, 9 * HOUR_S)
    (tmp_path / 'link').symlink_to(target, target_is_directory=True)
    old = fake_bag(tmp_path, 'old', 1000, 8 * HOUR_S, kind='db3')
    assert not is_session_bag(tmp_path / 'photos') and not is_session_bag(mixed)
    assert not is_session_bag(tmp_path / 'link') and is_session_bag(old)
    assert names(enforce_disk_budget(tmp_path, 0, now_s=NOW_S)) == ['old']
    assert (tmp_path / 'notes.txt').exists() and (tmp_path / 'photos').is_dir()
    assert mixed.is_dir() and target.is_dir() and (tmp_path / 'link').is_symlink()


def test_an_unfinished_bag_counts_as_a_bag(tmp_path):
    bag = fake_bag(tmp_path, 'killed', 100, 2 * HOUR_S)
    (bag / 'metadata.yaml').unlink()  # killed before it closed
    os.utime(bag, (NOW_S - HOUR_S, NOW_S - HOUR_S))
    assert is_session_bag(bag)
    assert names(enforce_disk_budget(tmp_path, 0, now_s=NOW_S)) == ['killed']


def test_recently_written_bags_are_left_alone(tmp_path):
    fake_bag(tmp_path, 'busy', 100, 10)
    fake_bag(tmp_path, 'old', 100, HOUR_S)
    assert names(enforce_disk_budget(tmp_path, 0, min_age_s=60, now_s=NOW_S)) == ['old']
    assert names(enforce_disk_budget(tmp_path, 0, min_age_s=0, now_s=NOW_S)) == ['busy']


def test_negative_budget_is_rejected(tmp_path):
    with pytest.raises(ValueError, match='cannot be negative'):
        enforce_disk_budget(tmp_path, -1)
    with pytest.raises(ValueError, match='cannot be negative'):
        DiskBudget.from_config(SessionStorageConfig(recording_max_disk_gb=-1.0), tmp_path)


def test_a_bag_that_cannot_be_deleted_is_a_clear_error(tmp_path, monkeypatch):
    fake_bag(tmp_path / 'bags', 'first', 100, 3 * HOUR_S)
    fake_bag(tmp_path / 'bags', 'stuck', 100, 2 * HOUR_S)
    real_rmtree = session_storage.shutil.rmtree

    def rmtree(path):
        if path.name == 'stuck':
            raise PermissionError(13, 'Permission denied')
        real_rmtree(path)
    monkeypatch.setattr(session_storage.shutil, 'rmtree', rmtree)
    with pytest.raises(SessionStorageError, match=r'cannot delete old session .*stuck: '
                                                  r'Permission denied \(deleted before it: '
                                                  r'.*first\)'):
        enforce_disk_budget(tmp_path / 'bags', 0, now_s=NOW_S)
    assert not (tmp_path / 'bags' / 'first').exists()
    reports = []
    budget = DiskBudget(tmp_path / 'bags', 0, min_age_s=0, report=reports.append)
    assert budget.check() == [] and 'stuck' in reports[0]  # the session goes on


class FakeClock:
    def __init__(self):
        self.now_s = 0.0

    def __call__(self):
        return self.now_s


def test_periodic_checks_during_a_session(tmp_path):
    clock, reports = FakeClock(), []
    budget = DiskBudget(tmp_path, 150, interval_s=30.0, min_age_s=0, clock=clock,
                        report=reports.append)
    fake_bag(tmp_path, 'a', 100, 2 * HOUR_S)
    fake_bag(tmp_path, 'b', 100, HOUR_S)
    assert names(budget.check()) == ['a']  # the first check runs at once
    fake_bag(tmp_path, 'c', 100, 0)
    clock.now_s = 29.0
    assert budget.check() == []  # not due yet
    clock.now_s = 30.0
    assert names(budget.check()) == ['b']
    assert names(budget.deleted) == ['a', 'b'] and len(reports) == 2
    assert 'deleted old session' in reports[0]


def test_budget_from_config():
    assert DiskBudget.from_config(SessionStorageConfig(recording_max_disk_gb=0.0), 'x') is None
    budget = DiskBudget.from_config(SessionStorageConfig(2.5, 10.0), 'x', keep='x/now')
    assert budget.max_bytes == int(2.5 * BYTES_PER_GB) and budget.interval_s == 10.0
    assert budget.keep == 'x/now'


def test_real_session_bags_while_one_is_recorded(tmp_path):
    robot = SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2))
    for name in ('session_1', 'session_2'):
        with SessionBagWriter(tmp_path / name, robot.robot_type, robot.action_space) as bag:
            bag.write_frame(robot.read())
    old_s = NOW_S - 2 * HOUR_S
    for name in ('session_1', 'session_2'):
        for path in [*(tmp_path / name).iterdir(), tmp_path / name]:
            os.utime(path, (old_s, old_s))
    with SessionBagWriter(tmp_path / 'session_3', robot.robot_type,
                          robot.action_space) as current:
        current.write_frame(robot.read())
        budget = folder_size_bytes(tmp_path / 'session_2') + folder_size_bytes(
            tmp_path / 'session_3')
        deleted = enforce_disk_budget(tmp_path, budget, keep=tmp_path / 'session_3',
                                      min_age_s=0, now_s=NOW_S)
        assert names(deleted) == ['session_1']
        current.write_frame(robot.read())
    assert read_session(tmp_path / 'session_2')[0].robot_type == robot.robot_type
    assert read_session(tmp_path / 'session_3')[0].message_counts['/camera/image_raw'] == 2
