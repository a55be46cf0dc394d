"""Test support shared by the packages' tests: `from devrobot_core.testing import rclpy_double`."""
