"""The explorer's bag reading: MCAP records as they grow, steps and frames of a session bag."""

import numpy as np
import pytest
from explorer_support import GrowingBag, mcap_file, record_session

from devrobot_core.bags.session_bag import read_session
from devrobot_core.motor import MotorStatus
from devrobot_core.transitions import transitions_from_events
from devrobot_world_model.explorer.bag_index import BagError, BagIndex, image_header
from devrobot_world_model.explorer.mcap_tail import (
    check_complete, MAGIC, McapTail, McapTailError, RECORD_HEADER)
from devrobot_world_model.explorer.sources import resolve


def read_all(bag: BagIndex) -> BagIndex:
    while bag.refresh(max_bytes=2000):  # small slices: many refreshes
        pass
    bag.refresh(max_bytes=None)
    return bag


def test_steps_and_frames_agree_with_the_transition_assembler(tmp_path):
    record_session(tmp_path / 'bag', steps=30, stopped_at=(7,))
    bag = read_all(BagIndex(tmp_path / 'bag'))
    assert bag.complete and not bag.recording and bag.robot_type == 'toroidal_dot'
    assert bag.action_space_source == 'session info' and len(bag.action_space) == 2
    assert len(bag.steps) == 30 and len(bag.frames) == 31 and bag.frame_size == (16, 16)
    _, events = read_session(tmp_path / 'bag')
    expected = list(transitions_from_events(events))
    mine = [s for s in bag.steps if s.transition]
    assert len(mine) == len(expected) == 29
    for step, transition in zip(mine, expected):
        assert bag.frames[step.frame][0] == transition.frame.stamp_ns
        assert bag.frames[step.next_frame][0] == transition.next_frame.stamp_ns
        np.testing.assert_array_equal(bag.pixels(step.next_frame), transition.next_frame.pixels)
    stopped = bag.steps[7]
    assert stopped.outcome.status == MotorStatus.STOPPED and not stopped.transition
    assert stopped.note == 'stopped: stop requested' and stopped.frame is not None


def test_a_growing_recording_is_read_up_to_its_last_whole_record(tmp_path):
    record_session(tmp_path / 'done', steps=80, size=128)  # chunks of 1 MB: about 7 of them
    complete = read_all(BagIndex(tmp_path / 'done'))
    growing = GrowingBag(tmp_path / 'done', tmp_path / 'live')
    bag = BagIndex(growing.folder)
    assert bag.recording and bag.steps == []
    counts = []
    for fraction in np.linspace(0.05, 1.0, 23):  # cuts fall inside records and chunks
        growing.grow(fraction)
        bag.refresh(max_bytes=None)
        counts.append(len(bag.steps))
    assert counts == sorted(counts) and len(set(counts)) > 4 and counts[-1] <= 80
    growing.finish()
    read_all(bag)
    assert bag.complete and not bag.recording
    assert [s.outcome for s in bag.steps] == [s.outcome for s in complete.steps]
    assert [s.transition for s in bag.steps] == [s.transition for s in complete.steps]


def test_mcap_tail_polls_in_slices_and_reads_payloads_back(tmp_path):
    record_session(tmp_path / 'bag', steps=20)
    tail = McapTail(mcap_file(tmp_path / 'bag'))
    refs = []
    while not tail.finished:
        refs += tail.poll(max_bytes=1)
    assert tail.poll() == [] and len(refs) == 1 + 21 + 20 + 20  # info, images, commands, states
    images = [r for r in refs if tail.channels[r.channel].msgtype == 'sensor_msgs/msg/Image']
    stamps = [image_header(tail.read(r, 64))[0] for r in images]
    assert stamps == sorted(stamps) and image_header(tail.read(images[0]))[1:] == (16, 16)


def test_damaged_files_are_refused_with_where_and_why(tmp_path):
    record_session(tmp_path / 'bag', steps=10)
    path = mcap_file(tmp_path / 'bag')
    data = path.read_bytes()
    check_complete(path)  # a whole file passes
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(McapTailError, match='truncated'):
        check_complete(cut)
    garbage = tmp_path / 'garbage.mcap'
    garbage.write_bytes(b'not an mcap file at all')
    with pytest.raises(McapTailError, match='not an MCAP file'):
        McapTail(garbage).poll()
    huge = bytearray(data)
    huge[9:17] = (1 << 40).to_bytes(8, 'little')  # the header record's length field
    damaged = tmp_path / 'damaged.mcap'
    damaged.write_bytes(bytes(huge))
    with pytest.raises(McapTailError, match='damaged'):
        McapTail(damaged).poll()


def test_a_truncated_finished_bag_or_a_folder_without_mcap_is_refused(tmp_path):
    record_session(tmp_path / 'bag', steps=10)
    path = mcap_file(tmp_path / 'bag')
    path.write_bytes(path.read_bytes()[:-100])  # metadata.yaml says it was closed
    with pytest.raises(BagError, match='truncated'):
        BagIndex(tmp_path / 'bag')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'session.db3').write_bytes(b'')
    with pytest.raises(BagError, match='sqlite3'):
        BagIndex(tmp_path / 'empty')


def damage_last_chunk(bag) -> None:
    """Make the last chunk of a bag undecodable (its stated uncompressed size is wrong).

    The last, not the second: the recorder writes its first chunk at once, before a whole step.
    """
    path = mcap_file(bag)
    data = bytearray(path.read_bytes())
    offset, last = len(MAGIC), None
    while offset + RECORD_HEADER.size <= len(data):
        opcode, length = RECORD_HEADER.unpack_from(data, offset)
        if opcode == 0x06:
            last = offset
        if opcode == 0x02:  # the footer
            break
        offset += RECORD_HEADER.size + length
    size_field = last + RECORD_HEADER.size + 16  # after start and end times
    data[size_field:size_field + 8] = (12345).to_bytes(8, 'little')
    path.write_bytes(bytes(data))


def test_damage_inside_a_chunk_keeps_the_steps_before_it(tmp_path):
    record_session(tmp_path / 'bag', steps=80, size=128)
    damage_last_chunk(tmp_path / 'bag')
    bag = BagIndex(tmp_path / 'bag')  # the file's structure is whole
    with pytest.raises(BagError, match='damaged chunk'):
        while not bag.complete:
            bag.refresh(max_bytes=1)
    assert bag.error and 0 < len(bag.steps) < 80
    assert bag.refresh() is False  # it stays stopped at the damage


def test_sources_of_a_run_folder_and_of_bags(tmp_path):
    from devrobot_core.errors import UsageError
    run = tmp_path / 'run'
    record_session(run / 'bags' / 'session_1', steps=3)
    (run / 'checkpoints').mkdir()
    sources = resolve([run])
    assert sources.run_dir == run and sources.bags == [run / 'bags' / 'session_1']
    assert sources.checkpoint == run / 'checkpoints'
    record_session(run / 'bags' / 'session_2', steps=3)
    assert sources.scan() == [run / 'bags' / 'session_2']
    assert resolve([run / 'bags']).bags == sources.bags  # a folder of bags
    both = resolve([run / 'bags' / 'session_1', mcap_file(run / 'bags' / 'session_2')])
    assert len(both.bags) == 2 and both.run_dir is None and both.checkpoint is None
    (tmp_path / 'nothing').mkdir()
    for bad, message in (([tmp_path / 'missing'], 'does not exist'),
                         ([tmp_path / 'nothing'], 'neither a session bag')):
        with pytest.raises(UsageError, match=message):
            resolve(bad)
    with pytest.raises(UsageError, match='no checkpoint'):
        resolve([run], tmp_path / 'missing')
