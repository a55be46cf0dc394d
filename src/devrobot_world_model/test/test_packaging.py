"""rosdep installs everything this package imports; pytest collects its tests wherever it runs."""

from pathlib import Path

from devrobot_core.testing.collection import module_level_skips
from devrobot_core.testing.package_deps import undeclared

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    # imported only when a run sets wandb_project; `pip install wandb` (docs/world_model.md)
    'wandb': 'optional',
    # the explorer's command tests run the `devrobot` CLI; devrobot_bringup depends on this
    # package, so declaring it would make a cycle
    'devrobot_bringup': 'a cycle if declared',
}


def test_every_import_is_declared_in_package_xml():
    assert undeclared(PACKAGE_ROOT, ALLOWED) == []


def test_no_test_module_skips_while_it_is_imported():
    # (launch_testing's plugin would skip the whole folder: devrobot_core.testing.collection)
    assert module_level_skips(PACKAGE_ROOT) == []
