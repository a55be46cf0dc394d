#!/usr/bin/env bash
# Inside the image: build and test every package with colcon, the launch_testing tests
# (src/devrobot_bringup/test/test_sim_graph_launch.py) included; prints the summary and
# exits non-zero when a test failed.
set -euo pipefail
cd /devrobot
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# colcon run by the venv's Python, so builds and tests see torch, timm and rosbags.
colcon_() { python "$(command -v colcon)" "$@"; }
colcon_ build --symlink-install --event-handlers console_cohesion- summary+
source install/setup.bash
colcon_ test --event-handlers console_direct+ summary+ --pytest-args -q || true
colcon_ test-result --verbose
