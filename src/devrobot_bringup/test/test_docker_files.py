"""The Docker files agree with each other and with the repository (no Docker engine here)."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / 'docker' / 'Dockerfile'

pytestmark = pytest.mark.skipif(not DOCKERFILE.is_file(), reason='not in a source checkout')


def _stages():
    return re.findall(r'^FROM \S+ AS (\S+)$', DOCKERFILE.read_text(), re.MULTILINE)


def test_dockerfile_starts_with_its_build_and_run_lines_on_jazzy_by_default():
    text = DOCKERFILE.read_text()
    header = text.split('\nARG ', 1)[0]
    assert 'docker build -f docker/Dockerfile -t devrobot:jazzy .' in header
    assert '--build-arg ROS_DISTRO=lyrical' in header
    assert 'docker run' in header and 'test_in_image.sh' in header
    assert re.search(r'^ARG ROS_DISTRO=jazzy\nFROM ros:\$\{ROS_DISTRO\}-ros-base AS deps$', text,
                     re.MULTILINE)
    assert 'venv --system-site-packages' in text
    assert 'jazzy' not in text.split('\nARG ROS_DISTRO=jazzy', 1)[1]  # nothing else fixes it


def test_docker_stop_reaches_every_process_as_a_ctrl_c():
    """The tini -g init signals the process group; SIGINT is what the nodes save on."""
    text = DOCKERFILE.read_text()
    assert re.search(r'^STOPSIGNAL SIGINT$', text, re.MULTILINE)
    entrypoint = json.loads(re.search(r'^ENTRYPOINT (\[.*\])$', text, re.MULTILINE).group(1))
    assert entrypoint[:3] == ['/usr/bin/tini', '-g', '--']
    assert re.search(r'apt-get install [^\n]*\btini\b', text)
    compose = yaml.safe_load((ROOT / 'docker' / 'compose.yaml').read_text())
    from devrobot_bringup.launch_blocks import SAVE_TIMEOUT_S
    for service in ('sim', 'workstation'):
        grace = compose['services'][service]['stop_grace_period']
        assert int(grace.rstrip('s')) > SAVE_TIMEOUT_S


def test_pip_in_the_image_and_the_docs_follows_the_constraints():
    constraints = (ROOT / 'constraints.txt').read_text()
    for pin in ('setuptools<80', 'pytest<9', 'numpy<2'):
        assert pin in constraints
    dockerfile = DOCKERFILE.read_text()
    installs = re.findall(r'pip" install (.*)', dockerfile)
    assert all('-c /tmp/constraints.txt' in line for line in installs[1:]), installs
    docs = (ROOT / 'docs' / 'ros.md').read_text()
    assert all('-c constraints.txt' in line for line in docs.splitlines()
               if 'pip install' in line and 'requirements.txt' in line)


def test_rosdep_leaves_the_venvs_packages_to_pip():
    dockerfile = DOCKERFILE.read_text()
    keys = re.search(r'^ARG VENV_KEYS="([^"]*)"', dockerfile, re.MULTILINE).group(1).split()
    assert {'python3-torch', 'python3-timm-pip', 'python3-rosbags-pip'} <= set(keys)
    assert '--skip-keys "$VENV_KEYS $ROSDEP_SKIP_KEYS"' in dockerfile


def test_files_the_dockerfile_copies_exist():
    for source in re.findall(r'^COPY (\S+) ', DOCKERFILE.read_text(), re.MULTILINE):
        if source != '.':
            assert (ROOT / source).exists(), source


def test_compose_services_build_a_stage_that_exists_and_sim_gets_the_gpu():
    compose = yaml.safe_load((ROOT / 'docker' / 'compose.yaml').read_text())
    services = compose['services']
    assert {'sim', 'test'} <= set(services)
    for service in services.values():
        assert service['build']['target'] in _stages()
        assert service['build']['dockerfile'] == 'docker/Dockerfile'
    devices = services['sim']['deploy']['resources']['reservations']['devices']
    assert devices[0]['capabilities'] == ['gpu']


def test_devcontainer_builds_the_dependency_stage():
    config = json.loads((ROOT / '.devcontainer' / 'devcontainer.json').read_text())
    assert (ROOT / '.devcontainer' / config['build']['dockerfile']).resolve() == DOCKERFILE
    assert config['build']['target'] in _stages()
    assert config['workspaceFolder'] == '/devrobot'
