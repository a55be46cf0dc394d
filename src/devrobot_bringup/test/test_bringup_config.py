"""Parameter YAMLs load into the node shells; the rviz config shows what the nodes publish.

Through the rclpy double: no unknown key, and no int where a double is declared.
"""

from pathlib import Path

import pytest
import yaml

from devrobot_core.testing import rclpy_double
from devrobot_world_model.node import inspection

CONFIG = Path(__file__).resolve().parents[1] / 'config'
RVIZ = Path(__file__).resolve().parents[1] / 'rviz' / 'devrobot.rviz'
# node name in the YAML -> (module, class) of the shell that reads it
SHELLS = {
    'sim_node': ('devrobot_sim.sim_node', 'SimNode'),
    'world_model': ('devrobot_world_model.node.world_model_node', 'WorldModelNode'),
}


class _NoLearner:
    def select(self, pixels):
        return 0, {}


def _start(monkeypatch, path, node_name):
    ros = rclpy_double.install(monkeypatch)
    ros.load_params_file(path)
    module_name, class_name = SHELLS[node_name]
    module = rclpy_double.import_fresh(monkeypatch, module_name)
    if hasattr(module, 'build_policy'):
        monkeypatch.setattr(module, 'build_policy', lambda *configs: _NoLearner())
    import rclpy
    rclpy.init()
    return ros, getattr(module, class_name)()


def _sections():
    for path in sorted(CONFIG.glob('*.yaml')):
        for node_name in yaml.safe_load(path.read_text()):
            yield pytest.param(path, node_name, id=f'{path.stem}:{node_name}')


def test_there_is_a_sim_config():
    assert (CONFIG / 'sim.yaml').is_file()


@pytest.mark.parametrize('path, node_name', list(_sections()))
def test_every_key_is_a_declared_parameter_of_the_right_type(monkeypatch, path, node_name):
    if node_name not in SHELLS:
        pytest.skip(f'{node_name} is checked by its own package')
    ros, node = _start(monkeypatch, path, node_name)
    for key, value in ros.parameter_overrides_for(node_name).items():
        assert node.has_parameter(key), f'{path.name}: {node_name} has no parameter {key}'
        assert node.get_parameter(key).value == value


def test_the_world_model_knows_the_simulators_commands(monkeypatch):
    document = yaml.safe_load((CONFIG / 'sim.yaml').read_text())
    _, sim = _start(monkeypatch, CONFIG / 'sim.yaml', 'sim_node')
    expected = [v for c in sim.sim.world.action_space for v in (c.left, c.right, c.duration_s)]
    assert document['world_model']['ros__parameters']['action_space'] == expected


def _graph_parameter_files(tmp_path):
    """The shipped sim.yaml, and the launch test's small world built from it."""
    import test_sim_graph_launch
    shipped = yaml.safe_load((CONFIG / 'sim.yaml').read_text())
    small = test_sim_graph_launch.small_graph_params(
        yaml.safe_load((CONFIG / 'sim.yaml').read_text()), str(tmp_path))
    return {'sim.yaml': shipped, 'launch test': small}


def test_the_world_model_takes_frames_of_the_size_the_simulator_draws(tmp_path):
    for name, params in _graph_parameter_files(tmp_path).items():
        drawn = params['sim_node']['ros__parameters']['image_size']
        taken = params['world_model']['ros__parameters']['image_size']
        assert taken == drawn, f'{name}: the world model would drop every {drawn} px frame'


def test_rviz_shows_camera_reconstruction_and_each_prediction():
    config = yaml.safe_load(RVIZ.read_text())
    topics = [d['Topic']['Value'] for d in config['Visualization Manager']['Displays']
              if d['Class'] == 'rviz_default_plugins/Image']
    assert topics == ['/camera/image_raw', '/world_model/reconstruction',
                      '/' + inspection.prediction_topic(0), '/' + inspection.prediction_topic(1)]
