"""rosbags' mcap storage, written in small synced chunks that carry their checksums.

rosbags' own McapWriter keeps a chunk in memory until it reaches 1 MiB and writes through a
buffer, so a kill loses everything since the last full megabyte, and its chunks say CRC 0.
`ChunkedMcapWriter` keeps rosbags' record layout but writes a chunk only when `flush()` is
called (the session writer calls it on its time and size budget, between whole steps), syncs
it (at once, or later through `sync_to_disk()` when `sync` is off), and fills in the chunk's
CRC-32 so a reader can tell a damaged chunk. A flush that
fails (a full disk) is undone: the file is cut back to the last chunk that was written and the
counts forget the lost messages, so `close()` can still finish a bag of what is on disk.
"""

from __future__ import annotations

import struct
from binascii import crc32
from collections import defaultdict
from importlib.metadata import version
from io import BytesIO
from pathlib import Path

from rosbags.rosbag2.storage_mcap import (
    Channel, McapWriter, PendingChunk, Schema, write_channel, write_record, write_schema,
    write_string)

from devrobot_core.durable_files import StagedFile

MCAP_MAGIC = b'\x89MCAP0\r\n'
OP_HEADER = 0x01
CRC_OFFSET = 1 + 8 + 24  # opcode, record length, start time, end time, uncompressed size
NO_TIME = 2 ** 63 - 1


def _empty_chunk() -> PendingChunk:
    return PendingChunk(NO_TIME, 0, BytesIO(), defaultdict(list))


class ChunkedMcapWriter(McapWriter):
    """An mcap storage for rosbags' Writer whose chunks reach the disk when `flush()` says.

    `file_name` names the .mcap file inside the bag folder `path` (default: the folder's name,
    as rosbags does).
    """

    def __init__(self, path: Path, compression, file_name: str | None = None):
        # McapWriter.__init__ would open the file through a buffer; this one stages its bytes.
        self.path = Path(path) / (file_name or f'{Path(path).name}.mcap')
        self.bio = StagedFile(self.path)
        self.bio.write(MCAP_MAGIC)
        header = BytesIO()
        write_string(header, 'ros2')
        write_string(header, f'rosbags-{version("rosbags")}')
        write_record(self.bio, OP_HEADER, header)
        self.schemas: list = []
        self.channels: list = []
        self.chunks: list = []
        self.chunk = _empty_chunk()
        if compression.name == 'STORAGE':
            from rosbags.rosbag2.storage_mcap import zstd
            self.compression, self.compressor = 'zstd', zstd.compress
        else:
            self.compression, self.compressor = '', bytes
        self.message_start_time = NO_TIME
        self.message_end_time = 0
        self.channel_stats: dict = {}
        self.sync = True  # sync every flush; else the caller calls sync_to_disk()
        self._on_disk = self._state()

    # ------------------------------------------------------------ records

    def add_channel_record(self, channel_id: int, topic: str, message_encoding: str,
                           metadata: bytes, schema_name: str, schema_encoding: str,
                           schema_data: str) -> None:
        """Declare a channel with its exact metadata bytes (a repair keeps the original's)."""
        if not any(s.name == schema_name for s in self.schemas):
            self.schemas.append(Schema(len(self.schemas) + 1, schema_name, schema_encoding,
                                       schema_data))
            write_schema(self.chunk.bio, self.schemas[-1])
        self.channels.append(Channel(channel_id, schema_name, topic, message_encoding,
                                     metadata))
        self.channel_stats[channel_id] = 0
        write_channel(self.chunk.bio, self.channels[-1], self.schemas)

    def write(self, connection, timestamp: int, data) -> None:
        """Add a message to the pending chunk (McapWriter.write without its 1 MiB cut)."""
        self.write_message(connection.id, timestamp, data)

    def write_message(self, channel_id: int, timestamp: int, data) -> None:
        self.message_start_time = min(timestamp, self.message_start_time)
        self.message_end_time = max(timestamp, self.message_end_time)
        self.channel_stats[channel_id] += 1
        chunk = self.chunk
        chunk.message_start_time = min(timestamp, chunk.message_start_time)
        chunk.message_end_time = max(timestamp, chunk.message_end_time)
        chunk.msgs[channel_id].append((timestamp, chunk.bio.tell()))
        chunk.bio.write(b'\x05')
        chunk.bio.write(struct.pack('<QHIQQ', 22 + len(data), channel_id, 0, timestamp,
                                    timestamp))
        chunk.bio.write(data)

    # ------------------------------------------------------------ flushing

    @property
    def pending_bytes(self) -> int:
        """Uncompressed bytes waiting in memory for the next flush."""
        return self.chunk.bio.tell()

    def flush(self) -> None:
        """Write the pending chunk and its message index to the file (synced if `sync`).

        Raises OSError (e.g. ENOSPC) after undoing it: the file ends at the previous flush
        and the counts no longer include the pending messages.
        """
        if self.chunk.bio.tell():
            self.close_chunk()
        else:
            self._commit()

    def close_chunk(self) -> None:
        crc = crc32(self.chunk.bio.getbuffer())
        start = self.bio.tell()
        super().close_chunk()  # stages the chunk record (CRC 0), its indexes; a new chunk
        self.bio.patch(start + CRC_OFFSET, struct.pack('<I', crc))
        self._commit()

    def _state(self) -> tuple:
        return (len(self.chunks), dict(self.channel_stats), self.message_start_time,
                self.message_end_time)

    def _commit(self) -> None:
        try:
            self.bio.commit(sync=self.sync)
        except OSError:
            count, stats, start, end = self._on_disk
            del self.chunks[count:]
            self.channel_stats, self.message_start_time, self.message_end_time = \
                dict(stats), start, end
            self.chunk = _empty_chunk()
            raise
        self._on_disk = self._state()

    def sync_to_disk(self) -> None:
        """Sync what earlier flushes wrote (safe from another thread); OSError if it fails."""
        self.bio.sync()

    def close(self, version: int, metadata: str) -> None:
        """Flush, then write the summary and the footer (rosbags' layout) and sync them."""
        self.sync = True
        super().close(version, metadata)

    def abort(self) -> None:
        """Close without a summary: the file keeps what earlier flushes wrote."""
        self.bio.abort()
