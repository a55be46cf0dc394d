"""Is a bag whole? Its metadata.yaml, its mcap files and their chunks, checked against each other.

`check_bag` scans every mcap file of a bag folder (see bag_scan) and compares what reads back
with the message counts metadata.yaml names. A bag without metadata.yaml (killed while
recording) is checked too: what its chunks hold is what is readable. `BagHealth.messages`
then yields the readable messages of the whole bag in time order. sqlite3 bags are only
recognised here; rosbags reads them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from devrobot_core.bags.bag_scan import iter_messages, scan_mcap

METADATA_FILE = 'metadata.yaml'
METADATA_KEY = 'rosbag2_bagfile_information'


@dataclass(frozen=True)
class Connection:
    """One topic of a bag as a reader needs it (one per topic and type, across files)."""

    id: int
    topic: str
    msgtype: str
    msgdef: str  # the message definition the bag carries ('' when none)
    schema_encoding: str  # ros2msg or ros2idl
    message_encoding: str  # cdr
    qos: str  # rosbag2's offered_qos_profiles text
    metadata: bytes  # the mcap channel's metadata, as written


@dataclass
class BagHealth:
    """What of a bag folder reads back, and everything found wrong with it."""

    path: Path
    storage: str = ''  # 'mcap', 'sqlite3', or '' when the folder holds no bag
    metadata: dict | None = None  # metadata.yaml's rosbag2_bagfile_information
    files: list = field(default_factory=list)  # the mcap files, in recorded order
    scans: list = field(default_factory=list)  # one McapScan per file
    expected: dict | None = None  # topic -> messages, as metadata.yaml says
    readable: dict = field(default_factory=dict)  # topic -> messages that read back
    connections: list = field(default_factory=list)  # Connection
    problems: list = field(default_factory=list)  # damage, one phrase each
    unfinished: list = field(default_factory=list)  # signs that it was not closed
    routes: dict = field(default_factory=dict)  # (file index, channel id) -> connection id

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unfinished

    @property
    def finished(self) -> bool:
        """It was closed: metadata.yaml and every file's index are there."""
        return self.metadata is not None and all(scan.finished for scan in self.scans)

    def describe(self) -> str:
        """What is wrong in a phrase: the first damage and how much more, or 'not closed'."""
        if not self.problems:
            return ('it was not closed: the recording stopped before it finished the bag'
                    if self.unfinished else 'whole')
        more = len(self.problems) - 1 + bool(self.unfinished)
        return self.problems[0] + (f'; {more} more problem{"s" * (more > 1)}' if more else '')

    def messages(self, connection_ids: Iterable[int]) -> Iterator[tuple]:
        """(connection id, log time ns, data) of the readable messages, in time order.

        Raises bag_scan.BadRecord if a file changed since the check, OSError if unreadable.
        """
        wanted = set(connection_ids)

        def stream(index, scan):
            channels = [c for (i, c), conn in self.routes.items()
                        if i == index and conn in wanted]
            for order, (log_ns, channel, data) in enumerate(iter_messages(scan, channels)):
                yield log_ns, index, order, self.routes[index, channel], data

        streams = [stream(index, scan) for index, scan in enumerate(self.scans)]
        for log_ns, _index, _order, connection, data in heapq.merge(*streams):
            yield connection, log_ns, data


def read_metadata(folder: Path) -> tuple:
    """(metadata.yaml's bagfile information or None, a problem phrase or '')."""
    from ruamel.yaml import YAML

    path = folder / METADATA_FILE
    if not path.is_file():
        return None, 'it has no metadata.yaml'
    try:
        info = YAML(typ='safe').load(path.read_text('utf-8'))[METADATA_KEY]
        files = info['relative_file_paths']
        topics = {entry['topic_metadata']['name']: int(entry['message_count'])
                  for entry in info['topics_with_message_count']}
        if not isinstance(info['storage_identifier'], str) or \
                not all(isinstance(name, str) for name in files) or \
                any(count < 0 for count in topics.values()):
            raise ValueError('fields of the wrong kind')
    except Exception as error:  # YAML, key, type and value errors alike
        return None, f'its metadata.yaml is unreadable ({type(error).__name__})'
    return info, ''


def _expected_counts(info: dict) -> dict:
    return {entry['topic_metadata']['name']: int(entry['message_count'])
            for entry in info['topics_with_message_count']}


def _storage(folder: Path, info: dict | None) -> str:
    if info is not None:
        return info['storage_identifier']
    if any(folder.glob('*.mcap')):
        return 'mcap'
    return 'sqlite3' if any(folder.glob('*.db3')) else ''


def _mcap_files(folder: Path, info: dict | None, problems: list) -> list:
    if info is None:
        return sorted(folder.glob('*.mcap'))
    files = []
    for name in info['relative_file_paths']:
        path = folder / Path(name).name
        if path.is_file():
            files.append(path)
        else:
            problems.append(f'its file {path.name} is missing')
    return files


def _connect(health: BagHealth) -> None:
    """One Connection per topic and type; routes from each file's channels to them."""
    keys = {}
    for index, scan in enumerate(health.scans):
        for channel in scan.channels.values():
            schema = scan.schemas.get(channel.schema_id)
            if schema is None:
                health.problems.append(f'{scan.path.name}: the type of {channel.topic} is '
                                       'not recorded (its schema record is lost)')
                continue
            key = (channel.topic, schema.name)
            if key not in keys:
                keys[key] = Connection(len(keys) + 1, channel.topic, schema.name, schema.data,
                                       schema.encoding, channel.message_encoding,
                                       channel.qos_text(), channel.metadata)
            health.routes[index, channel.id] = keys[key].id
        for channel, count in scan.counts.items():
            if (index, channel) not in health.routes:
                health.problems.append(f'{scan.path.name}: {count} messages of an unknown '
                                       f'channel {channel}')
    health.connections = list(keys.values())
    health.readable = {c.topic: 0 for c in health.connections}
    by_id = {c.id: c for c in health.connections}
    for index, scan in enumerate(health.scans):
        for channel, count in scan.counts.items():
            if (index, channel) in health.routes:
                topic = by_id[health.routes[index, channel]].topic
                health.readable[topic] += count


def _compare_counts(health: BagHealth) -> None:
    if health.expected is None:
        return
    for topic in sorted(set(health.expected) | set(health.readable)):
        listed, readable = health.expected.get(topic, 0), health.readable.get(topic, 0)
        if listed != readable:
            health.problems.append(f'{topic}: metadata.yaml lists {listed} messages, '
                                   f'{readable} read back')
            return


def check_bag(path, thorough: bool = False) -> BagHealth:
    """Check the bag folder at `path`. `thorough`: search damaged files for every chunk.

    Never raises for damage; OSError when a file cannot be read at all.
    """
    health = BagHealth(Path(path))
    info, problem = read_metadata(health.path)
    health.storage = _storage(health.path, info)
    if health.storage != 'mcap':
        return health
    health.metadata = info
    if info is not None:
        health.expected = _expected_counts(info)
    elif (health.path / METADATA_FILE).exists():
        health.problems.append(problem)
    else:
        health.unfinished.append(problem)
    health.files = _mcap_files(health.path, info, health.problems)
    for path_ in health.files:
        scan = scan_mcap(path_, thorough)
        health.scans.append(scan)
        name = f'{path_.name}: ' if len(health.files) > 1 else ''
        health.problems.extend(name + p for p in scan.problems)
        health.unfinished.extend(name + p for p in scan.unfinished)
    _connect(health)
    _compare_counts(health)
    return health
