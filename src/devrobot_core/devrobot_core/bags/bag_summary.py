"""Whether an mcap file's summary (the index rosbags and ROS 2 read) matches its chunks.

rosbags and ROS 2's readers take the schemas, the channels, where the chunks lie and how many
messages each holds from the summary at the end of the file, not from the chunks. A summary
with a flipped bit makes them read less, or fail, so bag_scan compares every summary record
with what the scan found in the data.
"""

from __future__ import annotations

import struct

from devrobot_core.bags.bag_scan import (
    BadRecord, Cursor, FOOTER_RECORD, MAGIC, McapScan, parse_channel, parse_schema, Schema)


def _summary(data, start: int, end: int) -> dict:
    """The records of the summary section: schemas, channels, chunk indexes, statistics."""
    found = {'records': [], 'chunk_indexes': [], 'statistics': None}
    pos = start
    while pos < end:
        cursor = Cursor(data, pos, end)
        op, length = cursor.unpack('<BQ')
        body = Cursor(data, cursor.pos, cursor.pos + length)
        if body.end > end:
            raise BadRecord('a summary record runs past the footer')
        if op == 0x03:
            found['records'].append(parse_schema(data, body.pos, body.end))
        elif op == 0x04:
            found['records'].append(parse_channel(data, body.pos, body.end))
        elif op == 0x08:
            start_ns, end_ns, offset, length_ = body.unpack('<QQQQ')
            offsets = body.take(body.u32())
            index = dict(struct.iter_unpack('<HQ', offsets)) if len(offsets) % 10 == 0 \
                else None
            index_length = body.u64()
            compression = body.text()
            compressed, size = body.unpack('<QQ')
            found['chunk_indexes'].append((offset, (start_ns, end_ns, length_, size,
                                                    compressed, compression), index,
                                           index_length))
        elif op == 0x0B:
            total = body.unpack('<QHIIIIQQ')
            per_channel = body.take(body.u32())
            found['statistics'] = (total[0], total[5], dict(struct.iter_unpack('<HQ', per_channel))
                                   if len(per_channel) % 10 == 0 else None)
        pos = body.end
    return found


def _index_counts(offset: int, length: int, index: dict, index_length: int) -> dict:
    """Messages per channel as rosbags infers them from a chunk index's offsets."""
    ordered = sorted((at, channel) for channel, at in index.items())
    ends = [at for at, _ in ordered[1:]] + [offset + length + index_length]
    return {channel: (end - at - 15) // 16 for (at, channel), end in zip(ordered, ends)
            if end - at - 15}


def summary_matches(data, scan: McapScan) -> bool:
    """Whether the summary of a finished file lists exactly the chunks and records found.

    Raises BadRecord when a summary record does not parse.
    """
    summary_start = scan.footer[0]
    footer_start = len(data) - len(MAGIC) - FOOTER_RECORD
    if summary_start == 0:  # no summary: readers scan the file, as this one does
        return True
    if not len(MAGIC) <= summary_start <= footer_start:
        return False
    found = _summary(data, summary_start, footer_start)
    for record in found['records']:
        known = scan.schemas if isinstance(record, Schema) else scan.channels
        if known.get(record.id) != record:
            return False
    if found['records'] and len(found['records']) != len(scan.schemas) + len(scan.channels):
        return False  # readers take the schemas and channels from the summary alone
    whole = {chunk.offset: chunk for chunk in scan.chunks if chunk.salvaged is None}
    indexes = found['chunk_indexes']
    if sorted(offset for offset, *_ in indexes) != sorted(whole):
        return False
    for offset, fields, index, index_length in indexes:
        chunk = whole[offset]
        if fields != (chunk.start_ns, chunk.end_ns, chunk.end - offset, chunk.uncompressed_size,
                      chunk.compressed_size, chunk.compression) or index is None or \
                index_length != chunk.index_end - chunk.end or \
                _index_counts(offset, fields[2], index, index_length) != chunk.counts:
            return False
    statistics = found['statistics']
    counts = {channel: n for channel, n in scan.counts.items()}
    return statistics is None or (
        statistics[0] == sum(counts.values()) and statistics[1] == len(whole)
        and statistics[2] is not None
        and {c: n for c, n in statistics[2].items() if n} == counts)
