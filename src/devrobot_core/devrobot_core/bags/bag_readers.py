"""Reading rosbag2 bags: ROS 2's own rosbag2_py where it imports, the `rosbags` library elsewhere.

Both readers give the session reader (session_reading.read_through) the same thing: the bag's
connections (topic, type, count, the definition text the bag carries), its custom metadata,
and raw CDR messages in time order, which the devrobot typestore decodes either way. rosbag2_py
reads every storage plugin installed with ROS (mcap, sqlite3, and file-compressed bags through
its compression reader), and `reindex()` writes the metadata.yaml of a bag whose recorder died
before closing it, with rosbag2's Reindexer; `rosbags` reads mcap and sqlite3 bags without ROS.
`DEVROBOT_BAG_READER=rosbags` (or `rosbag2_py`) chooses one.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

READER_ENV = 'DEVROBOT_BAG_READER'
READERS = ('rosbag2_py', 'rosbags')
# storage plugin of a bag file, by suffix (to reindex a bag that has no metadata.yaml)
STORAGE_BY_SUFFIX = {'.mcap': 'mcap', '.db3': 'sqlite3'}
# the files rosbag2's Reindexer looks for: <name>_<n>.<ext>, as ros2 bag record names them
RECORDED_FILE = re.compile(r'.+_(\d+)\.([a-zA-Z0-9])+\Z')


class BagReadError(Exception):
    """A bag cannot be opened or read; the message says why."""


@dataclass(frozen=True)
class Connection:
    """One topic of a bag, as both readers describe it."""

    id: int
    topic: str
    msgtype: str
    msgcount: int
    msgdef: str = ''  # the definition text the bag carries (mcap schemas, newer sqlite3 bags)


def available_readers() -> list:
    """The readers that import here, preferred first."""
    return [name for name in READERS if importlib.util.find_spec(name) is not None]


def choose_reader(requested: str | None = None) -> str:
    """`requested`, else $DEVROBOT_BAG_READER, else rosbag2_py where it imports, else rosbags."""
    requested = requested or os.environ.get(READER_ENV) or ''
    available = available_readers()
    if requested:
        if requested not in READERS:
            raise BagReadError(f'{READER_ENV}={requested!r}: expected one of '
                               f'{", ".join(READERS)}')
        if requested not in available:
            raise BagReadError(f'the bag reader {requested} is not installed here')
        return requested
    if not available:
        raise BagReadError('no bag reader: install rosbags (pip) or source ROS 2 (rosbag2_py)')
    return available[0]


def open_bag(path, reader: str | None = None):
    """An open reader of the bag folder (or single bag file) at `path`."""
    path = Path(path)
    if not path.exists():
        raise BagReadError(f'no bag at {path}')
    name = choose_reader(reader)
    if name == 'rosbag2_py':
        return Rosbag2PyReader(path)
    return RosbagsReader(path)


def _missing_metadata(path: Path) -> bool:
    return path.is_dir() and not (path / 'metadata.yaml').is_file()


def needs_reindex(path) -> bool:
    """A bag folder without metadata.yaml whose files ros2 bag record wrote (<name>_<n>.ext)."""
    path = Path(path)
    return _missing_metadata(path) and any(
        RECORDED_FILE.match(p.name) and p.suffix in STORAGE_BY_SUFFIX for p in path.iterdir())


def reindex(path) -> None:
    """Write the metadata.yaml of a bag whose recorder died before closing it (rosbag2_py)."""
    import rosbag2_py
    path = Path(path)
    storage = sorted({STORAGE_BY_SUFFIX[p.suffix] for p in path.iterdir()
                      if p.suffix in STORAGE_BY_SUFFIX})
    try:
        rosbag2_py.Reindexer().reindex(rosbag2_py.StorageOptions(uri=str(path),
                                                                 storage_id=storage[0]))
    except Exception as error:  # RuntimeError from the C++ side, with rosbag2's message
        raise BagReadError(f'{path} has no metadata.yaml and could not be reindexed: '
                           f'{error}') from None


class RosbagsReader:
    """The `rosbags` library's Reader behind the common interface (no ROS needed)."""

    name = 'rosbags'

    def __init__(self, path: Path):
        from rosbags.rosbag2 import Reader
        if _missing_metadata(path):
            raise BagReadError(
                f'{path} is not a rosbag2 bag: it has no metadata.yaml (a recording killed '
                'before it closed: `ros2 bag reindex` repairs it, and devrobot does so itself '
                'where ROS 2 is sourced)')
        try:
            self._reader = Reader(path)
            self._reader.open()
        except Exception as error:  # rosbags raises many kinds on a damaged file
            raise BagReadError(f'cannot read bag {path}: {error}') from None
        self.path = path
        self._by_id = {}
        self.connections = []
        for raw in self._reader.connections:
            connection = Connection(raw.id, raw.topic, raw.msgtype, raw.msgcount,
                                    getattr(raw.msgdef, 'data', '') or '')
            self._by_id[raw.id] = (connection, raw)
            self.connections.append(connection)

    @property
    def custom_data(self) -> dict:
        metadata = getattr(self._reader.storage, 'metadata', None)
        return dict(getattr(metadata, 'custom', None) or {})

    def messages(self, connections) -> Iterator[tuple]:
        """(connection, stamp_ns, raw CDR bytes) of the given connections, in time order."""
        wanted = [self._by_id[c.id][1] for c in connections]
        if not wanted:
            return  # rosbags reads every topic for an empty list
        for raw, stamp_ns, data in self._reader.messages(connections=wanted):
            yield self._by_id[raw.id][0], stamp_ns, data

    def close(self) -> None:
        self._reader.close()


class Rosbag2PyReader:
    """ROS 2's rosbag2_py SequentialReader (or its compression reader) behind the interface."""

    name = 'rosbag2_py'

    def __init__(self, path: Path):
        import rosbag2_py
        self.path = path
        if _missing_metadata(path):
            raise BagReadError(f'{path} has no metadata.yaml: reindex() it first')
        storage_id, compression_mode = _storage_of(path)
        reader_class = (rosbag2_py.SequentialCompressionReader if compression_mode
                        else rosbag2_py.SequentialReader)
        self._reader = reader_class()
        try:
            self._reader.open(rosbag2_py.StorageOptions(uri=str(path), storage_id=storage_id),
                              rosbag2_py.ConverterOptions('', ''))
            metadata = self._reader.get_metadata()
        except Exception as error:  # RuntimeError from the C++ side, with rosbag2's message
            raise BagReadError(f'cannot read bag {path}: {error}') from None
        self._custom = dict(getattr(metadata, 'custom_data', None) or {})  # Humble: none
        definitions = self._definitions()
        counts = {info.topic_metadata.name: info.message_count
                  for info in metadata.topics_with_message_count}
        self.connections = [
            Connection(index, topic.name, topic.type, counts.get(topic.name, 0),
                       definitions.get(topic.type, ''))
            for index, topic in enumerate(self._reader.get_all_topics_and_types())]
        self._by_topic = {c.topic: c for c in self.connections}

    def _definitions(self) -> dict:
        """Type name -> definition text; Humble's reader has no definitions to give."""
        get = getattr(self._reader, 'get_all_message_definitions', None)
        if get is None:
            return {}
        try:
            return {d.topic_type: d.encoded_message_definition for d in get()
                    if d.encoding == 'ros2msg'}
        except Exception:  # a storage without definitions: the layout check is skipped
            return {}

    @property
    def custom_data(self) -> dict:
        return dict(self._custom)

    def messages(self, connections) -> Iterator[tuple]:
        """(connection, stamp_ns, raw CDR bytes) in time order.

        Raises BagReadError for a bag that ends before the messages its metadata counts:
        rosbag2's mcap storage reads a truncated file up to the damage without a word.
        """
        import rosbag2_py
        topics = [c.topic for c in connections]
        if not topics:
            return
        self._reader.set_filter(rosbag2_py.StorageFilter(topics=topics))
        self._reader.seek(0)  # each call reads from the start
        read = dict.fromkeys(topics, 0)
        while self._reader.has_next():
            topic, data, stamp_ns = self._reader.read_next()
            read[topic] += 1
            yield self._by_topic[topic], stamp_ns, bytes(data)
        short = [f'{topic}: {read[topic]} of {self._by_topic[topic].msgcount}'
                 for topic in topics if read[topic] < self._by_topic[topic].msgcount]
        if short:
            raise BagReadError(f'it ends early (messages read of those its metadata counts: '
                               f'{", ".join(short)})')

    def close(self) -> None:
        close = getattr(self._reader, 'close', None)  # Humble's readers close when collected
        if close is not None:
            close()


def _storage_of(path: Path) -> tuple:
    """(storage plugin, compression mode) from metadata.yaml, or the file's suffix."""
    import yaml
    if path.is_file():
        return STORAGE_BY_SUFFIX.get(path.suffix, ''), ''
    try:
        document = yaml.safe_load((path / 'metadata.yaml').read_text('utf-8'))
        info = document['rosbag2_bagfile_information']
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise BagReadError(f'bag {path}: unreadable metadata.yaml: {error}') from None
    return str(info.get('storage_identifier', '')), str(info.get('compression_mode', '') or '')
