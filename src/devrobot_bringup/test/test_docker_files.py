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


def test_dockerfile_starts_with_its_build_and_run_lines_on_jazzy():
    text = DOCKERFILE.read_text()
    header = text.split('\nFROM ', 1)[0]
    assert 'docker build -f docker/Dockerfile -t devrobot:jazzy .' in header
    assert 'docker run' in header and 'test_in_image.sh' in header
    assert re.search(r'^FROM ros:jazzy-ros-base AS deps$', text, re.MULTILINE)
    assert 'venv --system-site-packages' in text


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
