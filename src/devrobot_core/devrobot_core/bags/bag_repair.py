"""Make a damaged, cut-short or unclosed mcap bag readable again, without ROS.

The bag's mcap file is scanned thoroughly (bag_scan): every whole message of every chunk that
checks out, and of a chunk cut off by the end of the file, is written into a new file beside
it, in rosbags' layout with a fresh index, synced, and renamed over the old one. Then
metadata.yaml is rebuilt from what was written, keeping the topic settings and custom data
of the old one where it is readable. When damaged chunks had to be dropped, the old file is
kept as `NAME.mcap.damaged` (a hard link: no copy). A bag still being recorded is refused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

from devrobot_core.bags.bag_chunks import ChunkedMcapWriter
from devrobot_core.bags.bag_health import check_bag, METADATA_FILE, METADATA_KEY
from devrobot_core.durable_files import lock_file, sync_folder, write_atomically
from devrobot_core.msg_types import MOTOR_COMMAND_TYPE, STRING_TYPE

CHUNK_BYTES = 1 << 20  # uncompressed bytes per chunk of a repaired file
METADATA_VERSION = 8  # for a bag whose metadata.yaml is lost (as devrobot records them)


class RepairError(Exception):
    """A bag that cannot be repaired; the message says why."""


@dataclass
class RepairReport:
    """What a repair did."""

    path: Path
    was_whole: bool  # nothing was wrong: nothing was written
    steps: int  # motor commands in the bag now
    expected_steps: int | None  # as the old metadata.yaml listed them (None: it was lost)
    messages: int
    dropped_chunks: int = 0
    original_kept: Path | None = None

    def line(self) -> str:
        if self.was_whole:
            return (f'bag {self.path} is whole ({self.steps} steps, {self.messages} messages): '
                    'nothing to repair')
        kept = (f'{self.steps} of {self.expected_steps} steps' if self.expected_steps is not None
                else f'{self.steps} steps (up to its last flush)')
        text = f'repaired bag {self.path}: {kept} and {self.messages} messages read back'
        if self.dropped_chunks:
            plural = 's' * (self.dropped_chunks > 1)
            text += f'; {self.dropped_chunks} damaged chunk{plural} dropped'
        if self.original_kept is not None:
            text += f'; the damaged original is kept as {self.original_kept.name}'
        return text


def _steps(health, counts: dict) -> int:
    return sum(n for c in health.connections if c.msgtype == MOTOR_COMMAND_TYPE
               for topic, n in counts.items() if topic == c.topic)


def _expected_steps(health) -> int | None:
    if health.metadata is None:
        return None
    return sum(int(entry['message_count']) for entry in health.metadata[
        'topics_with_message_count'] if entry['topic_metadata'].get('type') == MOTOR_COMMAND_TYPE)


def _type_hash(msgtype: str) -> str:
    from devrobot_core.msg_types import get_devrobot_typestore
    try:
        return get_devrobot_typestore().hash_rihs01(msgtype)
    except Exception:  # a type this workspace does not know: the bag still reads without it
        return ''


def _custom_data(health) -> dict | None:
    """The old metadata's custom data, or else devrobot's session info from its topic."""
    old = (health.metadata or {}).get('custom_data')
    if old:
        return dict(old)
    from devrobot_core.msg_types import get_devrobot_typestore
    from devrobot_core.bags.session_bag import SESSION_INFO_KEY, SESSION_INFO_TOPIC
    store = get_devrobot_typestore()
    for connection in health.connections:
        if connection.msgtype == STRING_TYPE and connection.topic.endswith(SESSION_INFO_TOPIC):
            try:
                for _id, _stamp, raw in health.messages([connection.id]):
                    return {SESSION_INFO_KEY: store.deserialize_cdr(raw, STRING_TYPE).data}
            except Exception:  # a damaged info message: the bag is still worth having
                return None
    return None


def _metadata(health, file_name: str, storage) -> dict:
    """metadata.yaml's bagfile information for the repaired file (rosbags' layout)."""
    old = health.metadata or {}
    old_topics = {entry['topic_metadata']['name']: entry['topic_metadata']
                  for entry in old.get('topics_with_message_count', [])}
    topics = []
    for connection in health.connections:
        topic = dict(old_topics.get(connection.topic) or {
            'name': connection.topic, 'type': connection.msgtype,
            'serialization_format': connection.message_encoding,
            'offered_qos_profiles': connection.qos,
            'type_description_hash': _type_hash(connection.msgtype)})
        topics.append({'topic_metadata': topic,
                       'message_count': storage.channel_stats[connection.id]})
    total = sum(storage.channel_stats.values())
    start = storage.message_start_time
    duration = max(0, storage.message_end_time - start)
    return {'version': old.get('version', METADATA_VERSION), 'storage_identifier': 'mcap',
            'relative_file_paths': [file_name], 'duration': {'nanoseconds': duration},
            'starting_time': {'nanoseconds_since_epoch': start}, 'message_count': total,
            'topics_with_message_count': topics, 'compression_format': '',
            'compression_mode': '',
            'files': [{'path': file_name, 'starting_time': {'nanoseconds_since_epoch': start},
                       'duration': {'nanoseconds': duration}, 'message_count': total}],
            'custom_data': _custom_data(health), 'ros_distro': old.get('ros_distro', 'rosbags')}


def _yaml(data: dict) -> str:
    from ruamel.yaml import YAML
    yaml = YAML(typ='safe')
    yaml.default_flow_style = False
    text = StringIO()
    yaml.dump(data, text)
    return text.getvalue()


def _write_repaired(health, temporary: Path) -> dict:
    """Every readable message into `temporary`; the bag's new metadata."""
    from rosbags.rosbag2.enums import CompressionMode

    storage = ChunkedMcapWriter(temporary.parent, CompressionMode.STORAGE, temporary.name)
    storage.sync = False  # one sync at the end is enough for a file renamed only then
    try:
        for c in health.connections:
            storage.add_channel_record(c.id, c.topic, c.message_encoding, c.metadata,
                                       c.msgtype, c.schema_encoding, c.msgdef)
        for connection_id, stamp_ns, data in health.messages([c.id for c in health.connections]):
            storage.write_message(connection_id, stamp_ns, data)
            if storage.pending_bytes >= CHUNK_BYTES:
                storage.flush()
        metadata = _metadata(health, health.files[0].name, storage)
        storage.close(metadata['version'], _yaml(metadata).strip())
    except BaseException:
        storage.abort()
        temporary.unlink(missing_ok=True)
        raise
    return metadata


def _keep_original(source: Path) -> Path:
    kept, n = source.with_name(source.name + '.damaged'), 1
    while kept.exists():
        n += 1
        kept = source.with_name(f'{source.name}.damaged{n}')
    try:
        os.link(source, kept)
    except OSError:  # a filesystem without hard links
        shutil.copy2(source, kept)
    return kept


def repair_bag(path) -> RepairReport:
    """Repair the bag folder at `path` in place; what was done (see the module docstring).

    Raises RepairError for what is not a repairable bag, OSError when writing fails (the
    bag is then as it was, apart from a temporary file removed again).
    """
    path = Path(path)
    if not path.is_dir():
        raise RepairError(f'no bag folder at {path}')
    health = check_bag(path, thorough=True)
    if health.storage == 'sqlite3':
        raise RepairError(f'bag {path} is stored in sqlite3: devrobot repair rebuilds mcap '
                          'bags (ros2 bag reindex handles sqlite3 ones)')
    if not health.files:
        raise RepairError(f'{path} holds no .mcap file to repair')
    if len(health.files) > 1:
        raise RepairError(f'bag {path} is split into {len(health.files)} files; devrobot '
                          'repair rebuilds bags of one file')
    source = health.files[0]
    if health.ok:
        return RepairReport(path, True, _steps(health, health.readable), _expected_steps(health),
                            sum(health.readable.values()))
    if not health.connections:
        raise RepairError(f'nothing in {source} can be read back: no channel record survived')
    with open(source, 'rb') as held:
        if not lock_file(held.fileno()):
            raise RepairError(f'bag {path} is still being recorded: stop the recording first')
        temporary = path / f'.{source.name}.repairing'
        temporary.unlink(missing_ok=True)  # left by a repair that was stopped
        metadata = _write_repaired(health, temporary)
        scan = health.scans[0]
        kept = _keep_original(source) if scan.damaged_chunks or scan.skipped_bytes else None
        os.replace(temporary, source)
        sync_folder(path)
        write_atomically(path / METADATA_FILE, _yaml({METADATA_KEY: metadata}))
    (path / (METADATA_FILE + '.tmp')).unlink(missing_ok=True)  # rosbags' leftover, if any
    counts = {entry['topic_metadata']['name']: entry['message_count']
              for entry in metadata['topics_with_message_count']}
    after = check_bag(path)
    if not after.ok:  # never claim a repair that does not read back
        raise RepairError(f'bag {path} still does not read back after the repair: '
                          f'{after.describe()}')
    return RepairReport(path, False, _steps(health, counts), _expected_steps(health),
                        metadata['message_count'], scan.damaged_chunks, kept)
