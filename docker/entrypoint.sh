#!/usr/bin/env bash
# Source ROS 2 and, when built, the devrobot workspace; then run the command.
set -e
source "/opt/ros/${ROS_DISTRO:?the ROS image sets ROS_DISTRO}/setup.bash"
if [ -f /devrobot/install/setup.bash ]; then
  source /devrobot/install/setup.bash
fi
exec "$@"
