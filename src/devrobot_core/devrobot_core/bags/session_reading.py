"""How session_bag reads a bag: its topics turned into Frame, MotorCommand and MotorOutcome.

mcap bags are checked first (bag_health): every chunk's CRC, the message counts against
metadata.yaml, the index. A damaged one is refused with DamagedBagError, or read in part when
asked, through that checked scan (`read_mcap`, reader 'bag_scan'); a whole one is read through
rosbag2_py where it imports, and through the scan elsewhere. Other storages (sqlite3, and
file-compressed bags where rosbag2_py reads them) go through rosbag2_py or rosbags
(`read_through`, bag_readers). Either way a message that does not decode is DamagedBagError,
never a traceback. Devrobot's own message types are checked against the definitions the bag
carries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from devrobot_core import conversions
from devrobot_core.bags.session_bag import (
    COMMAND_TOPIC, DamagedBagError, Event, IMAGE_TOPIC, SESSION_INFO_KEY, SESSION_INFO_TOPIC,
    SessionBagError, SessionInfo, STATE_TOPIC)
from devrobot_core.motor import action_space_from_dicts
from devrobot_core.msg_types import (
    get_devrobot_typestore, IMAGE_TYPE, MOTOR_COMMAND_TYPE, MOTOR_STATE_TYPE, STRING_TYPE)


def _topic_key(topic: str) -> str:
    return topic.lstrip('/')


def _pick_connection(connections: list, msgtype: str, topic: str, path: Path):
    """The connection of `msgtype` on `topic` (any namespace), or the only one of that type."""
    candidates = [c for c in connections if c.msgtype == msgtype]
    named = [c for c in candidates
             if _topic_key(c.topic) == _topic_key(topic)
             or c.topic.endswith(topic if topic.startswith('/') else '/' + topic)]
    chosen = named or candidates
    topics = sorted({c.topic for c in chosen})
    if len(topics) > 1:
        raise SessionBagError(f'bag {path} has several {msgtype} topics ({", ".join(topics)}); '
                              f'expected one named {topic}')
    return chosen


def _field_names(fields) -> list:
    return [name.lower() for name, _desc in fields]


def _check_layout(connection, store, path: Path) -> None:
    """Refuse a bag whose devrobot message fields differ from this workspace's .msg files.

    Compared by the definition text the bag carries (mcap schemas, newer sqlite3 bags); a bag
    without one is read with the current layout.
    """
    from rosbags.typesys import get_types_from_msg

    msgdef = connection.msgdef or ''
    if not msgdef.strip() or msgdef.startswith('=' * 80 + '\nIDL: '):
        return
    try:
        _consts, theirs = get_types_from_msg(msgdef, connection.msgtype)[connection.msgtype]
    except Exception:  # an unparsable definition: let decoding be the judge
        return
    _consts, ours = store.fielddefs[connection.msgtype]
    if _field_names(theirs) != _field_names(ours):
        raise SessionBagError(
            f'bag {path}: {connection.msgtype} on {connection.topic} was recorded with fields '
            f'{_field_names(theirs)}, but devrobot_interfaces now has {_field_names(ours)}')


def _decoders(connections: list, store, path: Path) -> dict:
    """Connection id -> (connection, function turning its raw message into an event)."""
    def decoder(msgtype, convert):
        return lambda raw: convert(store.deserialize_cdr(raw, msgtype))

    wanted = ((IMAGE_TYPE, IMAGE_TOPIC, conversions.frame_from_image),
              (MOTOR_COMMAND_TYPE, COMMAND_TOPIC, conversions.motor_command_from_msg),
              (MOTOR_STATE_TYPE, STATE_TOPIC, conversions.motor_outcome_from_msg))
    decoders = {}
    for msgtype, topic, convert in wanted:
        for connection in _pick_connection(connections, msgtype, topic, path):
            if msgtype != IMAGE_TYPE:
                _check_layout(connection, store, path)
            decoders[connection.id] = (connection, decoder(msgtype, convert))
    return decoders


def _info_connections(connections: list) -> list:
    return [c for c in connections if c.msgtype == STRING_TYPE
            and _topic_key(c.topic).endswith(_topic_key(SESSION_INFO_TOPIC))][:1]


def _parse_info(text: str | None, path: Path) -> dict | None:
    if text is None:
        return None
    try:
        info = json.loads(text)
        info['action_space'] = action_space_from_dicts(info.get('action_space', []) or [])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SessionBagError(f'bag {path}: unreadable session info: {error}') from None
    return info


def _session_info(path: Path, info: dict | None, counts: dict, damage: str,
                  reader: str) -> SessionInfo:
    info = info or {}
    return SessionInfo(path=path, robot_type=str(info.get('robot_type', '')),
                       action_space=tuple(info.get('action_space', ())),
                       config=dict(info.get('config', {})), message_counts=counts,
                       has_session_info=bool(info), damage=damage, reader=reader)


def damage_error(health) -> DamagedBagError:
    """The error for a damaged mcap bag, counting steps as motor commands."""
    readable = sum(health.readable.get(c.topic, 0) for c in health.connections
                   if c.msgtype == MOTOR_COMMAND_TYPE)
    expected = None
    if health.metadata is not None:
        expected = sum(int(entry['message_count'])
                       for entry in health.metadata['topics_with_message_count']
                       if entry['topic_metadata'].get('type') == MOTOR_COMMAND_TYPE)
    return DamagedBagError(health.path, health.describe(), readable, expected)


def read_mcap(health, allow_partial: bool) -> tuple:
    path, store = health.path, get_devrobot_typestore()
    if not health.ok and not allow_partial:
        raise damage_error(health)
    decoders = _decoders(health.connections, store, path)
    text = None
    for connection in _info_connections(health.connections):
        try:
            for _id, _stamp, raw in health.messages([connection.id]):
                text = store.deserialize_cdr(raw, STRING_TYPE).data
                break
        except Exception as error:  # a damaged bag read in part
            if not allow_partial:
                raise DamagedBagError(path, f'its session info does not decode: {error}') \
                    from None
    if text is None:
        text = ((health.metadata or {}).get('custom_data') or {}).get(SESSION_INFO_KEY)
    info = _parse_info(text, path)
    damage = '' if health.ok else damage_error(health).summary()
    return _session_info(path, info, dict(health.readable), damage, 'bag_scan'), \
        _mcap_events(health, decoders, allow_partial), decoders


def _mcap_events(health, decoders: dict, allow_partial: bool) -> Iterator[Event]:
    from devrobot_core.bags.bag_scan import BadRecord

    try:
        for connection_id, stamp_ns, raw in health.messages(decoders):
            connection, decode = decoders[connection_id]
            try:
                event = decode(raw)
            except Exception as error:  # rosbags' SerdeError, struct, value and index errors
                if allow_partial:
                    continue
                raise DamagedBagError(health.path, f'a {connection.msgtype} message on '
                                      f'{connection.topic} at {stamp_ns} ns does not decode: '
                                      f'{error}') from None
            yield event
    except (BadRecord, OSError) as error:
        raise DamagedBagError(health.path, f'it changed or failed while being read: '
                              f'{error}') from None


def _open(path: Path, reader: str):
    from devrobot_core.bags import bag_readers
    try:
        return bag_readers.open_bag(path, reader)
    except bag_readers.BagReadError as error:
        raise SessionBagError(str(error)) from None


def read_through(path: Path, reader: str) -> tuple:
    """A bag through rosbag2_py or rosbags (bag_readers), whatever its storage."""
    store = get_devrobot_typestore()
    opened = _open(path, reader)
    try:
        decoders = _decoders(opened.connections, store, path)
        text = None
        try:
            for _connection, _stamp, raw in opened.messages(
                    _info_connections(opened.connections)):
                text = store.deserialize_cdr(raw, STRING_TYPE).data
                break
        except Exception as error:
            raise SessionBagError(f'bag {path} is corrupt: {error}') from None
        if text is None:
            text = opened.custom_data.get(SESSION_INFO_KEY)
        counts = {c.topic: c.msgcount for c in opened.connections}
    finally:
        opened.close()
    info = _parse_info(text, path)
    return (_session_info(path, info, counts, '', reader), _events_through(path, reader, decoders),
            decoders)


def _events_through(path: Path, reader: str, decoders: dict) -> Iterator[Event]:
    opened = _open(path, reader)
    try:
        wanted = [c for c in opened.connections if c.id in decoders]
        messages = opened.messages(wanted)
        while True:
            try:
                connection, stamp_ns, raw = next(messages)
            except StopIteration:
                return
            except Exception as error:  # ReaderError, sqlite errors, a bag that ends early
                raise DamagedBagError(path, f'it is corrupt: {error}') from None
            try:
                yield decoders[connection.id][1](raw)
            except Exception as error:  # rosbags' SerdeError, struct, value and index errors
                raise DamagedBagError(path, f'a {connection.msgtype} message on '
                                      f'{connection.topic} at {stamp_ns} ns does not decode: '
                                      f'{error}') from None
    finally:
        opened.close()
