"""`devrobot repair`: killed, cut-off and damaged bags made readable again.

Every whole message is kept; whole bags, bags still recording and non-bags are left alone.
"""

import argparse
import errno

import pytest
from bag_samples import (
    counts, FullDisk, kill, open_writer, record_bag, sim_robot, write_steps)
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import get_typestore, Stores
from test_bag_scan import fingerprint, flip

from devrobot_core import durable_files
from devrobot_core.bags import repair_command
from devrobot_core.bags.bag_repair import repair_bag, RepairError
from devrobot_core.bags.bag_scan import scan_mcap
from devrobot_core.bags.session_bag import DamagedBagError, read_session
from devrobot_core.errors import FatalError, UsageError


def partial_events(bag):
    return fingerprint(read_session(bag, allow_partial=True)[1])


def check_readers_agree(bag, messages):
    """Check that rosbags and Foxglove's mcap reader (where installed) read the bag whole."""
    with Reader(bag) as reader:
        assert sum(1 for _ in reader.messages()) == messages
    mcap_reader = pytest.importorskip('mcap.reader')
    with open(next(bag.glob('*.mcap')), 'rb') as stream:
        assert sum(1 for _ in mcap_reader.make_reader(stream).iter_messages()) == messages


def test_a_killed_recording_is_repaired_up_to_its_last_flush(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=3000, flush_in_background=False)
    write_steps(writer, robot, 20)
    kept = writer.steps_on_disk
    assert 15 <= kept < 20  # the last few steps were still in memory
    kill(writer)
    before = partial_events(tmp_path / 'bag')
    report = repair_bag(tmp_path / 'bag')
    assert report.line() == (f'repaired bag {tmp_path / "bag"}: {kept} steps (up to its last '
                             f'flush) and {3 * kept + 2} messages read back')
    info, events = read_session(tmp_path / 'bag')
    assert fingerprint(events) == before and info.robot_type == robot.robot_type
    assert info.config == {'test': True} and len(info.action_space) == 2
    check_readers_agree(tmp_path / 'bag', 3 * kept + 2)
    again = repair_bag(tmp_path / 'bag')
    assert again.was_whole and 'nothing to repair' in again.line()
    assert sorted(p.name for p in (tmp_path / 'bag').iterdir()) == ['bag.mcap', 'metadata.yaml']


@pytest.mark.parametrize('fraction', [0.3, 0.55, 0.8, 0.97])
def test_a_file_cut_anywhere_keeps_every_whole_message_before_the_cut(tmp_path, fraction):
    bag = record_bag(tmp_path / 'bag', steps=30)
    mcap = bag / 'bag.mcap'
    data = mcap.read_bytes()
    mcap.write_bytes(data[:int(len(data) * fraction)])  # a power loss, or a torn write
    (bag / 'metadata.yaml').unlink()
    before, (_, commands, _) = partial_events(bag), counts(bag, allow_partial=True)
    report = repair_bag(bag)
    assert fingerprint(read_session(bag)[1]) == before
    assert report.steps == commands > 0 and report.original_kept is None


def test_a_cut_in_the_middle_of_a_chunk_salvages_its_whole_messages(tmp_path):
    bag = record_bag(tmp_path / 'bag', steps=30, image_size=128, flush_bytes=1 << 30)
    mcap = bag / 'bag.mcap'
    [_first, chunk] = scan_mcap(mcap).chunks  # one chunk of many zstd blocks
    mcap.write_bytes(mcap.read_bytes()[:chunk.end - 200])
    (bag / 'metadata.yaml').unlink()
    frames, commands, outcomes = counts(bag, allow_partial=True)
    assert 20 < commands < 30
    repair_bag(bag)
    assert counts(bag) == (frames, commands, outcomes)


def test_a_damaged_chunk_is_dropped_the_rest_kept_and_the_original_too(tmp_path):
    bag = record_bag(tmp_path / 'bag', steps=30)
    mcap = bag / 'bag.mcap'
    original = mcap.read_bytes()
    chunk = scan_mcap(mcap).chunks[5]
    flip(mcap, chunk.end - 3, 2)
    damaged = mcap.read_bytes()
    with pytest.raises(DamagedBagError, match='a chunk (fails its checksum|does not decomp)'):
        read_session(bag)
    before = partial_events(bag)
    report = repair_bag(bag)
    assert 'damaged chunk dropped; the damaged original is kept as bag.mcap.damaged' in \
        report.line()
    assert report.expected_steps == 30 and report.steps == 28  # two steps per chunk
    assert fingerprint(read_session(bag)[1]) == before
    assert (bag / 'bag.mcap.damaged').read_bytes() == damaged != original
    check_readers_agree(bag, 3 * 28 + 2)


def test_a_bag_still_being_recorded_is_refused(tmp_path):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=1)
    write_steps(writer, robot, 3)
    with pytest.raises(RepairError, match='still being recorded'):
        repair_bag(tmp_path / 'bag')
    writer.close()
    assert counts(tmp_path / 'bag') == (4, 3, 3)


def test_a_full_disk_during_a_repair_leaves_the_bag_as_it_was(tmp_path, monkeypatch):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=1)
    write_steps(writer, robot, 5)
    kill(writer)
    data = (tmp_path / 'bag' / 'bag.mcap').read_bytes()
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(100))
    with pytest.raises(OSError) as raised:
        repair_bag(tmp_path / 'bag')
    assert raised.value.errno == errno.ENOSPC
    assert sorted(p.name for p in (tmp_path / 'bag').iterdir()) == ['bag.mcap']
    assert (tmp_path / 'bag' / 'bag.mcap').read_bytes() == data


def test_what_is_not_a_repairable_bag_is_one_clear_error(tmp_path):
    with pytest.raises(RepairError, match='no bag folder'):
        repair_bag(tmp_path / 'nothing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(RepairError, match='holds no .mcap file'):
        repair_bag(tmp_path / 'empty')
    store = get_typestore(Stores.ROS2_JAZZY)
    with Writer(tmp_path / 'sqlite', version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
    with pytest.raises(RepairError, match='sqlite3'):
        repair_bag(tmp_path / 'sqlite')
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'junk.mcap').write_bytes(b'\x89MCAP0\r\n' + bytes(500))
    with pytest.raises(RepairError, match='nothing in .* can be read back'):
        repair_bag(tmp_path / 'junk')


def test_the_command_prints_one_line_per_bag_and_turns_errors_into_one_line(tmp_path, capsys):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'killed', robot, flush_bytes=1)
    write_steps(writer, robot, 4)
    kill(writer)
    record_bag(tmp_path / 'whole', steps=2)
    args = argparse.Namespace(bags=[str(tmp_path / 'killed'), str(tmp_path / 'whole')])
    assert repair_command.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f'repaired bag {tmp_path / "killed"}: 4 steps')
    assert lines[1].startswith(f'bag {tmp_path / "whole"} is whole (2 steps')
    with pytest.raises(UsageError, match='no bag folder'):
        repair_command.main(argparse.Namespace(bags=[str(tmp_path / 'nothing')]))


def test_the_command_says_when_the_disk_is_full(tmp_path, monkeypatch):
    robot = sim_robot()
    writer = open_writer(tmp_path / 'bag', robot, flush_bytes=1)
    write_steps(writer, robot, 4)
    kill(writer)
    monkeypatch.setattr(durable_files, 'write_all', FullDisk(0))
    with pytest.raises(FatalError, match='No space left on device'):
        repair_command.main(argparse.Namespace(bags=[str(tmp_path / 'bag')]))
