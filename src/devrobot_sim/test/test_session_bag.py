"""Session bags: round trips through rosbags and Foxglove's mcap reader, sqlite3, damage."""

import json
import os
import signal

import numpy as np
import pytest
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import get_typestore, Stores
from ruamel.yaml import YAML

from devrobot_core import conversions
from devrobot_core.bags import session_bag
from devrobot_core.bags.session_bag import read_session, SessionBagError, SessionBagWriter
from devrobot_core.motor import Frame, MotorCommand, MotorOutcome
from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_COMMAND_TYPE, MOTOR_STATE_TYPE)
from devrobot_core.transitions import transitions_from_events
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig

# every test once per bag reader (conftest.py)
pytestmark = pytest.mark.usefixtures('bag_reader')

CONFIG = {'seed': 3, 'move_pixels': 27}


def record(path, steps, storage='mcap', robot=None):
    """Run the simulator for `steps` alternating stay/move steps into a bag; return what ran."""
    robot = robot or SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2, seed=3))
    frames, commands, outcomes = [robot.read()], [], []
    with SessionBagWriter(path, robot.robot_type, robot.action_space, CONFIG,
                          storage=storage) as writer:
        writer.write_frame(frames[0])
        for step in range(steps):
            command = robot.action_space[step % 2].stamped(robot.clock.now_ns())
            outcome = robot.send(command)
            frames.append(robot.read())
            writer.write_step(command, outcome, frames[-1])
            commands.append(command)
            outcomes.append(outcome)
    return robot, frames, commands, outcomes


def split(events):
    events = list(events)
    return ([e for e in events if isinstance(e, Frame)],
            [e for e in events if isinstance(e, MotorCommand)],
            [e for e in events if isinstance(e, MotorOutcome)])


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_round_trip(tmp_path, storage):
    robot, frames, commands, outcomes = record(tmp_path / 'bag', 6, storage)
    info, events = read_session(tmp_path / 'bag')
    assert info.robot_type == 'toroidal_dot' and info.has_session_info
    assert info.action_space == robot.action_space
    assert info.config == CONFIG
    assert info.message_counts == {'/session/info': 1, '/camera/image_raw': 7,
                                   '/motor/command': 6, '/motor/state': 6}
    events = list(events)
    stamps = [getattr(e, 'stamp_ns', None) or e.end_ns for e in events]
    assert stamps == sorted(stamps)
    read_frames, read_commands, read_outcomes = split(events)
    assert read_commands == commands and read_outcomes == outcomes
    assert [f.stamp_ns for f in read_frames] == [f.stamp_ns for f in frames]
    for read, written in zip(read_frames, frames):
        np.testing.assert_array_equal(read.pixels, written.pixels)


def test_a_whole_mcap_bag_rosbag2_py_cannot_open_is_read_with_the_checked_scan(
        tmp_path, monkeypatch):
    # Jazzy's mcap plugin refuses some bags whose chunks and messages all check out ("No
    # storage could be initialized"); reading them must not depend on it.
    from devrobot_core.bags import bag_readers
    _robot, frames, commands, outcomes = record(tmp_path / 'bag', 6)

    def refuse(path, reader=None):
        raise bag_readers.BagReadError(f'cannot read bag {path}: No storage could be '
                                       'initialized. Abort')
    monkeypatch.setattr(bag_readers, 'choose_reader', lambda requested=None: 'rosbag2_py')
    monkeypatch.setattr(bag_readers, 'open_bag', refuse)
    info, events = read_session(tmp_path / 'bag')
    assert info.reader == 'bag_scan' and info.damage == ''
    read_frames, read_commands, read_outcomes = split(events)
    assert read_commands == commands and read_outcomes == outcomes
    assert len(read_frames) == len(frames)


def test_allow_partial_skips_a_message_that_does_not_decode_whatever_the_reader(
        tmp_path, monkeypatch):
    from devrobot_core.bags import bag_readers
    store = get_devrobot_typestore()
    classes = conversions.rosbags_message_classes(store)
    writer = Writer(tmp_path / 'bag', version=8, storage_plugin=StoragePlugin.MCAP)
    with writer:  # no chunk checksums: the bag checks out whole, one message does not decode
        image = writer.add_connection('/camera/image_raw', IMAGE_TYPE, typestore=store)
        for stamp_ns in (1, 2, 3):
            writer.write(image, stamp_ns, store.serialize_cdr(conversions.build_image(
                classes, np.zeros((4, 4, 3), np.uint8), stamp_ns), IMAGE_TYPE))
        writer.write(image, 4, b'\x00\x01\x00\x00\xff\xff\xff\x7f')
    monkeypatch.setattr(bag_readers, 'choose_reader', lambda requested=None: 'rosbag2_py')
    monkeypatch.setattr(bag_readers, 'open_bag',  # rosbags standing in for rosbag2_py
                        lambda path, reader=None: bag_readers.RosbagsReader(path))
    _info, events = read_session(tmp_path / 'bag', allow_partial=True)
    assert [event.stamp_ns for event in events] == [1, 2, 3]


def test_metadata_is_version_8_with_zstd_chunks_and_session_info(tmp_path):
    from mcap.reader import make_reader

    record(tmp_path / 'bag', 3)
    metadata = YAML(typ='safe').load((tmp_path / 'bag' / 'metadata.yaml').read_text())
    info = metadata['rosbag2_bagfile_information']
    assert info['version'] == 8 and info['storage_identifier'] == 'mcap'
    assert json.loads(info['custom_data'][session_bag.SESSION_INFO_KEY])['robot_type'] == \
        'toroidal_dot'
    with open(tmp_path / 'bag' / 'bag.mcap', 'rb') as stream:
        summary = make_reader(stream).get_summary()
    assert {chunk.compression for chunk in summary.chunk_indexes} == {'zstd'}


def test_foxglove_decodes_the_same_session(tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    robot, frames, commands, outcomes = record(tmp_path / 'bag', 4)
    by_topic = {}
    with open(tmp_path / 'bag' / 'bag.mcap', 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, decoded in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(decoded)
    images = by_topic['/camera/image_raw']
    assert [img.encoding for img in images] == ['rgb8'] * 5
    assert images[0].header.frame_id == 'camera_optical_frame'
    for image, frame in zip(images, frames):
        np.testing.assert_array_equal(conversions.image_to_array(image), frame.pixels)
        assert conversions.ns_from_time(image.header.stamp) == frame.stamp_ns
    states = [conversions.motor_outcome_from_msg(m) for m in by_topic['/motor/state']]
    assert states == outcomes
    assert [conversions.motor_command_from_msg(m) for m in by_topic['/motor/command']] == \
        commands
    info = json.loads(by_topic['/session/info'][0].data)
    assert info['robot_type'] == 'toroidal_dot' and len(info['action_space']) == 2


def test_bag_transitions_show_the_simulated_moves(tmp_path):
    robot, frames, _, _ = record(tmp_path / 'bag', 8)
    transitions = list(transitions_from_events(read_session(tmp_path / 'bag')[1]))
    assert len(transitions) == 8
    for step, transition in enumerate(transitions):
        shift = robot.config.move_pixels if step % 2 else 0
        np.testing.assert_array_equal(transition.next_frame.pixels,
                                      np.roll(transition.frame.pixels, shift, axis=1))
        assert transition.frame.stamp_ns == frames[step].stamp_ns


def ros2_record_like_bag(path, frames, commands, outcomes, namespace='/jetbot'):
    """What `ros2 bag record` leaves: sqlite3, namespaced topics, receive-time stamps, no info."""
    store = get_devrobot_typestore()
    classes = conversions.rosbags_message_classes(store)
    latency_ns = 3_000_000
    with Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        image = writer.add_connection(f'{namespace}/camera/image_raw', IMAGE_TYPE,
                                      typestore=store)
        command = writer.add_connection(f'{namespace}/motor/command', MOTOR_COMMAND_TYPE,
                                        typestore=store)
        state = writer.add_connection(f'{namespace}/motor/state', MOTOR_STATE_TYPE,
                                      typestore=store)
        records = [(f.stamp_ns, image, conversions.build_image(classes, f.pixels, f.stamp_ns),
                    IMAGE_TYPE) for f in frames]
        records += [(c.stamp_ns, command, conversions.build_motor_command(classes, c),
                     MOTOR_COMMAND_TYPE) for c in commands]
        records += [(o.end_ns, state, conversions.build_motor_state(classes, o),
                     MOTOR_STATE_TYPE) for o in outcomes]
        for stamp, connection, message, kind in sorted(records, key=lambda r: r[0]):
            writer.write(connection, stamp + latency_ns, store.serialize_cdr(message, kind))


def test_reads_a_bag_recorded_by_ros2_bag_record(tmp_path):
    _, frames, commands, outcomes = record(tmp_path / 'ours', 4)
    ros2_record_like_bag(tmp_path / 'recorded', frames, commands, outcomes)
    info, events = read_session(tmp_path / 'recorded')
    assert not info.has_session_info and info.robot_type == '' and info.action_space == ()
    read_frames, read_commands, read_outcomes = split(events)
    assert read_commands == commands and read_outcomes == outcomes
    assert len(read_frames) == 5
    assert len(list(transitions_from_events(read_session(tmp_path / 'recorded')[1]))) == 4


def test_interrupted_step_leaves_the_complete_steps(tmp_path):
    robot = SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2))
    writer = SessionBagWriter(tmp_path / 'bag', robot.robot_type, robot.action_space, {})
    try:
        writer.write_frame(robot.read())
        for step in range(4):
            command = robot.action_space[1].stamped(robot.clock.now_ns())
            outcome = robot.send(command)
            if step == 3:  # Ctrl-C while the step's image is being serialised
                def interrupted(frame):
                    raise KeyboardInterrupt
                writer._image = interrupted
            writer.write_step(command, outcome, robot.read())
    except KeyboardInterrupt:
        pass
    finally:
        writer.close()
    info, events = read_session(tmp_path / 'bag')
    frames, commands, outcomes = split(events)
    assert (len(frames), len(commands), len(outcomes)) == (4, 3, 3)
    assert info.message_counts['/motor/state'] == 3
    writer.close()  # a second close is harmless


def test_empty_session_is_still_a_readable_bag(tmp_path):
    SessionBagWriter(tmp_path / 'bag', 'toroidal_dot', SimRobot().action_space, {}).close()
    info, events = read_session(tmp_path / 'bag')
    assert info.robot_type == 'toroidal_dot' and list(events) == []


def test_never_overwrites_a_bag(tmp_path):
    record(tmp_path / 'bag', 1)
    before = sorted(p.name for p in (tmp_path / 'bag').iterdir())
    with pytest.raises(SessionBagError, match='already exists'):
        SessionBagWriter(tmp_path / 'bag', 'toroidal_dot', SimRobot().action_space, {})
    assert sorted(p.name for p in (tmp_path / 'bag').iterdir()) == before
    assert len(split(read_session(tmp_path / 'bag')[1])[0]) == 2


def test_unwritable_folder_is_a_clear_error(tmp_path):
    (tmp_path / 'a_file').write_text('not a folder')
    with pytest.raises(SessionBagError, match='cannot create bag'):
        SessionBagWriter(tmp_path / 'a_file' / 'bag', 'toroidal_dot', SimRobot().action_space)


def test_missing_and_non_bags_are_clear_errors(tmp_path):
    with pytest.raises(SessionBagError, match='no bag at'):
        read_session(tmp_path / 'nothing')
    (tmp_path / 'folder').mkdir()
    with pytest.raises(SessionBagError, match='no metadata.yaml'):
        read_session(tmp_path / 'folder')


@pytest.mark.parametrize('damage', ['truncate', 'garbage'])
def test_corrupt_bag_is_a_clear_error(tmp_path, damage):
    record(tmp_path / 'bag', 30)
    mcap_file = tmp_path / 'bag' / 'bag.mcap'
    data = mcap_file.read_bytes()
    if damage == 'truncate':  # into the messages: rosbag2_py reads a file cut in its
        mcap_file.write_bytes(data[:len(data) // 4])  # summary (its end) in full
    else:
        middle = len(data) // 2
        mcap_file.write_bytes(data[:middle] + bytes(range(256)) * 64 + data[middle + 16384:])
    with pytest.raises(SessionBagError, match='bag'):
        info, events = read_session(tmp_path / 'bag')
        list(events)


def test_a_bag_without_session_topics_is_refused(tmp_path):
    store = get_typestore(Stores.ROS2_JAZZY)
    with Writer(tmp_path / 'other', version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
        message = store.types['std_msgs/msg/String'](data='hi')
        writer.write(connection, 1, store.serialize_cdr(message, 'std_msgs/msg/String'))
    with pytest.raises(SessionBagError, match='/chatter'):
        read_session(tmp_path / 'other')


def test_a_bag_with_another_motor_state_layout_is_refused(tmp_path):
    store = get_devrobot_typestore()
    msgdef, _ = store.generate_msgdef(MOTOR_STATE_TYPE, ros_version=2)
    older = msgdef.replace('string reason\n', '')
    assert older != msgdef
    with Writer(tmp_path / 'old', version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.add_connection('/motor/state', MOTOR_STATE_TYPE, msgdef=older,
                              rihs01='RIHS01_' + '0' * 64)
    with pytest.raises(SessionBagError, match='reason'):
        read_session(tmp_path / 'old')


def test_ctrl_c_while_a_step_is_written_lets_the_step_finish(tmp_path):
    robot = SimRobot(ToroidalDotConfig(image_size=32, dot_radius=2))
    writer = SessionBagWriter(tmp_path / 'bag', robot.robot_type, robot.action_space, {})
    real_write = writer._writer.write
    calls = []

    def write_then_ctrl_c(connection, stamp_ns, data):
        calls.append(connection.topic)
        if len(calls) == 4:  # info, first image, then the second record of the first step
            os.kill(os.getpid(), signal.SIGINT)
        real_write(connection, stamp_ns, data)

    writer._writer.write = write_then_ctrl_c
    try:
        writer.write_frame(robot.read())
        command = robot.action_space[1].stamped(robot.clock.now_ns())
        with pytest.raises(KeyboardInterrupt):
            writer.write_step(command, robot.send(command), robot.read())
        assert writer.steps_written == 1 and len(calls) == 5
    finally:
        writer.close()
    frames, commands, outcomes = split(read_session(tmp_path / 'bag')[1])
    assert (len(frames), len(commands), len(outcomes)) == (2, 1, 1)


def test_nested_deferral_delivers_ctrl_c_once_at_the_outer_end():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with session_bag.CtrlCDeferred():
            with session_bag.CtrlCDeferred():
                signal.raise_signal(signal.SIGINT)
                reached.append('inner')
            reached.append('outer')
    assert reached == ['inner', 'outer']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
