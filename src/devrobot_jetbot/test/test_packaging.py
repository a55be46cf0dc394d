"""rosdep installs everything this package imports; pytest collects its tests wherever it runs."""

from pathlib import Path

from devrobot_core.testing.collection import module_level_skips
from devrobot_core.testing.package_deps import undeclared

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    # the JetBot image's motor board library (JetPack), imported by the onboard backend on the
    # robot only; it has no rosdep key
    'Adafruit_MotorHAT': 'on the robot only',
    # robot_service.py copied to the robot on its own imports its sibling file
    'onboard_hardware': 'the sibling of a copied robot_service.py',
    'motor_watchdog': 'the sibling of a copied robot_service.py',
    'robot_server': 'the sibling of a copied robot_service.py',
}


def test_every_import_is_declared_in_package_xml():
    assert undeclared(PACKAGE_ROOT, ALLOWED) == []


def test_no_test_module_skips_while_it_is_imported():
    # (launch_testing's plugin would skip the whole folder: devrobot_core.testing.collection)
    assert module_level_skips(PACKAGE_ROOT) == []
