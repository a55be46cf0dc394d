"""Where a `record:=true` session goes and the disk budget it obeys (pure: no launch, no ROS).

By default a session is recorded to `~/.devrobot/saved/sessions/<robot>/session_<date>_<time>`,
and that folder of sessions obeys the same per-robot budget as `devrobot run`
(`recording_max_disk_gb`, the original's RECORDING_MAX_DISK_GB): when its bags add up to more,
the oldest are deleted first, never the one being recorded. A session recorded to a folder the
user names (`bag_dir:=...`) deletes nothing: bags beside it are the user's. Either way a check
warns when the disk itself runs low, since the recorder stops when the disk is full.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from devrobot_core.bags.session_storage import BYTES_PER_GB, DiskBudget, SessionStorageConfig

SESSIONS_ROOT = '~/.devrobot/saved/sessions'
DEFAULT_MAX_DISK_GB = SessionStorageConfig().recording_max_disk_gb
CHECK_INTERVAL_S = SessionStorageConfig().disk_check_interval_s
# Warn below this much free space: two bag files, or 1 GB when files are unsplit.
MIN_FREE_FILES = 2
MIN_FREE_BYTES = BYTES_PER_GB


def session_name(now_s: float | None = None) -> str:
    return time.strftime('session_%Y%m%d_%H%M%S', time.localtime(now_s))


@dataclass
class RecordingPlan:
    """One recording: its bag folder, and the budget of the folder of sessions it joins."""

    output: Path
    budget: DiskBudget | None  # None: nothing may be deleted
    min_free_bytes: int
    reports: list = field(default_factory=list)  # what the budget said since the last check

    def check(self) -> list:
        """Enforce the budget and look at the free space; the messages to log (may be none)."""
        messages = []
        if self.budget is not None:
            self.budget.check(force=True)
            messages, self.reports[:] = list(self.reports), []
        low = low_disk_warning(self.output.parent, self.min_free_bytes)
        if low:
            messages.append(low)
        return messages


def plan_recording(bag_dir: str, robot: str, max_disk_gb: float = DEFAULT_MAX_DISK_GB,
                   max_bag_size_mb: float = 0.0, sessions_root: str = SESSIONS_ROOT,
                   now_s: float | None = None) -> RecordingPlan:
    """The plan for a session: `bag_dir`, or a new folder under `<sessions_root>/<robot>`.

    Raises ValueError for a negative budget or an unusable robot name; creates the parent
    folder (ros2 bag record creates the bag folder itself and refuses an existing one).
    """
    if not robot or '/' in robot or robot in ('.', '..'):
        raise ValueError(f'robot must be a plain name, got {robot!r}')
    if not max_disk_gb >= 0:
        raise ValueError(f'recording_max_disk_gb must be >= 0 (0: never delete), got '
                         f'{max_disk_gb}')
    if bag_dir:
        output, sessions = Path(bag_dir).expanduser(), None
    else:
        sessions = Path(sessions_root).expanduser() / robot
        output = sessions / session_name(now_s)
        suffix = 1
        while output.exists():
            suffix += 1
            output = sessions / f'{session_name(now_s)}_{suffix}'
    output.parent.mkdir(parents=True, exist_ok=True)
    reports, budget = [], None
    if sessions is not None and max_disk_gb > 0:
        budget = DiskBudget(sessions, int(max_disk_gb * BYTES_PER_GB), keep=output,
                            interval_s=0.0, report=reports.append)
    file_bytes = int(max_bag_size_mb * 1024 * 1024)
    return RecordingPlan(output, budget, max(MIN_FREE_BYTES, MIN_FREE_FILES * file_bytes),
                         reports)


def low_disk_warning(folder, min_free_bytes: int) -> str | None:
    """A warning when the disk holding `folder` has less than `min_free_bytes` free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free >= min_free_bytes:
        return None
    return (f'only {free / BYTES_PER_GB:.2f} GB free on the disk of {folder}: the recording '
            'stops when the disk is full (free space, or lower recording_max_disk_gb)')
