"""What `devrobot explore PATH...` was pointed at: bags, or a run folder and what it holds.

- a bag folder (rosbag2, with .mcap files; metadata.yaml once it is closed) or an .mcap file;
- several of them;
- a folder of bag folders (a run's `bags/`);
- a run folder (`devrobot run` / `devrobot train` output): its `bags/`, `checkpoints/` and
  `metrics.jsonl`. A run that has only just started may have no bag yet: it is watched, and
  bags that appear later are added (`scan()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devrobot_core.errors import UsageError

CHECKPOINTS, BAGS, METRICS = 'checkpoints', 'bags', 'metrics.jsonl'


@dataclass
class Sources:
    """The bags to show, the run folder they came from (if any), and its checkpoint folder."""

    bags: list = field(default_factory=list)  # Path of each bag, in order
    run_dir: Path | None = None
    checkpoint: Path | None = None  # a checkpoints folder or a .pt file

    def scan(self) -> list:
        """Bags that appeared in the run folder since; added to `bags` and returned."""
        if self.run_dir is None:
            return []
        new = [bag for bag in bag_folders(self.run_dir / BAGS) if bag not in self.bags]
        self.bags += new
        return new


def is_bag(path: Path) -> bool:
    """A bag folder (.mcap or .db3 files, or metadata.yaml) or an .mcap file."""
    if path.is_file():
        return path.suffix == '.mcap'
    return path.is_dir() and (any(path.glob('*.mcap')) or any(path.glob('*.db3'))
                              or (path / 'metadata.yaml').is_file())


def bag_folders(folder: Path) -> list:
    """The bags directly inside `folder`, oldest name first (session_YYYYmmdd_HHMMSS)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_bag(p))


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in (CHECKPOINTS, BAGS, METRICS))


def resolve(paths, checkpoint=None) -> Sources:
    """Sources of the given paths; UsageError (one line) when one of them holds no bag."""
    sources = Sources()
    for path in map(Path, paths):
        if not path.exists():
            raise UsageError(f'{path} does not exist')
        if is_bag(path):
            sources.bags.append(path)
        elif is_run_folder(path):
            if sources.run_dir is not None:
                raise UsageError(f'two run folders given ({sources.run_dir}, {path}); give one '
                                 'run folder, or bags')
            sources.run_dir = path
            sources.bags += bag_folders(path / BAGS)
        elif bag_folders(path):
            sources.bags += bag_folders(path)
        else:
            raise UsageError(f'{path} is neither a session bag (a folder with .mcap files) nor '
                             'a run folder (with bags/, checkpoints/ or metrics.jsonl)')
    if not sources.bags and sources.run_dir is None:
        raise UsageError('no session bag given')
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.exists():
            raise UsageError(f'no checkpoint at {checkpoint}')
        sources.checkpoint = checkpoint
    elif sources.run_dir is not None and (sources.run_dir / CHECKPOINTS).is_dir():
        sources.checkpoint = sources.run_dir / CHECKPOINTS
    return sources
