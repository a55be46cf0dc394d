#!/usr/bin/env bash
# Build and test the workspace with colcon, on a machine with or without ROS 2.
#
# Without ROS: colcon, the ament_python build support and the ament linters come from Debian's
# packages (installed here when missing); they are made visible to the project's venv, whose
# Python runs colcon so that builds and tests see torch, rosbags and the rest. The message
# package needs rosidl, so it is skipped where rosidl is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DEBIAN_PACKAGES="colcon python3-colcon-ros python3-ament-package python3-ament-flake8 \
  python3-ament-pep257 python3-ament-xmllint python3-pytest chromium"

# chromium: the explorer's browser tests (Playwright drives Debian's build; none is downloaded)
if ! command -v colcon >/dev/null || ! /usr/bin/python3 -c 'import ament_flake8, ament_package' 2>/dev/null \
    || [ ! -x /usr/bin/chromium ]; then
  echo "colcon, the ament linters or chromium are missing: installing Debian's packages"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if ! command -v apt-get >/dev/null; then
    echo "error: no apt-get here; install colcon and the ament linters, or run 'make pytest'" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $DEBIAN_PACKAGES >/dev/null
fi

# Let the venv's Python import colcon and ament from Debian's dist-packages (appended after the
# venv's own packages, so the venv's versions win). Both must be the same Python minor version.
venv_minor=$($PY -c 'import sys; print(sys.version_info[:2])')
debian_minor=$(/usr/bin/python3 -c 'import sys; print(sys.version_info[:2])')
if [ "$venv_minor" != "$debian_minor" ]; then
  echo "error: .venv is Python $venv_minor but Debian's colcon is $debian_minor;" \
       "recreate .venv with PYTHON=/usr/bin/python3 make test" >&2
  exit 1
fi
site=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo /usr/lib/python3/dist-packages > "$site/zz_debian_dist_packages.pth"

# With ROS 2 sourced, launch_testing's pytest plugin loads in every package's tests, and under
# pytest 9 it breaks collection: refuse to run rather than report what did not run.
if [ -n "${ROS_DISTRO:-}" ] && ! $PY -c 'import sys, pytest; sys.exit(int(pytest.__version__.split(".")[0]) >= 9)'; then
  echo "error: ROS 2 ($ROS_DISTRO) is sourced and .venv has pytest >= 9, which launch_testing's" \
       "plugin does not support: $PY -m pip install -c constraints.txt -r requirements.txt" >&2
  exit 1
fi

skip=()
if ! $PY -c 'import rosidl_adapter' 2>/dev/null; then
  skip=(--packages-ignore devrobot_interfaces)
  echo "rosidl is absent: skipping devrobot_interfaces (its .msg files are used from source)"
fi

colcon_() { $PY "$(command -v colcon)" "$@"; }
rm -rf build/*/test_results
colcon_ build --base-paths src "${skip[@]}" --event-handlers console_cohesion- summary+
colcon_ test --base-paths src "${skip[@]}" --event-handlers console_direct+ summary+ \
  --pytest-args -q -p no:cacheprovider || true
# colcon test exits 0 even when tests fail: the verdict is test-result's.
set +e
result=$(colcon_ test-result --test-result-base build)
status=$?
set -e
echo "$result" | tail -n 15
echo "$result" | sed -n 's/^Summary: \([0-9]*\) tests, \([0-9]*\) errors\?, \([0-9]*\) failures\?, \([0-9]*\) skipped$/\1 \2 \3 \4/p' |
  while read -r total errors failures skipped; do
    echo "workspace: $((total - errors - failures - skipped)) passed, $((errors + failures)) failed, $skipped skipped"
  done
exit $status
