"""Every bad input to `devrobot` ends in exactly one error line and exit status 2.

A table of bad invocations of every command (flags, sizes, paths, files, sessions), run through
the real `main()`; each must end with one line on stderr naming the problem, no traceback, and
exit status 2 (argparse's own errors included: `main()` exits with them).
"""

import copy
import json
import os

import numpy as np
import pytest

from devrobot_bringup.cli import main

try:
    import torch
except ImportError:  # a robot computer may build this package without torch (docs/ros.md)
    torch = None

# a mark, not a skip while importing (it would skip the whole folder under launch_testing)
pytestmark = pytest.mark.skipif(torch is None, reason='the world model needs torch')

TINY = ['--image-size', '32', '--dot-radius', '2', '--move-pixels', '5', '--batch-size', '4',
        '--warmup-transitions', '4', '--cnn-channels', '8', '--no-progress']
T0 = 1758490893.5


def write_original_session(folder, frames=3, size=32):
    """A session folder of the original system: meta, one shard, JPEG frames."""
    Image = pytest.importorskip('PIL.Image')
    (folder / 'frames').mkdir(parents=True)
    events = []
    for index in range(frames):
        path = f'frames/frame_{index}.jpg'
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(folder / path)
        events.append({'step': 2 * index, 'type': 'observation', 'timestamp': T0 + index,
                       'data': {'frame_path': path}})
        events.append({'step': 2 * index + 1, 'type': 'action', 'timestamp': T0 + index + 0.1,
                       'data': {'motor_left': 0.0, 'motor_right': 0.12, 'duration': 0.2}})
    (folder / 'session_meta.json').write_text(json.dumps({'robot_type': 'JetBotInterface'}))
    write_events(folder, events[:-1])
    return events[:-1]


def write_events(folder, events):
    (folder / 'events_shard_000.jsonl').write_text(
        ''.join(json.dumps(event) + '\n' for event in events))


def broken_session(root, name, change):
    folder = root / name
    events = write_original_session(folder)
    change(folder, events)
    write_events(folder, events)
    return folder


def save_variant(good, folder, change):
    payload = copy.deepcopy(good)
    change(payload)
    (folder / 'checkpoints').mkdir(parents=True)
    torch.save(payload, folder / 'checkpoints' / 'checkpoint.pt')
    return folder


def stretched_replay(payload):
    n = 10 ** 9
    payload['replay'] = {key: torch.zeros((1,) + tuple(value.shape[1:]),
                                          dtype=value.dtype).expand((n,) + value.shape[1:])
                         for key, value in payload['replay'].items()}
    payload['learner_config']['replay_capacity'] = n


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    """Good runs, bags and sessions, and the broken files and folders the table points at."""
    root = tmp_path_factory.mktemp('inputs')
    assert main(['run', '--learn', '--steps', '8', '--out', str(root / 'trained'), *TINY,
                 '--eval-states', '0']) == 0
    assert main(['run', '--steps', '3', '--image-size', '16', '--dot-radius', '1',
                 '--move-pixels', '3', '--out', str(root / 'small'), '--no-progress']) == 0
    for name, run in (('bag32', 'trained'), ('bag16', 'small')):
        os.symlink(next((root / run / 'bags').iterdir()), root / name)
    good = torch.load(root / 'trained' / 'checkpoints' / 'checkpoint.pt', weights_only=True)
    save_variant(good, root / 'billion', stretched_replay)
    save_variant(good, root / 'no_model', lambda p: p.pop('model'))
    save_variant(good, root / 'wrong_keys', lambda p: p.update(kind=7, spec=[1]))
    save_variant(good, root / 'huge_spec', lambda p: p['spec'].update(image_size=10 ** 9))
    save_variant(good, root / 'nan_weights', lambda p: [t.fill_(float('nan')) for t in
                                                        p['model'].values()
                                                        if t.is_floating_point()])
    save_variant(good, root / 'bad_counters', lambda p: p['counters'].update(steps='many'))
    (root / 'garbage.pt').write_bytes(b'not a checkpoint')
    os.mkfifo(root / 'fifo.pt')
    (root / 'fifo_folder').mkdir()
    os.mkfifo(root / 'fifo_folder' / 'checkpoint.pt')
    os.mkfifo(root / 'fifo_bag')
    (root / 'bag_with_fifo').mkdir()
    os.mkfifo(root / 'bag_with_fifo' / 'data.mcap')
    (root / 'text.txt').write_text('not a bag')
    (root / 'a_file').write_text('not a folder')
    (root / 'existing').mkdir()
    write_original_session(root / 'session')
    broken_session(root, 'nan_time', lambda f, e: e[0].update(timestamp=float('nan')))
    broken_session(root, 'inf_time', lambda f, e: e[1].update(timestamp=float('inf')))
    broken_session(root, 'huge_time', lambda f, e: e[0].update(timestamp=1e300))
    broken_session(root, 'fast', lambda f, e: e[1]['data'].update(motor_right=7.5))
    broken_session(root, 'negative', lambda f, e: e[1]['data'].update(duration=-0.2))
    broken_session(root, 'absolute', lambda f, e: e[0]['data'].update(frame_path='/etc/hosts'))
    broken_session(root, 'dotdot', lambda f, e: e[0]['data'].update(
        frame_path='../session/frames/frame_0.jpg'))

    def fifo_frame(folder, events):
        (folder / 'frames' / 'frame_1.jpg').unlink()
        os.mkfifo(folder / 'frames' / 'frame_1.jpg')
    broken_session(root, 'fifo_frame', fifo_frame)

    def escaping_link(folder, events):
        (folder / 'frames' / 'frame_1.jpg').unlink()
        os.symlink(root / 'session' / 'frames' / 'frame_0.jpg', folder / 'frames' / 'frame_1.jpg')
    broken_session(root, 'symlink', escaping_link)

    def other_size(folder, events):
        from PIL import Image
        Image.fromarray(np.zeros((48, 48, 3), np.uint8)).save(folder / 'frames' / 'frame_2.jpg')
    broken_session(root, 'mixed', other_size)
    latin1 = broken_session(root, 'latin1', lambda f, e: None)
    shard = latin1 / 'events_shard_000.jsonl'
    shard.write_bytes(shard.read_bytes().replace(b'observation', b'obs\xe9rvation', 1))
    return root


RUN = ['run', '--out', '{root}/out', '--no-progress', '--steps', '2']
LEARN = RUN + ['--learn']
CASES = [
    # devrobot itself
    (['bogus'], "invalid choice: 'bogus'"),
    (['run', '--bogus-flag'], 'unrecognized arguments: --bogus-flag'),
    # run: its own flags and the simulator's
    (RUN + ['--steps', 'abc'], "invalid int value: 'abc'"),
    (RUN + ['--steps', '1.5'], "invalid int value: '1.5'"),
    (RUN + ['--steps', '0'], '--steps must be positive'),
    (RUN + ['--steps', '-3'], '--steps must be positive'),
    (RUN + ['--policy', 'bogus'], 'unknown policy'),
    (RUN + ['--policy', 'recorded:{root}/nowhere'], 'no bag at'),
    (RUN + ['--robot', 'tank'], 'unknown robot'),
    (RUN + ['--seed', '-1'], 'seed must be at least 0'),
    (RUN + ['--dot-radius', '999'], 'dot_radius'),
    (RUN + ['--duration-s', 'nan'], "--duration-s: 'nan' is not a finite number"),
    (RUN + ['--duration-s', '0'], 'duration_s and move_speed must be positive'),
    (RUN + ['--move-speed', 'inf'], "--move-speed: 'inf' is not a finite number"),
    (RUN + ['--move-speed=-inf'], "--move-speed: '-inf' is not a finite number"),
    (RUN + ['--move-speed', '1e999'], "'1e999' is not a finite number"),
    (RUN + ['--move-speed', 'fast'], "invalid float value: 'fast'"),
    (RUN + ['--image-size', '100000'], 'image_size must be in [8, 1024] px, got 100000'),
    (RUN + ['--image-size', '4'], 'image_size must be in [8, 1024] px, got 4'),
    (RUN + ['--distractor', '--distractor-size', '0'], 'distractor_size'),
    (RUN + ['--recording-max-disk-gb', 'nan'], 'is not a finite number'),
    (RUN + ['--recording-max-disk-gb', '-1'], 'recording_max_disk_gb cannot be negative'),
    # run: paths
    (['run', '--out', '{root}/a_file/run', '--no-progress'], 'cannot write the output folder'),
    (['run', '--out', '/proc/devrobot_run', '--no-progress'], 'cannot write the output folder'),
    # run --learn: the learner's and the models' flags, refused before the session starts
    (LEARN + ['--autoencoder', 'bogus'], "unknown autoencoder 'bogus': expected 'cnn' or 'vit'"),
    (LEARN + ['--predictor', 'gru'], "unknown predictor 'gru'"),
    (LEARN + ['--pixel-loss', 'l3'], "unknown pixel_loss 'l3'"),
    (LEARN + ['--prediction-trains', 'all'], "unknown prediction_trains 'all'"),
    (LEARN + ['--cnn-patch-size', '5'], '224 is not a multiple of cnn_patch_size 5'),
    (LEARN + ['--cnn-patch-size', '0'], 'cnn_patch_size must be at least 1'),
    (LEARN + ['--cnn-channels', '0'], 'cnn_channels must be at least 1'),
    (LEARN + ['--cnn-channels', '1000000'], 'GiB to train'),
    (LEARN + ['--tf-heads', '3'], 'tf_dim 64 is not a multiple of tf_heads 3'),
    (LEARN + ['--tf-heads', '0'], 'tf_heads must be at least 1'),
    (LEARN + ['--tf-history', '0'], 'tf_history must be at least 1'),
    (LEARN + ['--tf-max-tokens', '10'], 'tf_max_tokens 10 cannot hold one frame'),
    (LEARN + ['--autoencoder', 'vit', '--vit-heads', '3'], 'vit_dim 64 is not a multiple'),
    (LEARN + ['--autoencoder', 'vit', '--vit-patch-size', '10'], 'not a multiple of vit_patch'),
    (LEARN + ['--autoencoder', 'vit', '--vit-mask-ratio-max', '1.5'], 'vit mask ratios'),
    (LEARN + ['--autoencoder', 'vit', '--vit-positions', 'polar'], 'vit_positions'),
    (LEARN + ['--predictor', 'lstm', '--lstm-mix-kernel', '0'], 'lstm_mix_kernel must be'),
    (LEARN + ['--hierarchy-levels', '0'], 'hierarchy_levels must be at least 1'),
    (LEARN + ['--hierarchy-levels', '9'], 'hierarchy_levels must be in [1, 8]'),
    (LEARN + ['--latent-weight', '-1'], 'latent_weight must be at least 0'),
    (LEARN + ['--focal-gamma', 'nan'], "'nan' is not a finite number"),
    (LEARN + ['--batch-size', '0'], 'batch_size must be at least 1'),
    (LEARN + ['--batch-size', '100000000'], 'a minibatch of 100000000 transitions'),
    (LEARN + ['--replay-capacity', '0'], 'replay_capacity must be at least 1'),
    (LEARN + ['--replay-capacity', '100000000'], 'a replay buffer of 100000000 transitions'),
    (LEARN + ['--epsilon', '2'], 'epsilon in [0, 1]'),
    (LEARN + ['--epsilon', 'nan'], "'nan' is not a finite number"),
    (LEARN + ['--updates-per-step', '-2'], 'updates_per_step must be >= 0 or -1'),
    (LEARN + ['--autoencoder-lr', '-1'], 'autoencoder_lr must be at least 0'),
    (LEARN + ['--predictor-lr', 'inf'], "'inf' is not a finite number"),
    (LEARN + ['--lr-floor', '1e999'], "'1e999' is not a finite number"),
    (LEARN + ['--lr-half-life-updates', '-5'], 'lr_half_life_updates must be >= 0'),
    (LEARN + ['--augment-shift-px', '-3'], 'augment_shift_px must be at least 0'),
    (LEARN + ['--precision', 'fp8'], 'precision must be one of'),
    (LEARN + ['--device', 'tpu'], "unknown device 'tpu'"),
    (LEARN + ['--policy', 'nope'], 'unknown policy'),
    # run --learn resuming from a checkpoint folder
    (LEARN + ['--out', '{root}/trained', *TINY[2:], '--image-size', '64'],
     'was trained on 32 px frames, not --image-size 64'),
    (LEARN + ['--out', '{root}/billion', *TINY], '1,000,000,000 elements over'),
    (LEARN + ['--out', '{root}/no_model', *TINY], "checkpoint lacks 'model'"),
    (LEARN + ['--out', '{root}/wrong_keys', *TINY], 'not a world-model checkpoint (kind 7)'),
    (LEARN + ['--out', '{root}/huge_spec', *TINY], 'image_size 1000000000'),
    (LEARN + ['--out', '{root}/nan_weights', *TINY], 'holds NaN or infinite values'),
    (LEARN + ['--out', '{root}/bad_counters', *TINY], "steps is 'many', not a count"),
    # eval
    (['eval', '--checkpoint', '{root}/nowhere'], 'no checkpoint at'),
    (['eval', '--checkpoint', '{root}/garbage.pt'], 'garbage.pt: cannot be read'),
    (['eval', '--checkpoint', '{root}/fifo.pt'], 'is a FIFO, not a file or folder'),
    (['eval', '--checkpoint', '{root}/fifo_folder'], 'checkpoint.pt is a FIFO, not a file'),
    (['eval', '--checkpoint', '{root}/wrong_keys/checkpoints'], 'not a world-model checkpoint'),
    (['eval', '--checkpoint', '{root}/no_model/checkpoints'], "checkpoint lacks 'model'"),
    (['eval', '--checkpoint', '{root}/huge_spec/checkpoints'], 'image_size 1000000000'),
    (['eval', '--checkpoint', '{root}/trained/checkpoints', '--states', '0'], 'at least 1'),
    (['eval', '--checkpoint', '{root}/trained/checkpoints', '--horizons', '0'], 'at least 1'),
    (['eval', '--checkpoint', '{root}/trained/checkpoints', '--image-size', '64'],
     'trained on 32x32 images'),
    (['eval', '--checkpoint', '{root}/trained/checkpoints', '--duration-s', 'nan'],
     'is not a finite number'),
    (['eval'], 'the following arguments are required: --checkpoint'),
    # train
    (['train', '--bag', '{root}/nowhere', '--out', '{root}/t'], '--bag {root}/nowhere: no such'),
    (['train', '--bag', '{root}/fifo_bag', '--out', '{root}/t'], 'is a FIFO'),
    (['train', '--bag', '{root}/bag_with_fifo', '--out', '{root}/t'], 'data.mcap is a FIFO'),
    (['train', '--bag', '{root}/text.txt', '--out', '{root}/t'], 'text.txt'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/a_file/t'], 'cannot write the --out'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--epochs', '0'], '--epochs'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--autoencoder', 'bogus'],
     "unknown autoencoder 'bogus'"),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--tf-heads', '3'],
     'not a multiple of tf_heads 3'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--cnn-patch-size', '5'],
     '32 is not a multiple of cnn_patch_size 5'),
    (['train', '--bag', '{root}/bag32', '{root}/bag16', '--out', '{root}/t'],
     'frames of different sizes'),
    (['train', '--bag', '{root}/bag16', '--out', '{root}/trained', *TINY[8:-1]],
     'was trained on 32 px frames, the bags hold 16 px frames'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--filter-action', 'bogus'],
     'bogus'),
    (['train', '--bag', '{root}/bag32', '--out', '{root}/t', '--until-plateau',
      '--min-delta', 'nan'], "'nan' is not a finite number"),
    (['train', '--out', '{root}/t'],
     '--bag is required (or bag in the devrobot_train section of --config)'),
    # bench
    (['bench', '--image-size', '5'], 'not a multiple of cnn_patch_size 16'),
    (['bench', '--image-size', '100000'], 'at most 1024 px'),
    (['bench', '--threads', '0'], 'at least 1'),
    (['bench', '--tf-heads', '3'], 'not a multiple of tf_heads 3'),
    # import-session
    (['import-session', '{root}/nowhere', '--out', '{root}/i'], 'no session folder'),
    (['import-session', '{root}/trained', '--out', '{root}/i'], 'no session_meta.json'),
    (['import-session', '{root}/session', '--out', '{root}/existing'], 'already exists'),
    (['import-session', '{root}/session', '--out', '{root}/a_file/i'], 'is not a folder'),
    (['import-session', '{root}/nan_time', '--out', '{root}/i'], 'timestamp nan'),
    (['import-session', '{root}/inf_time', '--out', '{root}/i'], 'timestamp inf'),
    (['import-session', '{root}/huge_time', '--out', '{root}/i'], 'timestamp 1e+300'),
    (['import-session', '{root}/fast', '--out', '{root}/i'], 'within [-1, 1]'),
    (['import-session', '{root}/negative', '--out', '{root}/i'], 'within (0, 3600] s'),
    (['import-session', '{root}/latin1', '--out', '{root}/i'], 'is not UTF-8 text'),
    (['import-session', '{root}/fifo_frame', '--out', '{root}/i'], 'not a regular file'),
    (['import-session', '{root}/absolute', '--out', '{root}/i'], 'leaves the session folder'),
    (['import-session', '{root}/dotdot', '--out', '{root}/i'], 'leaves the session folder'),
    (['import-session', '{root}/symlink', '--out', '{root}/i'], 'leads out of the session'),
    (['import-session', '{root}/mixed', '--out', '{root}/i'], 'is 48x48 px'),
    (['import-session', '{root}/session'], 'the following arguments are required: --out'),
]


def run_main(argv):
    """`devrobot ARGV` in this process: its exit status (argparse exits through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize('argv, message', CASES, ids=[' '.join(c[0])[:60] for c in CASES])
def test_a_bad_input_is_one_line_and_exit_status_2(root, capsys, argv, message):
    argv = [part.format(root=root) for part in argv]
    status = run_main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and 'Traceback' not in err, err
    assert lines[0].startswith('devrobot') and ' error: ' in lines[0]
    assert message.format(root=root) in lines[0]


def test_the_table_holds_every_case_the_issue_names():
    assert len(CASES) >= 100
    text = ' '.join(' '.join(argv) for argv, _ in CASES)
    for named in ('--autoencoder bogus', '--cnn-patch-size 5', '--tf-heads 3',
                  '--duration-s nan', '--move-speed inf', '--image-size 100000', 'fifo_frame',
                  'nan_time', 'inf_time', 'latin1', 'absolute', 'dotdot', 'billion'):
        assert named in text, named
