"""The session writer's way to the disk: small synced chunks with CRCs.

On a time and a size budget, on a full disk, and with signals while it closes.
"""

import os
import signal
import time

import pytest
from bag_samples import counts, FullDisk, kill, open_writer, sim_robot, write_steps
from rosbags.rosbag2 import Reader

from devrobot_core import durable_files
from devrobot_core.bags.bag_repair import repair_bag
from devrobot_core.bags.bag_scan import scan_mcap
from devrobot_core.bags.session_bag import read_session, SessionBagError

COMMAND_CHANNEL, STATE_CHANNEL, IMAGE_CHANNEL = 3, 4, 2  # in the order the writer adds them
REAL_WRITE_ALL = durable_files.write_all


def on_disk(path):
    """Commands a scan of the bag's file finds right now (the writer may still be open)."""
    return scan_mcap(path / f'{path.name}.mcap').counts.get(COMMAND_CHANNEL, 0)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_steps_reach_the_disk_on_the_time_budget(tmp_path):
    robot, clock = sim_robot(), FakeClock()
    writer = open_writer(tmp_path / 'bag', robot, flush_interval_s=1.0,
                         flush_in_background=False, clock=clock)
    writer.write_frame(robot.read())
    assert scan_mcap(tmp_path / 'bag' / 'bag.mcap').counts == {1: 1, IMAGE_CHANNEL: 1}
    lags = []
    for step in range(20):
        clock.now += 0.25
        write_steps(writer, robot, 1, first_frame=False)
        assert on_disk(tmp_path / 'bag') == writer.steps_on_disk
        lags.append(writer.steps_written - writer.steps_on_disk)
    assert max(lags) == 4 and lags.count(0) == 4  # the fifth step is 1 s after the first
    writer.close()
    assert counts(tmp_path / 'bag') == (21, 20, 20)


def test_steps_reach_the_disk_on_the_size_budget_in_whole_steps(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=2000, flush_in_background=False)
    writer.write_frame(robot.read())
    for _ in range(15):
        write_steps(writer, robot, 1, first_frame=False)
        assert writer._writer.storage.pending_bytes < 2000  # all a recording holds in memory
        assert on_disk(tmp_path / 'bag') == writer.steps_on_disk >= writer.steps_written - 2
    writer.close()
    chunks = scan_mcap(tmp_path / 'bag' / 'bag.mcap').chunks
    assert len(chunks) > 5 and all(chunk.crc for chunk in chunks)
    for chunk in chunks[1:]:  # after the first frame's: whole steps only
        assert chunk.counts[COMMAND_CHANNEL] == chunk.counts[STATE_CHANNEL] == \
            chunk.counts[IMAGE_CHANNEL]


def test_a_thread_keeps_to_the_time_budget_while_no_step_is_written(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_interval_s=0.05)
    write_steps(writer, robot, 1)
    deadline = time.monotonic() + 5
    while writer.steps_on_disk < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert on_disk(tmp_path / 'bag') == 1
    kill(writer)
    assert counts(tmp_path / 'bag', allow_partial=True) == (2, 1, 1)


def test_rosbags_itself_checks_the_chunk_crcs(tmp_path):
    robot = sim_robot()
    with open_writer(tmp_path / 'bag', robot, flush_bytes=2000) as writer:
        write_steps(writer, robot, 10)
    mcap = tmp_path / 'bag' / 'bag.mcap'
    chunk = scan_mcap(mcap).chunks[3]
    data = bytearray(mcap.read_bytes())
    data[chunk.end - 1] ^= 0x10  # the last compressed byte of a chunk
    mcap.write_bytes(bytes(data))
    with Reader(tmp_path / 'bag') as reader, pytest.raises(Exception):
        list(reader.messages())


def fill_the_disk(tmp_path, monkeypatch, room):
    """Record until the disk is full; the writer and the one-line error."""
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=2000, flush_in_background=False)
    write_steps(writer, robot, 3)
    disk = FullDisk(room)
    monkeypatch.setattr(durable_files, 'write_all', disk)
    with pytest.raises(SessionBagError) as raised:
        write_steps(writer, robot, 1000, first_frame=False)
    return writer, disk, str(raised.value)


def test_a_full_disk_stops_the_recording_and_close_keeps_what_was_written(tmp_path,
                                                                          monkeypatch):
    writer, disk, message = fill_the_disk(tmp_path, monkeypatch, room=9000)
    kept = writer.steps_on_disk
    assert 3 < kept < 1000
    assert message == (f'cannot write to bag {tmp_path / "bag"} (the disk is full): recording '
                       f'stopped; the bag keeps its first {kept} steps')
    with pytest.raises(SessionBagError, match='the disk is full'):
        write_steps(writer, robot=sim_robot(), steps=1, first_frame=False)
    disk.room = 1 << 20  # the failed chunk was cut off again: room for the index now
    writer.close()
    assert counts(tmp_path / 'bag') == (kept + 1, kept, kept)


def test_a_disk_still_full_at_close_leaves_a_bag_that_repair_restores(tmp_path, monkeypatch):
    writer, disk, _ = fill_the_disk(tmp_path, monkeypatch, room=9000)
    kept = writer.steps_on_disk
    with pytest.raises(SessionBagError) as raised:
        writer.close()
    assert f'it keeps its first {kept} steps' in str(raised.value)
    assert f'then run `devrobot repair {tmp_path / "bag"}`' in str(raised.value)
    mcap = tmp_path / 'bag' / 'bag.mcap'
    assert scan_mcap(mcap).counts[COMMAND_CHANNEL] == kept  # no half chunk at its end
    assert not (tmp_path / 'bag' / 'metadata.yaml').exists()
    monkeypatch.setattr(durable_files, 'write_all', REAL_WRITE_ALL)  # room again
    repair_bag(tmp_path / 'bag')
    assert counts(tmp_path / 'bag') == (kept + 1, kept, kept)


def interrupt_while_closing(writer, signum):
    storage = writer._writer.storage
    real_close = storage.close

    def close(version, metadata):
        os.kill(os.getpid(), signum)  # arrives while the last chunk and the index are written
        real_close(version, metadata)
    storage.close = close


def test_a_second_ctrl_c_while_closing_waits_until_the_bag_is_whole(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot)
    write_steps(writer, robot, 5)
    interrupt_while_closing(writer, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        writer.close()
    assert counts(tmp_path / 'bag') == (6, 5, 5)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_while_closing_is_delivered_after_the_bag_is_whole(tmp_path):
    robot, seen = sim_robot(), []
    writer = open_writer(tmp_path / 'bag', robot)
    write_steps(writer, robot, 5)
    interrupt_while_closing(writer, signal.SIGTERM)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(
        (tmp_path / 'bag' / 'metadata.yaml').exists()))
    try:
        writer.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [True]
    assert counts(tmp_path / 'bag') == (6, 5, 5)


@pytest.mark.parametrize('field,value', [('bag_flush_interval_s', 0.0),
                                         ('bag_flush_interval_s', float('nan')),
                                         ('bag_flush_interval_s', float('inf')),
                                         ('bag_flush_bytes', 0)])
def test_a_bad_flush_budget_is_one_clear_error(tmp_path, field, value):
    kwargs = {'flush_interval_s': value} if field == 'bag_flush_interval_s' else \
        {'flush_bytes': value}
    with pytest.raises(SessionBagError, match=field):
        open_writer(tmp_path / 'bag', sim_robot(), **kwargs)
    assert not (tmp_path / 'bag').exists()


def test_an_unclosed_bag_is_refused_with_what_it_holds(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=1)
    write_steps(writer, robot, 7)
    kill(writer)
    with pytest.raises(SessionBagError) as raised:
        read_session(tmp_path / 'bag')
    assert str(raised.value) == (
        f'bag {tmp_path / "bag"} is damaged (it was not closed: the recording stopped before '
        'it finished the bag): 7 steps readable up to its last flush; run `devrobot repair '
        f'{tmp_path / "bag"}`, or pass --allow-partial to use the readable part')
    info, events = read_session(tmp_path / 'bag', allow_partial=True)
    assert info.robot_type == robot.robot_type and 'not closed' in info.damage
    assert counts(tmp_path / 'bag', allow_partial=True) == (8, 7, 7)
