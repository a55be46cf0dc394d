"""`devrobot export`: a session and the model's predictions in one MCAP, decoded as Foxglove does.

The file is read back with mcap-ros2-support's decoder (the one Foxglove's Python tooling
ships), so its schemas and CDR payloads are what ROS 2 tools expect.
"""

import numpy as np
import pytest
from explorer_support import folder_digest, record_session, train_checkpoint

import devrobot_world_model
from devrobot_bringup.cli import main as devrobot

try:
    import mcap_ros2.decoder as mcap_ros2
    from mcap.reader import make_reader
except ImportError:
    mcap_ros2 = make_reader = None

# a mark, not a skip while importing (it would skip the whole folder under launch_testing)
pytestmark = pytest.mark.skipif(mcap_ros2 is None, reason='mcap-ros2-support is not installed')


def decoded(path):
    """Every message by topic, [(log_time, message)], decoded from its ros2msg schema."""
    topics = {}
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[mcap_ros2.DecoderFactory()])
        for schema, channel, message, ros in reader.iter_decoded_messages(log_time_order=True):
            topics.setdefault(channel.topic, []).append((message.log_time, ros))
    return topics


def pixels(image) -> np.ndarray:
    assert image.encoding == 'rgb8'
    return np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3).copy()


def test_export_with_predictions_decodes_with_the_ros2_decoder(tmp_path, capsys):
    record_session(tmp_path / 'run' / 'bags' / 'session_a', steps=10, stopped_at=(4,))
    train_checkpoint(tmp_path / 'run' / 'bags' / 'session_a', tmp_path / 'run')
    before = folder_digest(tmp_path / 'run')
    out = tmp_path / 'session.mcap'
    assert devrobot(['export', str(tmp_path / 'run'), '--predictions', '--out', str(out)]) == 0
    assert folder_digest(tmp_path / 'run') == before
    assert 'predictions for 10 steps' in capsys.readouterr().err
    topics = decoded(out)
    assert len(topics['/camera/image_raw']) == 11 and len(topics['/motor/state']) == 10
    assert len(topics['/motor/command']) == 10 and len(topics['/session/info']) == 1
    assert [s.status for _, s in topics['/motor/state']][4] == 4  # STOPPED
    frames = topics['/camera/image_raw']
    model = devrobot_world_model.load(tmp_path / 'run' / 'checkpoints')
    for action in (0, 1):
        predicted = topics[f'/world_model/prediction/action_{action}']
        assert len(predicted) == 10 and [t for t, _ in predicted] == [t for t, _ in frames[:10]]
        first = pixels(frames[0][1])
        expected = model.predict(first[None], [model.action_space[action]])[0]
        np.testing.assert_array_equal(pixels(predicted[0][1]), expected)
    reconstruction = topics['/world_model/reconstruction']
    assert len(reconstruction) == 10 and reconstruction[3][1].header.frame_id
    errors = topics['/world_model/prediction_error']
    assert len(errors) == 10 and all(0 <= e.data < 1 for _, e in errors)


def test_export_of_the_session_alone_and_bad_input(tmp_path, capsys):
    record_session(tmp_path / 'bag', steps=4)
    out = tmp_path / 'plain.mcap'
    assert devrobot(['export', str(tmp_path / 'bag'), '--out', str(out)]) == 0
    topics = decoded(out)
    assert sorted(topics) == ['/camera/image_raw', '/motor/command', '/motor/state',
                              '/session/info']
    capsys.readouterr()
    for argv, message in (
            (['--out', str(out)], 'exists'),
            (['--out', str(tmp_path / 'x.txt')], '.mcap'),
            (['--out', str(tmp_path / 'no' / 'x.mcap')], 'does not exist'),
            (['--out', str(tmp_path / 'p.mcap'), '--predictions'], 'needs a model')):
        assert devrobot(['export', str(tmp_path / 'bag')] + argv) == 2
        error = capsys.readouterr().err
        assert message in error and error.count('\n') == 1
    assert not (tmp_path / 'p.mcap').exists() and not (tmp_path / 'p.mcap.tmp').exists()
