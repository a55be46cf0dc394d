"""Read an MCAP file record by record, up to its last whole record, and again as it grows.

A bag being recorded has no summary section and no footer yet, and its last chunk may be cut
short; readers that start from the summary (rosbags, mcap's seeking reader) refuse it. `McapTail`
walks the data section from the start instead, remembers where the last whole record ended, and
on the next `poll()` continues from there. Message payloads are not kept: each message is a
`MessageRef` (where its bytes are), and `read(ref)` fetches them when they are needed, through a
small cache of decompressed chunks. Record contents are parsed with the `mcap` package's record
classes; decompression is the `mcap` package's too.

The file is only ever opened for reading.
"""

from __future__ import annotations

import collections
import io
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from mcap.data_stream import ReadDataStream
from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Schema
from mcap.stream_reader import get_chunk_data_stream

MAGIC = b'\x89MCAP0\r\n'
RECORD_HEADER = struct.Struct('<BQ')  # opcode, content length
MESSAGE_HEADER = struct.Struct('<HIQQ')  # channel id, sequence, log time, publish time
MAX_RECORD_BYTES = 1 << 31  # a longer record in a growing file is damage, not data in flight
CHUNK_CACHE = 8  # decompressed chunks kept for reading frames (neighbours share chunks)


class McapTailError(Exception):
    """The file is not MCAP, or its records are damaged; the message says where."""


class MessageRef(NamedTuple):
    """Where one message's serialised bytes are: in a chunk (`chunk` >= 0) or in the file."""

    channel: int
    log_time: int
    chunk: int  # file offset of the chunk record, -1 for a message outside chunks
    start: int  # offset of the payload in the decompressed chunk (or in the file)
    length: int


@dataclass
class ChannelInfo:
    """A channel and its schema's name (the ROS message type, e.g. sensor_msgs/msg/Image)."""

    id: int
    topic: str
    msgtype: str
    schema_data: bytes
    encoding: str  # of the messages: cdr for ROS 2
    schema_encoding: str = ''  # ros2msg or ros2idl


class McapTail:
    """Incremental reader of one MCAP file; `poll()` returns the messages new since last time.

    `finished` turns True once the data section ends (DataEnd or Footer): nothing more will
    come. `channels` grows as channel records are read.
    """

    def __init__(self, path, chunk_cache: int = CHUNK_CACHE):
        self.path = Path(path)
        self.offset = 0  # where the next unread record starts (0: the magic is unread)
        self.finished = False
        self.channels: dict = {}
        self._schemas: dict = {}
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_size = chunk_cache
        self._lock = threading.RLock()  # the follower polls while requests read frames
        self._last_size = 0  # decompressed size of the record just read
        self._pinned: dict = {}  # chunks of the last poll, kept until the next one

    def size(self) -> int:
        return self.path.stat().st_size

    def poll(self, max_bytes: int | None = None) -> list:
        """Read the whole records written since the last call; the new messages, in order.

        `max_bytes` stops after about that many bytes of (decompressed) records, at least one
        record, so a large file is indexed in slices and frames can be read in between.
        """
        with self._lock:
            return [] if self.finished else self._poll(max_bytes)

    def _poll(self, max_bytes: int | None) -> list:
        messages = []
        for offset, data in self._pinned.items():
            self._remember(offset, data)
        self._pinned = {}
        with open(self.path, 'rb') as stream:
            end = stream.seek(0, io.SEEK_END)
            if self.offset == 0:
                if end < len(MAGIC):
                    return []
                stream.seek(0)
                if stream.read(len(MAGIC)) != MAGIC:
                    raise McapTailError(f'{self.path} is not an MCAP file (wrong magic bytes)')
                self.offset = len(MAGIC)
            budget = max_bytes if max_bytes is not None else float('inf')
            while not self.finished and end - self.offset >= RECORD_HEADER.size and budget > 0:
                stream.seek(self.offset)
                opcode, length = RECORD_HEADER.unpack(stream.read(RECORD_HEADER.size))
                if length > MAX_RECORD_BYTES:
                    raise McapTailError(f'{self.path}: a record at byte {self.offset} claims '
                                        f'{length} bytes; the file is damaged')
                if end - self.offset - RECORD_HEADER.size < length:
                    break  # the writer has not finished this record yet
                content = stream.read(length)
                messages += self._record(opcode, content, self.offset)
                self.offset += RECORD_HEADER.size + length
                budget -= self._last_size or length
        return messages

    def trailing_bytes(self) -> int:
        """Bytes after the last whole record: a record still being written, or a cut-off one."""
        return max(0, self.size() - max(self.offset, len(MAGIC)))

    # -- records --------------------------------------------------------------------------

    def _record(self, opcode: int, content: bytes, offset: int) -> list:
        self._last_size = 0
        try:
            if opcode == Opcode.CHUNK:
                return self._chunk(content, offset)
            if opcode == Opcode.MESSAGE:
                channel, _, log_time, _ = MESSAGE_HEADER.unpack_from(content)
                start = offset + RECORD_HEADER.size + MESSAGE_HEADER.size
                return [MessageRef(channel, log_time, -1, start,
                                   len(content) - MESSAGE_HEADER.size)]
            if opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                self._definition(opcode, content)
            elif opcode in (Opcode.DATA_END, Opcode.FOOTER):
                self.finished = True
        except (McapError, struct.error, ValueError, UnicodeDecodeError, EOFError) as error:
            raise McapTailError(f'{self.path}: damaged {_name(opcode)} record at byte '
                                f'{offset}: {error or type(error).__name__}') from None
        return []

    def _definition(self, opcode: int, content: bytes) -> None:
        stream = ReadDataStream(io.BytesIO(content))
        if opcode == Opcode.SCHEMA:
            schema = Schema.read(stream)
            self._schemas[schema.id] = schema
            return
        channel = Channel.read(stream)
        schema = self._schemas.get(channel.schema_id)
        self.channels[channel.id] = ChannelInfo(
            channel.id, channel.topic, schema.name if schema else '',
            schema.data if schema else b'', channel.message_encoding,
            schema.encoding if schema else '')

    def _chunk(self, content: bytes, offset: int) -> list:
        data = self._decompress(content)
        self._last_size = len(data)
        self._pinned[offset] = data
        messages, position = [], 0
        while position + RECORD_HEADER.size <= len(data):
            opcode, length = RECORD_HEADER.unpack_from(data, position)
            body = position + RECORD_HEADER.size
            if body + length > len(data):
                raise ValueError('a record runs past the end of its chunk')
            if opcode == Opcode.MESSAGE:
                channel, _, log_time, _ = MESSAGE_HEADER.unpack_from(data, body)
                messages.append(MessageRef(channel, log_time, offset,
                                           body + MESSAGE_HEADER.size,
                                           length - MESSAGE_HEADER.size))
            elif opcode in (Opcode.SCHEMA, Opcode.CHANNEL):
                self._definition(opcode, bytes(data[body:body + length]))
            position = body + length
        return messages

    @staticmethod
    def _decompress(content: bytes) -> bytes:
        chunk = Chunk.read(ReadDataStream(io.BytesIO(content)))
        stream, length = get_chunk_data_stream(chunk)
        if length != chunk.uncompressed_size:
            raise ValueError(f'it decompresses to {length} bytes, its record says '
                             f'{chunk.uncompressed_size}')
        return stream.read(length) if length else b''

    # -- payloads -------------------------------------------------------------------------

    def read(self, ref: MessageRef, limit: int | None = None) -> bytes:
        """The serialised message `ref` points at (its first `limit` bytes when given)."""
        with self._lock:
            return self._read(ref, ref.length if limit is None else min(limit, ref.length))

    def _read(self, ref: MessageRef, length: int) -> bytes:
        if ref.chunk < 0:
            with open(self.path, 'rb') as stream:
                stream.seek(ref.start)
                return stream.read(length)
        data = self._pinned.get(ref.chunk) or self._cache.get(ref.chunk)
        if data is None:
            with open(self.path, 'rb') as stream:
                stream.seek(ref.chunk)
                _, record_length = RECORD_HEADER.unpack(stream.read(RECORD_HEADER.size))
                data = self._decompress(stream.read(record_length))
            self._remember(ref.chunk, data)
        elif ref.chunk in self._cache:
            self._cache.move_to_end(ref.chunk)
        return data[ref.start:ref.start + length]

    def _remember(self, offset: int, data: bytes) -> None:
        self._cache[offset] = data
        self._cache.move_to_end(offset)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def check_start(path) -> None:
    """Raise McapTailError when `path` has begun with anything but the MCAP magic bytes."""
    path = Path(path)
    with open(path, 'rb') as stream:
        start = stream.read(len(MAGIC))
    if start != MAGIC[:len(start)]:
        raise McapTailError(f'{path} is not an MCAP file (wrong magic bytes)')


def check_complete(path) -> None:
    """Raise McapTailError unless `path` is a whole MCAP file (magic, records, footer, magic).

    Only the record headers are read (contents are skipped by seeking), so this is quick even
    for a large file; damage inside a compressed chunk shows only when it is read.
    """
    path = Path(path)
    with open(path, 'rb') as stream:
        end = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        if stream.read(len(MAGIC)) != MAGIC:
            raise McapTailError(f'{path} is not an MCAP file (wrong magic bytes)')
        offset = len(MAGIC)
        while True:
            header = stream.read(RECORD_HEADER.size)
            if len(header) < RECORD_HEADER.size:
                raise McapTailError(f'{path} is truncated: it ends at byte {end} without a '
                                    'footer (its recording was cut off)')
            opcode, length = RECORD_HEADER.unpack(header)
            if offset + RECORD_HEADER.size + length > end:
                raise McapTailError(f'{path} is truncated or damaged: the {_name(opcode)} '
                                    f'record at byte {offset} runs past the end of the file')
            offset += RECORD_HEADER.size + length
            stream.seek(offset)
            if opcode == Opcode.FOOTER:
                break
        if stream.read(len(MAGIC)) != MAGIC:
            raise McapTailError(f'{path} is damaged: no closing magic bytes after its footer')


def _name(opcode: int) -> str:
    try:
        return Opcode(opcode).name.lower()
    except ValueError:
        return f'unknown (opcode {opcode})'
