"""What of an mcap file can be read: a scan that trusts the chunks' own checks, not the index.

The scan walks the file record by record as its writer left it, so it needs no summary, no
footer and no metadata.yaml: it reads a bag that was killed while recording. Every chunk is
decompressed and checked (its size, its CRC-32 where the writer stored one, every record in
it whole, every message time within the chunk's). After a record that does not check out, the
scan searches on for the next chunk that does; a chunk cut off by the end of the file gives up
the whole messages it holds. The summary at the end, which rosbags' and ROS 2's readers rely
on, is checked against the chunks. Damage never raises here: `problems` describes it.
"""

from __future__ import annotations

import heapq
import mmap
import os
import struct
from binascii import crc32
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

try:
    from compression import zstd  # Python 3.14
except ImportError:
    from backports import zstd

MAGIC = b'\x89MCAP0\r\n'
OP_NAMES = {0x01: 'header', 0x02: 'footer', 0x03: 'schema', 0x04: 'channel', 0x05: 'message',
            0x06: 'chunk', 0x07: 'message index', 0x08: 'chunk index', 0x09: 'attachment',
            0x0A: 'attachment index', 0x0B: 'statistics', 0x0C: 'metadata',
            0x0D: 'metadata index', 0x0E: 'summary offset', 0x0F: 'data end'}
FOOTER_RECORD = 1 + 8 + 20
MAX_CHUNK_BYTES = 1 << 31  # an uncompressed chunk larger than this is taken for damage
PIECE = 1 << 16
NO_MESSAGES = 2 ** 63 - 1  # compressed bytes fed at a time when salvaging a cut-off chunk


class BadRecord(Exception):
    """A record that does not parse or check out; the message says how."""


class CutOff(BadRecord):
    """The file ends inside a record: the writer was stopped (or ran out of space) there."""


@dataclass(frozen=True)
class Schema:
    id: int
    name: str
    encoding: str
    data: str


@dataclass(frozen=True)
class Channel:
    id: int
    schema_id: int
    topic: str
    message_encoding: str
    metadata: bytes

    def qos_text(self) -> str:
        """The channel's `offered_qos_profiles` entry (how rosbag2 stores QoS), or ''."""
        try:
            cursor = Cursor(self.metadata, 0, len(self.metadata))
            while cursor.pos < cursor.end:
                key, value = cursor.text(), cursor.text()
                if key == 'offered_qos_profiles':
                    return value
        except BadRecord:
            pass
        return ''


@dataclass
class Chunk:
    """A chunk that checked out (or the readable start of one cut off by the end of file)."""

    offset: int  # of its record
    end: int  # where its record ends, by its own fields
    start_ns: int
    end_ns: int
    uncompressed_size: int
    crc: int
    compression: str
    compressed_size: int
    counts: dict  # channel id -> messages
    index_end: int = 0  # end of the message index records that follow it
    # channel id -> sorted (log time ns, offset in the uncompressed records) of its messages:
    # what the message index records after the chunk must list (ROS 2's reader follows them)
    message_index: dict = field(default_factory=dict)
    salvaged: list | None = None  # cut off: its whole messages, (log time, channel, data)


@dataclass
class McapScan:
    """Everything readable in one mcap file, and what is wrong with it."""

    path: Path
    size: int = 0
    schemas: dict = field(default_factory=dict)  # id -> Schema
    channels: dict = field(default_factory=dict)  # id -> Channel
    chunks: list = field(default_factory=list)  # Chunk, in file order
    loose: list = field(default_factory=list)  # unchunked messages: (time, channel, start, end)
    problems: list = field(default_factory=list)  # damage, one phrase each
    unfinished: list = field(default_factory=list)  # how its end shows it was not closed
    damaged_chunks: int = 0  # chunk records that failed their checks
    skipped_bytes: int = 0  # passed over between good records (not counting a cut-off end)
    cut_off: bool = False  # the file ends inside a record (killed or out of space while writing)
    finished: bool = False  # it ends with a footer and the magic
    footer: tuple = ()  # (summary start, summary offset start, summary crc)
    outside: list = field(default_factory=list)  # (offset, Schema or Channel) not in a chunk

    @property
    def counts(self) -> dict:
        """Readable messages per channel id."""
        counts = {}
        for chunk in self.chunks:
            for channel, n in chunk.counts.items():
                counts[channel] = counts.get(channel, 0) + n
        for _time, channel, _start, _end in self.loose:
            counts[channel] = counts.get(channel, 0) + 1
        return counts


class Cursor:
    """Reads little-endian fields from data[pos:end]; BadRecord past the end."""

    def __init__(self, data, pos: int, end: int):
        self.data, self.pos, self.end = data, pos, end

    def take(self, n: int):
        if self.pos + n > self.end:
            raise BadRecord('a field runs past the end of its record')
        start, self.pos = self.pos, self.pos + n
        return self.data[start:self.pos]

    def unpack(self, layout: str) -> tuple:
        return struct.unpack(layout, self.take(struct.calcsize(layout)))

    def u16(self) -> int:
        return self.unpack('<H')[0]

    def u32(self) -> int:
        return self.unpack('<I')[0]

    def u64(self) -> int:
        return self.unpack('<Q')[0]

    def blob(self) -> bytes:
        return bytes(self.take(self.u32()))

    def text(self) -> str:
        try:
            return self.blob().decode('utf-8')
        except UnicodeDecodeError:
            raise BadRecord('a text field is not UTF-8') from None


def parse_schema(data, start: int, end: int) -> Schema:
    cursor = Cursor(data, start, end)
    return Schema(cursor.u16(), cursor.text(), cursor.text(), cursor.text())


def parse_channel(data, start: int, end: int) -> Channel:
    cursor = Cursor(data, start, end)
    return Channel(cursor.u16(), cursor.u16(), cursor.text(), cursor.text(), cursor.blob())


def _add(scan: McapScan, records: Iterable) -> None:
    """Keep schemas and channels; the first of an id wins (chunks come before the summary)."""
    for record in records:
        known = scan.schemas if isinstance(record, Schema) else scan.channels
        if record.id not in known:
            known[record.id] = record
        elif known[record.id] != record:
            kind = 'schema' if isinstance(record, Schema) else 'channel'
            scan.problems.append(f'two different {kind} records say they are {record.id}')


# ---------------------------------------------------------------- chunks


def _decompressor(compression: str):
    if compression == 'zstd':
        return zstd.ZstdDecompressor()
    from lz4.frame import LZ4FrameDecompressor
    return LZ4FrameDecompressor()


def _decompress(compression: str, blob, size: int) -> bytes:
    """A whole chunk's records; BadRecord unless they decompress to exactly `size` bytes."""
    if not compression:
        return bytes(blob)
    decompressor = _decompressor(compression)
    try:
        raw = decompressor.decompress(blob, size + 1)
    except Exception as error:  # zstd and lz4 raise their own kinds
        raise BadRecord(f'a chunk does not decompress ({error})') from None
    if len(raw) != size or not decompressor.eof:
        raise BadRecord('a chunk decompresses to another size than it says')
    return raw


def _decompress_start(compression: str, blob, size: int) -> bytes:
    """What the start of a cut-off chunk decompresses to (at most `size` bytes)."""
    if not compression:
        return bytes(blob[:size])
    decompressor, raw = _decompressor(compression), bytearray()
    for start in range(0, len(blob), PIECE):
        try:
            raw += decompressor.decompress(blob[start:start + PIECE], size + 1 - len(raw))
        except Exception:  # the cut (or damage) ends what can be decoded
            break
        if len(raw) > size:
            break
    return bytes(raw[:size])


def _chunk_records(raw: bytes, start_ns: int, end_ns: int, whole: bool = True,
                   keep: bool = False) -> tuple:
    """(message counts per channel, schemas and channels, messages if `keep`, index).

    `index` maps channel id to the (log time, offset) of its messages in `raw`. `whole`: every
    record must parse (BadRecord otherwise); else stop at the first that does not (the
    readable start of a cut-off chunk).
    """
    counts, records, messages, index, pos = {}, [], [], {}, 0
    try:
        while pos < len(raw):
            if pos + 9 > len(raw):
                raise BadRecord('a chunk ends inside a record')
            op = raw[pos]
            (length,) = struct.unpack_from('<Q', raw, pos + 1)
            body, end = pos + 9, pos + 9 + length
            if end > len(raw):
                raise BadRecord('a record runs past the end of its chunk')
            if op == 0x05:
                if length < 22:
                    raise BadRecord('a message record too short for its fields')
                channel, _sequence, log_ns = struct.unpack_from('<HIQ', raw, body)
                if not start_ns <= log_ns <= end_ns:
                    raise BadRecord('a message time lies outside its chunk')
                counts[channel] = counts.get(channel, 0) + 1
                index.setdefault(channel, []).append((log_ns, pos))
                if keep:
                    messages.append((log_ns, channel, raw[body + 22:end]))
            elif op == 0x03:
                records.append(parse_schema(raw, body, end))
            elif op == 0x04:
                records.append(parse_channel(raw, body, end))
            elif op not in OP_NAMES and op < 0x80:
                raise BadRecord(f'an unknown record type 0x{op:02x} in a chunk')
            pos = end
    except BadRecord:
        if whole:
            raise
    return counts, records, messages, {channel: sorted(entries)
                                       for channel, entries in index.items()}


def _chunk_header(data, pos: int) -> tuple:
    """(start ns, end ns, uncompressed size, crc, compression, compressed size, data start)."""
    cursor = Cursor(data, pos + 9, len(data))
    start_ns, end_ns, size, crc = cursor.unpack('<QQQI')
    compression = cursor.text()
    if compression not in ('', 'zstd', 'lz4'):
        raise BadRecord('a chunk names an unknown compression')
    compressed = cursor.u64()
    empty = (start_ns, end_ns) == (NO_MESSAGES, 0)  # how rosbags stamps a chunk of no message
    if size > MAX_CHUNK_BYTES or (start_ns > end_ns and not empty) or \
            (not compression and compressed != size):
        raise BadRecord('a chunk header with impossible sizes or times')
    return start_ns, end_ns, size, crc, compression, compressed, cursor.pos


def _read_chunk(data, pos: int, keep: bool = False, check_crc: bool = True) -> tuple:
    """(Chunk, its schemas and channels, its messages if `keep`) of a whole chunk at `pos`.

    Raises BadRecord (CutOff when the file ends inside it) unless every check passes.
    """
    start_ns, end_ns, size, crc, compression, compressed, data_start = _chunk_header(data, pos)
    end = data_start + compressed
    if end > len(data):
        raise CutOff('the file ends inside a chunk')
    raw = _decompress(compression, data[data_start:end], size)
    if check_crc and crc and crc32(raw) != crc:
        raise BadRecord('a chunk fails its checksum')
    counts, records, messages, index = _chunk_records(raw, start_ns, end_ns, keep=keep)
    chunk = Chunk(pos, end, start_ns, end_ns, size, crc, compression, compressed, counts,
                  index_end=end, message_index=index)
    return chunk, records, messages


def _salvage_chunk(data, pos: int, scan: McapScan) -> None:
    """Keep the whole messages at the start of a chunk cut off by the end of the file."""
    try:
        start_ns, end_ns, size, crc, compression, _, data_start = _chunk_header(data, pos)
    except BadRecord:
        return
    raw = _decompress_start(compression, data[data_start:], size)
    counts, records, messages, _index = _chunk_records(raw, start_ns, end_ns, whole=False,
                                                       keep=True)
    _add(scan, records)
    if messages:  # its span is its first byte: a search may still find chunks after it
        scan.chunks.append(Chunk(pos, pos + 1, start_ns, end_ns, size, crc, compression, 0,
                                 counts, pos + 1, salvaged=messages))


def _next_chunk(data, start: int) -> int | None:
    """The offset of the next whole chunk at or after `start`, or None."""
    pos = start
    while True:
        pos = data.find(b'\x06', pos)
        if pos < 0:
            return None
        try:
            _read_chunk(data, pos)
            return pos
        except BadRecord:
            pos += 1


# ---------------------------------------------------------------- the walk


def _walk_chunk(data, pos: int, scan: McapScan) -> int:
    try:
        chunk, records, _ = _read_chunk(data, pos)
    except CutOff:
        _salvage_chunk(data, pos, scan)
        raise
    except BadRecord:
        scan.damaged_chunks += 1
        raise
    _add(scan, records)
    scan.chunks.append(chunk)
    (length,) = struct.unpack_from('<Q', data, pos + 1)
    if pos + 9 + length != chunk.end:  # the chunk checks out, its framing does not
        scan.problems.append(f'byte {pos}: a chunk record says a wrong length')
    return chunk.end


def _record(data, pos: int, scan: McapScan) -> int:
    """Take in the record at `pos`; return where the next one starts."""
    size = len(data)
    if pos + 9 > size:
        raise CutOff('the file ends inside a record')
    op = data[pos]
    if op == 0x06:
        return _walk_chunk(data, pos, scan)
    (length,) = struct.unpack_from('<Q', data, pos + 1)
    body, end = pos + 9, pos + 9 + length
    if end > size:
        if op in OP_NAMES:
            raise CutOff(f'the file ends inside a {OP_NAMES[op]} record')
        raise BadRecord(f'an unknown record type 0x{op:02x}')
    if op == 0x02:
        if length != 20 or end + len(MAGIC) != size or data[end:size] != MAGIC:
            raise BadRecord('a footer that is not at the end of the file')
        scan.footer = struct.unpack_from('<QQI', data, body)
        scan.finished = True
        return size
    if op == 0x03:
        scan.outside.append((pos, parse_schema(data, body, end)))
    elif op == 0x04:
        scan.outside.append((pos, parse_channel(data, body, end)))
    elif op == 0x05:
        if length < 22:
            raise BadRecord('a message record too short for its fields')
        channel, _sequence, log_ns = struct.unpack_from('<HIQ', data, body)
        scan.loose.append((log_ns, channel, body + 22, end))
    elif op == 0x07:
        cursor = Cursor(data, body, end)
        channel = cursor.u16()
        entries = cursor.u32()
        if 6 + entries != length or entries % 16:
            raise BadRecord('a message index of the wrong length')
        if scan.chunks and scan.chunks[-1].index_end == pos:
            chunk = scan.chunks[-1]
            chunk.index_end = end
            listed = sorted(struct.iter_unpack('<QQ', data[cursor.pos:end]))
            if listed != chunk.message_index.get(channel, []):
                scan.problems.append(f'byte {pos}: a message index that does not match its '
                                     'chunk')
    elif op == 0x01:
        if pos != len(MAGIC):
            raise BadRecord('a second header')
        profile = Cursor(data, body, end).text()
        if profile != 'ros2':  # what rosbag2 writes and rosbags insists on
            scan.problems.append(f'its header names the profile {profile!r}, not ros2')
    elif op not in OP_NAMES and op < 0x80:  # 0x80 and up: private records, to be skipped
        raise BadRecord(f'an unknown record type 0x{op:02x}')
    return end


def _walk(data, scan: McapScan) -> None:
    if data[:len(MAGIC)] != MAGIC or data[len(MAGIC):len(MAGIC) + 1] != b'\x01':
        scan.problems.append('it does not begin as an mcap file')
    pos = len(MAGIC)
    while pos < len(data):
        try:
            pos = _record(data, pos, scan)
        except BadRecord as bad:
            following = _next_chunk(data, pos + 1)
            if following is None and isinstance(bad, CutOff):
                scan.cut_off = True
                scan.unfinished.append(f'{bad} at byte {pos}')
                return
            scan.problems.append(f'byte {pos}: {bad}')
            if following is None:
                return
            scan.skipped_bytes += following - pos
            pos = following


def _search(data, scan: McapScan) -> None:
    """Find whole chunks the walk passed over (behind a record whose length was damaged)."""
    spans = sorted((c.offset, c.end) for c in scan.chunks)
    pos, found = len(MAGIC), []
    while True:
        candidate = _next_chunk(data, pos)
        if candidate is None:
            break
        inside = [end for start, end in spans if start <= candidate < end]
        if inside:
            pos = inside[0]
            continue
        chunk, records, _ = _read_chunk(data, candidate)
        _add(scan, records)
        found.append(chunk)
        pos = chunk.end
    if found:
        scan.chunks = sorted(scan.chunks + found, key=lambda chunk: chunk.offset)


def scan_mcap(path, thorough: bool = False) -> McapScan:
    """Scan one mcap file. `thorough`: after damage, also search the whole file for chunks.

    Raises OSError only when the file cannot be opened or read.
    """
    scan = McapScan(Path(path))
    with open(scan.path, 'rb') as stream:
        scan.size = os.fstat(stream.fileno()).st_size
        if scan.size == 0:
            scan.problems.append('the file is empty')
            return scan
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
            _walk(data, scan)
            if thorough and scan.problems:
                _search(data, scan)
            summary_start = scan.footer[0] if scan.finished and scan.footer[0] else scan.size
            _add(scan, [record for pos, record in scan.outside if pos < summary_start])
            if scan.finished:
                from devrobot_core.bags.bag_summary import summary_matches
                try:
                    matches = summary_matches(data, scan)
                except BadRecord:
                    matches = False
                if not matches:
                    scan.problems.append('its index (the summary at the end) does not match '
                                         'its chunks')
            elif data[-len(MAGIC):] == MAGIC:
                scan.problems.append('its end (the index) is damaged')
            else:
                scan.unfinished.append('it has no index')
            for _pos, record in scan.outside:  # the summary's copies, where nothing else is left
                known = scan.schemas if isinstance(record, Schema) else scan.channels
                known.setdefault(record.id, record)
    return scan


# ---------------------------------------------------------------- reading


def _chunk_messages(data, chunk: Chunk, wanted: set) -> Iterator[tuple]:
    """A sentinel at the chunk's start time, then its wanted messages in time order."""
    yield (chunk.start_ns, chunk.offset, -1, 0, b'')
    messages = chunk.salvaged
    if messages is None:  # the scan checked its CRC; sizes and records are checked again
        _chunk, _records, messages = _read_chunk(data, chunk.offset, keep=True,
                                                 check_crc=False)
    messages = sorted((m for m in messages if m[1] in wanted), key=lambda m: m[0])
    for order, (log_ns, channel, payload) in enumerate(messages):
        yield (log_ns, chunk.offset, order, channel, payload)


def iter_messages(scan: McapScan, channel_ids: Iterable[int]) -> Iterator[tuple]:
    """(log time ns, channel id, data) of every readable message on `channel_ids`, in time order.

    Decompresses one chunk at a time (those overlapping in time together). Raises BadRecord
    if the file changed since the scan, OSError if it cannot be read.
    """
    wanted = set(channel_ids)
    with open(scan.path, 'rb') as stream, \
            mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
        sources = [_chunk_messages(data, chunk, wanted) for chunk in scan.chunks
                   if wanted & set(chunk.counts)]
        loose = sorted((log_ns, 0, order, channel, data[start:end])
                       for order, (log_ns, channel, start, end) in enumerate(scan.loose)
                       if channel in wanted)
        for log_ns, _offset, order, channel, payload in heapq.merge(*sources, iter(loose)):
            if order >= 0:
                yield log_ns, channel, payload
