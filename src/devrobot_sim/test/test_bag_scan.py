"""Damaged bags: flipped bits, cut-off files and counts that disagree with metadata.yaml.

Every read either gives back exactly what was recorded or raises DamagedBagError saying what is
readable; reading the readable part raises only when no session topic is readable at all.
"""

import shutil

import numpy as np
import pytest
from bag_samples import counts, record_bag, sim_robot, split
from rosbags.rosbag2 import Reader, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode, StoragePlugin
from ruamel.yaml import YAML

from devrobot_core import conversions
from devrobot_core.bags.bag_health import check_bag
from devrobot_core.bags.bag_scan import scan_mcap
from devrobot_core.bags.session_bag import DamagedBagError, read_session, SessionBagError
from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_COMMAND_TYPE, MOTOR_STATE_TYPE)


def fingerprint(events) -> list:
    return [(type(e).__name__, e.pixels.tobytes()) if hasattr(e, 'pixels') else e
            for e in events]


def flip(path, offset, bit):
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def offsets_to_flip(size, rng, sampled):
    """The header and the footer whole, and a sample of the rest."""
    ends = set(range(min(48, size))) | set(range(max(0, size - 48), size))
    return sorted(ends | set(rng.choice(size, size=min(sampled, size), replace=False).tolist()))


def partial_counts(bag):
    """(frames, commands, outcomes) of the readable part; zeros when nothing is readable."""
    try:
        return counts(bag, allow_partial=True)
    except DamagedBagError as error:
        assert ' 0 steps readable' in str(error) or ': 0 of ' in str(error), str(error)
        return (0, 0, 0)


def rosbags_count(bag) -> int:
    with Reader(bag) as reader:
        return sum(1 for _ in reader.messages())


def test_every_flipped_bit_reads_whole_or_is_reported(tmp_path):
    bag = record_bag(tmp_path / 'bag', steps=30)
    expected = fingerprint(read_session(bag)[1])
    assert counts(bag) == (31, 30, 30)
    mcap = bag / 'bag.mcap'
    data = mcap.read_bytes()
    outcomes = {'whole': 0, 'damaged': 0}
    for offset in offsets_to_flip(len(data), np.random.default_rng(0), sampled=250):
        mcap.write_bytes(data)
        flip(mcap, offset, offset % 8)
        try:
            events = fingerprint(read_session(bag)[1])
        except DamagedBagError as error:
            outcomes['damaged'] += 1
            assert '\n' not in str(error) and f'run `devrobot repair {bag}`' in str(error)
            frames, commands, outcomes_ = partial_counts(bag)
            assert frames <= 31 and commands <= 30 and outcomes_ <= 30
            continue
        outcomes['whole'] += 1
        assert events == expected, f'byte {offset} flipped: read back different events'
        assert rosbags_count(bag) == 92, f'byte {offset}: ROS tools would not read it whole'
    assert outcomes['damaged'] > 200 and outcomes['whole'] > 10, outcomes


def test_a_message_index_that_points_elsewhere_is_damage(tmp_path):
    # ROS 2's mcap reader follows the message index records after each chunk (they carry no
    # checksum): one wrong offset made it stop after a few messages of a bag read as whole.
    bag = record_bag(tmp_path / 'bag', steps=30)
    mcap = bag / 'bag.mcap'
    chunk = next(c for c in scan_mcap(mcap).chunks if c.index_end > c.end)
    first_offset = chunk.end + 9 + 2 + 4 + 8  # record header, channel id, length, log time
    flip(mcap, first_offset, 3)
    health = check_bag(bag)
    assert not health.ok and 'a message index that does not match its chunk' in health.describe()
    with pytest.raises(DamagedBagError, match='devrobot repair'):
        read_session(bag)
    from devrobot_core.bags.bag_repair import repair_bag
    assert not repair_bag(bag).was_whole
    assert check_bag(bag).ok and counts(bag) == (31, 30, 30)


def crc_less_bag(path, steps=20):
    """A bag as rosbags writes it on its own: zstd chunks without checksums."""
    robot, store = sim_robot(), get_devrobot_typestore()
    classes = conversions.rosbags_message_classes(store)
    writer = Writer(path, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        image = writer.add_connection('/camera/image_raw', IMAGE_TYPE, typestore=store)
        command = writer.add_connection('/motor/command', MOTOR_COMMAND_TYPE, typestore=store)
        state = writer.add_connection('/motor/state', MOTOR_STATE_TYPE, typestore=store)
        frame = robot.read()
        writer.write(image, frame.stamp_ns, store.serialize_cdr(
            conversions.build_image(classes, frame.pixels, frame.stamp_ns), IMAGE_TYPE))
        for step in range(steps):
            sent = robot.action_space[step % 2].stamped(robot.clock.now_ns())
            outcome = robot.send(sent)
            frame = robot.read()
            writer.write(command, sent.stamp_ns, store.serialize_cdr(
                conversions.build_motor_command(classes, sent), MOTOR_COMMAND_TYPE))
            writer.write(state, outcome.end_ns, store.serialize_cdr(
                conversions.build_motor_state(classes, outcome), MOTOR_STATE_TYPE))
            writer.write(image, frame.stamp_ns, store.serialize_cdr(
                conversions.build_image(classes, frame.pixels, frame.stamp_ns), IMAGE_TYPE))
    return path


def test_flipped_bits_in_a_bag_without_checksums_never_end_in_a_traceback(tmp_path):
    bag = crc_less_bag(tmp_path / 'bag')
    mcap = bag / 'bag.mcap'
    data = mcap.read_bytes()
    assert all(chunk.crc == 0 for chunk in scan_mcap(mcap).chunks)
    for offset in offsets_to_flip(len(data), np.random.default_rng(1), sampled=200):
        mcap.write_bytes(data)
        flip(mcap, offset, offset % 8)
        try:  # without checksums a flipped pixel reads back unnoticed; a count cannot
            try:
                read_counts = counts(bag)
            except DamagedBagError:
                partial_counts(bag)  # the readable part reads back, or says why not
                continue
        except SessionBagError as error:  # e.g. a field name flipped in the bag's msgdef
            assert 'recorded with fields' in str(error), str(error)
            continue
        assert read_counts == (21, 20, 20), f'byte {offset}: a count that does not add up'


def test_a_cut_off_file_gives_up_every_whole_message_before_the_cut(tmp_path):
    original = record_bag(tmp_path / 'original', steps=30)
    data = (original / 'original.mcap').read_bytes()
    shutil.copytree(original, tmp_path / 'bag')
    (tmp_path / 'bag' / 'metadata.yaml').unlink()  # as after a power loss while recording
    mcap = tmp_path / 'bag' / 'original.mcap'
    previous = (0, 0, 0)
    for length in range(0, len(data) + 1, max(1, len(data) // 150)):
        mcap.write_bytes(data[:length])
        with pytest.raises(DamagedBagError):
            read_session(tmp_path / 'bag')
        now = partial_counts(tmp_path / 'bag')
        assert all(n >= p for n, p in zip(now, previous)) and now[0] <= now[1] + 1
        previous = now
    assert previous[1] >= 29


def test_counts_that_disagree_with_metadata_yaml_are_damage(tmp_path):
    bag = record_bag(tmp_path / 'bag', steps=30)
    yaml, metadata = YAML(typ='safe'), bag / 'metadata.yaml'
    content = yaml.load(metadata.read_text())
    topics = content['rosbag2_bagfile_information']['topics_with_message_count']
    [commands] = [t for t in topics if t['topic_metadata']['name'] == '/motor/command']
    commands['message_count'] = 31
    with open(metadata, 'w') as stream:
        yaml.dump(content, stream)
    with pytest.raises(DamagedBagError) as raised:
        read_session(bag)
    assert 'metadata.yaml lists 31 messages, 30 read back' in str(raised.value)
    assert counts(bag, allow_partial=True) == (31, 30, 30)


@pytest.mark.parametrize('damage', ['garbage', 'empty', 'wrong kind'])
def test_an_unreadable_metadata_yaml_is_damage(tmp_path, damage):
    bag = record_bag(tmp_path / 'bag', steps=5)
    text = {'garbage': '{[: not yaml', 'empty': '',
            'wrong kind': 'rosbag2_bagfile_information: 7\n'}[damage]
    (bag / 'metadata.yaml').write_text(text)
    with pytest.raises(DamagedBagError, match='metadata.yaml is unreadable'):
        read_session(bag)
    info, events = read_session(bag, allow_partial=True)
    assert info.robot_type == 'toroidal_dot' and len(split(events)[1]) == 5
