"""The launch blocks through the launch double: checks, recording plans, rviz, the drivers."""

import os

import pytest

from devrobot_bringup import launch_blocks, recording
from devrobot_bringup.launch_helpers import bag_record_cmd


@pytest.fixture
def double(monkeypatch):
    import launch_double
    launch_double.install(monkeypatch)
    return launch_double


def test_a_missing_params_file_stops_the_launch_with_one_line(double, tmp_path):
    check = launch_blocks.check_arguments()
    with pytest.raises(RuntimeError) as error:
        check.function({'params_file': str(tmp_path / 'typo.yaml')})
    assert str(error.value) == f'params_file:={tmp_path / "typo.yaml"}: no such file'
    (tmp_path / 'p.yaml').write_text('{}')
    assert check.function({'params_file': str(tmp_path / 'p.yaml')}) == []


@pytest.mark.parametrize('value', ['-1', 'nan', 'lots', 'inf'])
def test_a_bad_number_stops_the_launch(double, value):
    check = launch_blocks.check_arguments(files=(), numbers={'rate': None})
    with pytest.raises(RuntimeError, match=f'rate:={value}: expected a number >= 0'):
        check.function({'rate': value})


def test_numbers_fall_back_to_their_defaults_and_an_empty_bag_is_allowed(double, tmp_path):
    check = launch_blocks.check_arguments(files=(), folders=('bag',),
                                          numbers=launch_blocks.recording_numbers())
    assert check.function({'bag': ''}) == []
    with pytest.raises(RuntimeError, match='no such folder'):
        check.function({'bag': str(tmp_path / 'none')})


def test_host_without_the_rpyc_backend_is_refused(double):
    check = launch_blocks.check_backend_host()
    with pytest.raises(RuntimeError, match='add backend:=rpyc'):
        check.function({'host': '192.168.1.42', 'backend': 'onboard'})
    assert check.function({'host': '192.168.1.42', 'backend': 'rpyc'}) == []
    assert check.function({'host': '', 'backend': 'onboard'}) == []


def test_a_default_recording_goes_under_the_robots_sessions_with_disk_checks(
        double, tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    started = launch_blocks.record_session('jetbot').function(
        {'bag_dir': '', 'max_bag_size_mb': '8', 'recording_max_disk_gb': '5'})
    record, checks = started
    output = record.kwargs['cmd'][record.kwargs['cmd'].index('-o') + 1]
    assert os.path.dirname(output) == str(tmp_path / '.devrobot/saved/sessions/jetbot')
    # stopped a moment after the nodes, so their last states get recorded
    assert record.kwargs['cmd'] == launch_blocks.recorder_cmd(bag_record_cmd(output, 8.0))
    assert record.kwargs['cmd'][1:3] == ['-m', 'devrobot_bringup.session_recorder']
    assert float(record.kwargs['sigterm_timeout']) > launch_blocks.RECORDER_GRACE_S
    again, = checks.function({})  # checks now, then schedules the next check
    assert isinstance(again, double.TimerAction)
    assert again.period == recording.CHECK_INTERVAL_S


def test_the_world_model_and_the_drivers_end_the_launch_when_they_end(double):
    world_model = launch_blocks.world_model_node('p.yaml')
    assert world_model.kwargs['on_exit'].reason == 'world_model ended'
    assert float(world_model.kwargs['sigterm_timeout']) >= 30
    driver = launch_blocks.jetbot_driver('p.yaml', 'h', 'rpyc')
    assert isinstance(driver.kwargs['on_exit'], double.Shutdown)


def test_rviz_where_it_is_absent_is_a_warning(double, monkeypatch):
    monkeypatch.setattr(launch_blocks, 'package_installed', lambda name: False)
    assert launch_blocks.rviz().function({}) == []
    assert any('rviz2 is not installed' in text for level, text in double.LOGS)
    monkeypatch.setattr(launch_blocks, 'package_installed', lambda name: True)
    node, = launch_blocks.rviz().function({})
    assert node.executable == 'rviz2'
