"""rosdep installs everything this package imports; pytest collects its tests wherever it runs."""

from pathlib import Path

from devrobot_core.testing.collection import module_level_skips
from devrobot_core.testing.package_deps import undeclared

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    # import-session renders toroidal-dot sessions with the simulator where it is installed;
    # devrobot_sim depends on devrobot_core, so declaring it would make a cycle
    'devrobot_sim': 'optional, and a cycle if declared',
}


def test_every_import_is_declared_in_package_xml():
    assert undeclared(PACKAGE_ROOT, ALLOWED) == []


def test_no_test_module_skips_while_it_is_imported():
    # (launch_testing's plugin would skip the whole folder: devrobot_core.testing.collection)
    assert module_level_skips(PACKAGE_ROOT) == []
