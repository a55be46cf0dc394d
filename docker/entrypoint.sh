#!/usr/bin/env bash
# Source ROS 2 and, when built, the devrobot workspace; then run the command.
set -e
source /opt/ros/jazzy/setup.bash
if [ -f /devrobot/install/setup.bash ]; then
  source /devrobot/install/setup.bash
fi
exec "$@"
