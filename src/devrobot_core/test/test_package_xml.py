"""Every import of this package has its rosdep key in package.xml (rosdep installs them all)."""

from pathlib import Path

from devrobot_core.testing.package_deps import undeclared

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    # import-session renders toroidal-dot sessions with the simulator where it is installed;
    # devrobot_sim depends on devrobot_core, so declaring it would make a cycle
    'devrobot_sim': 'optional, and a cycle if declared',
}


def test_every_import_is_declared_in_package_xml():
    assert undeclared(PACKAGE_ROOT, ALLOWED) == []
