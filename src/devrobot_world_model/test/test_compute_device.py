"""Where the world model computes: 'auto', 'cpu' or a CUDA GPU, refused clearly when absent."""

import numpy as np
import pytest
import torch

from devrobot_world_model.learning.learner import Learner, LearnerConfig
from devrobot_world_model.model.compute_device import resolve_device
from devrobot_world_model.model.prediction_api import load
from test_learner import drive, FAST, make_learner, tiny_robot
from tiny_models import tiny_configs

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device here')


def test_auto_takes_a_gpu_only_when_torch_finds_one():
    expected = 'cuda' if torch.cuda.is_available() else 'cpu'
    assert resolve_device('auto').type == expected
    assert resolve_device('cpu') == torch.device('cpu')


@pytest.mark.parametrize('name', ['tpu', 'gpu0', 'mps'])
def test_unknown_or_unsupported_devices_are_refused_with_the_options(name):
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(name)


def test_a_gpu_beyond_those_present_is_refused_with_the_count():
    with pytest.raises(ValueError, match=r'torch finds \d+ CUDA device'):
        resolve_device(f'cuda:{torch.cuda.device_count() if torch.cuda.is_available() else 0}')


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_a_learner_asked_for_a_missing_gpu_refuses_to_start():
    with pytest.raises(ValueError, match="device 'cuda'"):
        make_learner(device='cuda')


def test_a_cpu_learner_keeps_its_model_on_the_cpu_and_its_outputs_in_numpy(tmp_path):
    learner, robot = make_learner(tmp_path, device='cpu'), tiny_robot()
    drive(learner, robot, 6)
    assert learner.device == torch.device('cpu')
    assert {p.device.type for p in learner.model.parameters()} == {'cpu'}
    assert isinstance(learner.inspect(robot.read().pixels)['reconstruction'], np.ndarray)
    learner.close()
    model = load(tmp_path / 'checkpoints', device='cpu')
    assert model.device == torch.device('cpu')
    assert model.predict(robot.read().pixels[None], [model.action_space[1]]).shape == (
        1, 16, 16, 3)


@needs_cuda
def test_a_gpu_learner_trains_there_and_its_checkpoint_loads_on_the_cpu(tmp_path):
    learner, robot = make_learner(tmp_path, device='cuda'), tiny_robot()
    logger = drive(learner, robot, 8)
    assert {p.device.type for p in learner.model.parameters()} == {'cuda'}
    assert logger.values('train/non_finite_total')[-1] == 0
    seen = learner.inspect(robot.read().pixels)
    assert seen['predictions'][0].shape == (16, 16, 3)
    learner.close()
    on_cpu = load(tmp_path / 'checkpoints')
    assert {p.device.type for p in on_cpu.model.parameters()} == {'cpu'}
    resumed = Learner(robot.action_space, LearnerConfig(**FAST, device='cuda'), tiny_configs(),
                      checkpoint_dir=tmp_path / 'checkpoints')
    assert resumed.updates == learner.updates
    assert {p.device.type for p in resumed.model.parameters()} == {'cuda'}
