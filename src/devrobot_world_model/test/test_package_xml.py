"""Every import of this package has its rosdep key in package.xml (rosdep installs them all)."""

from pathlib import Path

from devrobot_core.testing.package_deps import undeclared

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    # imported only when a run sets wandb_project; `pip install wandb` (docs/world_model.md)
    'wandb': 'optional',
}


def test_every_import_is_declared_in_package_xml():
    assert undeclared(PACKAGE_ROOT, ALLOWED) == []
