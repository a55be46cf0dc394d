"""`devrobot train` and `devrobot bench` at tiny sizes, and the public `load()` API."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

import devrobot_world_model
from devrobot_core.bags.session_bag import SessionBagWriter
from devrobot_core.errors import UsageError
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig
from devrobot_world_model.commands import bench_command, train_command
from devrobot_world_model.learning import training
from devrobot_world_model.learning.training import train_step

TINY_FLAGS = ['--cnn-patch-size', '4', '--cnn-channels', '8', '--cnn-encoder-blocks', '1',
              '--cnn-decoder-blocks', '1', '--tf-dim', '8', '--tf-depth', '1', '--tf-heads', '2',
              '--batch-size', '4', '--warmup-transitions', '4', '--augment-shift-px', '2',
              '--progress-held-back', '0']  # every transition trains: the counts below


def parse(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


def record_session(path, steps=12, seed=0, image_size=16):
    robot = SimRobot(ToroidalDotConfig(image_size=image_size, dot_radius=1, move_pixels=3,
                                       seed=seed))
    rng = np.random.default_rng(seed)
    with SessionBagWriter(path, robot.robot_type, robot.action_space) as writer:
        writer.write_frame(robot.read())
        for _ in range(steps):
            command = robot.action_space[int(rng.integers(2))].stamped(robot.clock.now_ns())
            outcome = robot.send(command)
            writer.write_step(command, outcome, robot.read())
    return robot.action_space


def test_train_learns_from_bags_resumes_and_load_predicts(tmp_path, capsys):
    action_space = record_session(tmp_path / 'a')
    record_session(tmp_path / 'b', seed=1)
    argv = ['--bag', str(tmp_path / 'a'), str(tmp_path / 'b'), '--out', str(tmp_path / 'run'),
            '--json'] + TINY_FLAGS
    assert train_command.main(parse(train_command, argv)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['transitions'] == 24 and summary['updates'] == 21
    assert summary['faster_than_real_time'] > 0
    from devrobot_core.bags.bag_readers import available_readers
    # rosbag2_py where ROS is sourced; else devrobot's checked mcap scan
    assert summary['bag_reader'] == ('rosbag2_py' if 'rosbag2_py' in available_readers()
                                     else 'bag_scan')
    assert (tmp_path / 'run' / 'metrics.jsonl').is_file()
    assert train_command.main(parse(train_command, argv)) == 0  # resumes from the run folder
    assert json.loads(capsys.readouterr().out)['steps_total'] == 48

    model = devrobot_world_model.load(tmp_path / 'run' / 'checkpoints')
    assert model.action_space == action_space
    frames = np.zeros((3, 16, 16, 3), dtype=np.uint8)
    commands = [action_space[1], {'left': 0.0, 'right': 0.0, 'duration': 0.2}, action_space[0]]
    predicted = model.predict(frames, commands)
    assert predicted.shape == (3, 16, 16, 3) and predicted.dtype == np.uint8
    assert model.reconstruct(frames).shape == (3, 16, 16, 3)
    assert model.decode(model.encode(frames)).dtype == np.uint8
    with pytest.raises(ValueError, match='action space'):
        model.predict(frames[:1], [{'left': 1.0, 'right': 1.0, 'duration': 0.2}])
    with pytest.raises(ValueError, match='uint8'):
        model.predict(frames.astype(np.float32), commands)


def test_train_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(UsageError):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'missing'),
                                                 '--out', str(tmp_path / 'run')]))
    record_session(tmp_path / 'a')
    with pytest.raises(UsageError, match='batch_size'):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a'), '--out',
                                                 str(tmp_path / 'run'), '--batch-size', '0']))


def folder_state(folder):
    """Every file under `folder`: name -> (bytes, mtime_ns)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob('*')) if p.is_file()}


def test_train_refuses_mixed_or_other_frame_sizes_before_touching_the_checkpoints(tmp_path):
    record_session(tmp_path / 'a')
    record_session(tmp_path / 'big', image_size=32)
    out = ['--out', str(tmp_path / 'run')]
    assert train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a')] + out
                                    + TINY_FLAGS)) == 0
    assert train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a')] + out
                                    + TINY_FLAGS)) == 0  # a second save: a backup exists
    checkpoints = tmp_path / 'run' / 'checkpoints'
    before = folder_state(checkpoints)
    assert set(before) == {'checkpoint.pt', 'checkpoint_backup.pt'}
    with pytest.raises(UsageError, match=r'frames of different sizes .*a: 16x16x3, .*big: '
                       r'32x32x3'):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a'),
                                                 str(tmp_path / 'big')] + out + TINY_FLAGS))
    with pytest.raises(UsageError, match='trained on 16 px frames, the bags hold 32 px'):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'big')] + out
                                 + TINY_FLAGS))
    assert folder_state(checkpoints) == before


@pytest.mark.parametrize('flags, message', [
    (['--autoencoder', 'bogus'], "unknown autoencoder 'bogus'"),
    (['--tf-heads', '3'], 'tf_dim 8 is not a multiple of tf_heads 3'),
    (['--cnn-channels', '0'], 'cnn_channels must be at least 1'),
    (['--pixel-loss', 'l3'], "unknown pixel_loss 'l3'"),
])
def test_model_flags_are_refused_before_a_bag_is_opened(tmp_path, monkeypatch, flags, message):
    record_session(tmp_path / 'a')
    opened = []
    monkeypatch.setattr('devrobot_core.bags.session_bag.read_session', opened.append)
    with pytest.raises(UsageError, match=message):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a'), '--out',
                                                 str(tmp_path / 'run')] + TINY_FLAGS + flags))
    assert opened == [] and not (tmp_path / 'run').exists()


def test_a_patch_size_that_does_not_divide_the_bags_frames_is_refused_before_training(tmp_path):
    record_session(tmp_path / 'a')  # 16 px frames: the size is known from the first one
    with pytest.raises(UsageError, match='16 px frames: image_size 16 is not a multiple of '
                       'cnn_patch_size 5'):
        train_command.main(parse(train_command, ['--bag', str(tmp_path / 'a'), '--out',
                                                 str(tmp_path / 'run')] + TINY_FLAGS
                                 + ['--cnn-patch-size', '5']))
    assert not (tmp_path / 'run' / 'checkpoints').exists()


def test_train_refuses_a_damaged_bag_unless_its_readable_part_is_asked_for(tmp_path, capsys):
    record_session(tmp_path / 'a')
    (tmp_path / 'a' / 'metadata.yaml').unlink()  # as a recording killed before it closed
    argv = ['--bag', str(tmp_path / 'a'), '--out', str(tmp_path / 'run'), '--json'] + TINY_FLAGS
    with pytest.raises(UsageError, match='12 steps readable.*devrobot repair.*--allow-partial'):
        train_command.main(parse(train_command, argv))
    assert not (tmp_path / 'run').exists()
    assert train_command.main(parse(train_command, argv + ['--allow-partial'])) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)['transitions'] == 12
    assert 'training on its readable part' in captured.err


def test_bench_prints_every_figure(capsys):
    argv = ['--json', '--image-size', '16', '--train-updates', '1', '--act-steps', '3',
            '--threads', '1'] + TINY_FLAGS
    assert bench_command.main(parse(bench_command, argv)) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ('train_samples_per_s', 'act_learn_steps_per_s', 'act_learner_samples_per_s',
                'select_ms_median', 'peak_rss_mb'):
        assert figures[key] > 0


def test_bench_without_a_ratio_measures_the_learner_beside_the_actor(capsys):
    argv = ['--json', '--image-size', '16', '--train-updates', '1', '--act-steps', '40',
            '--threads', '1', '--updates-per-step', '-1'] + TINY_FLAGS
    assert bench_command.main(parse(bench_command, argv)) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures['updates_per_step'] == -1 and figures['act_learn_steps_per_s'] > 0


def test_bench_measures_training_in_the_precision_asked_for(capsys, monkeypatch):
    argv = ['--json', '--image-size', '16', '--train-updates', '1', '--act-steps', '1',
            '--threads', '1'] + TINY_FLAGS
    timed = []

    def spy(model, optimizer, batch, grad_clip, bf16, *rest, **options):
        timed.append(bf16)
        return train_step(model, optimizer, batch, grad_clip, bf16, *rest, **options)

    monkeypatch.setattr(training, 'train_step', spy)
    for precision in ('bf16', 'fp32'):
        timed.clear()
        assert bench_command.main(parse(bench_command, argv + ['--precision', precision])) == 0
        assert json.loads(capsys.readouterr().out)['precision'] == precision
        assert timed == [precision == 'bf16'] * 3  # 2 untimed + 1 timed update


def test_bench_compiled_training_traces_the_model_and_matches_eager(tmp_path, monkeypatch):
    """The CUDA `torch.compile` figure's code path, traced here with a backend needing no GPU."""
    import torch
    from devrobot_world_model.commands.cli_support import learning_configs
    from devrobot_world_model.learning.learner import Learner

    args = parse(bench_command, ['--image-size', '16', '--precision', 'fp32'] + TINY_FLAGS)
    learner_config, model_configs = learning_configs(args, args.image_size, checkpoint_every=0)
    robot = bench_command._sim(args, learner_config.seed)
    learner = Learner(robot.action_space, learner_config, model_configs,
                      checkpoint_dir=tmp_path)
    bench_command._fill(learner, robot, 16)
    compiled_calls, real_compile = [], torch.compile

    def compile_for_test(function):
        compiled = real_compile(function, backend='aot_eager')

        def counted(*inputs):
            compiled_calls.append(1)
            return compiled(*inputs)
        return counted

    monkeypatch.setattr(torch, 'compile', compile_for_test)
    assert bench_command.train_throughput(learner, 1, compile_model=True) > 0
    assert len(compiled_calls) == 3  # 2 untimed + 1 timed update, all through the compiled loss
    assert 'forward_loss' not in vars(learner.model)  # the method is back for everyone else

    batch = learner.replay.sample(4, learner.trainer.history)
    frames, actions, next_frames = training.batch_to_tensors(batch, 'cpu', 0, True)
    learner.model.eval()  # no mask draw, so both paths see the same computation
    eager = learner.model.forward_loss(frames, actions, next_frames)[0]
    traced = real_compile(learner.model.forward_loss, backend='aot_eager')
    assert torch.allclose(traced(frames, actions, next_frames)[0], eager, rtol=1e-5)
    learner.close()


def test_importing_the_package_does_not_import_torch():
    code = 'import sys, devrobot_world_model; print("torch" in sys.modules)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'False'


def test_load_names_a_missing_checkpoint(tmp_path):
    with pytest.raises(Exception, match='no checkpoint'):
        devrobot_world_model.load(tmp_path)


def test_train_keeps_only_the_filtered_action(tmp_path, capsys):
    record_session(tmp_path / 'a', steps=20)
    argv = ['--bag', str(tmp_path / 'a'), '--out', str(tmp_path / 'run'), '--json',
            '--filter-action', '1'] + TINY_FLAGS
    assert train_command.main(parse(train_command, argv)) == 0
    kept = json.loads(capsys.readouterr().out)['transitions']
    assert 0 < kept < 20
    bad = ['--bag', str(tmp_path / 'a'), '--out', str(tmp_path / 'bad'), '--filter-action',
           '7'] + TINY_FLAGS
    with pytest.raises(UsageError):
        train_command.main(parse(train_command, bad))


def test_every_loss_an_explorer_job_stops_on_is_named_as_train_step_names_it(tmp_path):
    from devrobot_world_model.commands.cli_support import learning_configs
    from devrobot_world_model.explorer.training_job import find_loss, LOSS_KEYS
    from devrobot_world_model.learning.learner import Learner

    args = parse(bench_command, ['--image-size', '16'] + TINY_FLAGS)
    learner_config, model_configs = learning_configs(args, args.image_size, checkpoint_every=0)
    robot = bench_command._sim(args, learner_config.seed)
    learner = Learner(robot.action_space, learner_config, model_configs)
    bench_command._fill(learner, robot, 8)
    metrics = train_step(learner.model, learner.trainer.optimizer,
                         learner.replay.sample(4, learner.trainer.history))
    learner.close()
    assert all(find_loss(metrics, loss) is not None for loss in LOSS_KEYS)
