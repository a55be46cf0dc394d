"""Helpers for the explorer's tests: small recorded sessions, tiny checkpoints, a live server."""

import contextlib
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np

from devrobot_core.bags.session_bag import SessionBagWriter
from devrobot_core.motor import MotorOutcome, MotorStatus
from devrobot_sim.sim_robot import SimRobot
from devrobot_sim.toroidal_dot import ToroidalDotConfig

IMAGE_SIZE = 16
TINY_FLAGS = ['--cnn-patch-size', '4', '--cnn-channels', '8', '--cnn-encoder-blocks', '1',
              '--cnn-decoder-blocks', '1', '--tf-dim', '8', '--tf-depth', '1', '--tf-heads', '2',
              '--batch-size', '4', '--warmup-transitions', '4', '--augment-shift-px', '2']


def sim_robot(seed=0, size=IMAGE_SIZE, distractor=False):
    return SimRobot(ToroidalDotConfig(image_size=size, dot_radius=1, move_pixels=3, seed=seed,
                                      distractor=distractor, distractor_size=4))


def record_session(path, steps=12, seed=0, size=IMAGE_SIZE, stopped_at=(), distractor=False):
    """A session bag of the small dot world; steps in `stopped_at` end STOPPED (with a reason).

    Returns the robot's action space.
    """
    robot = sim_robot(seed, size, distractor)
    rng = np.random.default_rng(seed)
    with SessionBagWriter(path, robot.robot_type, robot.action_space) as writer:
        writer.write_frame(robot.read())
        for step in range(steps):
            command = robot.action_space[int(rng.integers(len(robot.action_space)))].stamped(
                robot.clock.now_ns())
            outcome = robot.send(command)
            if step in stopped_at:
                outcome = MotorOutcome(command, outcome.left, outcome.right, outcome.start_ns,
                                       outcome.end_ns, MotorStatus.STOPPED, 'stop requested')
            writer.write_step(command, outcome, robot.read())
    return robot.action_space


def train_checkpoint(bag, out, extra=()):
    """A real learner checkpoint (tiny model) in `out/checkpoints`, by `devrobot train`."""
    import argparse

    from devrobot_world_model.commands import train_command
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    args = parser.parse_args(['--bag', str(bag), '--out', str(out), '--json'] + TINY_FLAGS
                             + list(extra))
    assert train_command.main(args) == 0
    return Path(out) / 'checkpoints'


def folder_digest(folder) -> str:
    """One hash over every file's path, size, time and bytes below `folder`."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            stat = path.stat()
            digest.update(f'{path}:{stat.st_size}:{stat.st_mtime_ns}'.encode())
            digest.update(path.read_bytes())
        digest.update(f'{root}:{sorted(dirs)}'.encode())
    return digest.hexdigest()


def wait_until(condition, timeout=30.0, period=0.05, message='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f'timed out after {timeout} s waiting for {message}')


def mcap_file(bag) -> Path:
    return next(Path(bag).glob('*.mcap'))


def data_section_end(data: bytes) -> int:
    """Where a finished MCAP's data section ends (its DataEnd record starts)."""
    from devrobot_world_model.explorer.mcap_tail import MAGIC, RECORD_HEADER
    offset = len(MAGIC)
    while True:
        opcode, length = RECORD_HEADER.unpack_from(data, offset)
        if opcode == 0x0F:
            return offset
        offset += RECORD_HEADER.size + length


def rechunked(path, chunk_bytes: int) -> bytes:
    """The messages of an MCAP file written again in chunks of about `chunk_bytes`.

    A recorder that flushes small chunks often produces this; rosbags' writer closes a chunk
    every MiB, which for 16-px frames is about 900 steps.
    """
    import io

    from mcap.writer import Writer

    from devrobot_world_model.explorer.mcap_tail import McapTail
    tail, buffer = McapTail(path), io.BytesIO()
    writer = Writer(buffer, chunk_size=chunk_bytes)
    writer.start(profile='ros2')
    schemas, channels = {}, {}
    for ref in tail.poll():
        info = tail.channels[ref.channel]
        if info.id not in channels:
            schemas[info.id] = writer.register_schema(info.msgtype, info.schema_encoding,
                                                      info.schema_data)
            channels[info.id] = writer.register_channel(info.topic, info.encoding,
                                                        schemas[info.id])
        writer.add_message(channels[info.id], log_time=ref.log_time, data=tail.read(ref),
                           publish_time=ref.log_time)
    writer.finish()
    return buffer.getvalue()


class GrowingBag:
    """A copy of a finished bag written out piece by piece, as a recorder would.

    The folder has no metadata.yaml (rosbag2 writes it on close) and the file no summary until
    `finish()`; `grow(fraction)` appends bytes up to that fraction of the data section, cutting
    records anywhere.
    """

    def __init__(self, source_bag, target_bag, chunk_bytes=None):
        self.data = mcap_file(source_bag).read_bytes() if chunk_bytes is None else \
            rechunked(mcap_file(source_bag), chunk_bytes)
        self.metadata = (Path(source_bag) / 'metadata.yaml').read_text()
        self.folder = Path(target_bag)
        self.folder.mkdir(parents=True)
        self.path = self.folder / f'{self.folder.name}.mcap'
        self.end = data_section_end(self.data)
        self.written = 0
        self.path.write_bytes(b'')

    def grow(self, fraction: float) -> None:
        upto = int(self.end * fraction)
        if upto > self.written:
            with open(self.path, 'ab') as stream:
                stream.write(self.data[self.written:upto])
            self.written = upto

    def finish(self) -> None:
        with open(self.path, 'ab') as stream:
            stream.write(self.data[self.written:])
        self.written = len(self.data)
        (self.folder / 'metadata.yaml').write_text(self.metadata)


@contextlib.contextmanager
def running_server(explorer):
    """Serve `explorer` on a free local port in a thread; yields the base URL."""
    import uvicorn

    from devrobot_world_model.explorer.server import build_app

    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(build_app(explorer), log_level='warning',
                                           lifespan='off'))
    thread = threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True)
    explorer.start()
    thread.start()
    wait_until(lambda: server.started, 10, message='the server to start')
    try:
        yield f'http://127.0.0.1:{sock.getsockname()[1]}'
    finally:
        server.should_exit = True
        thread.join(10)
        explorer.stop()
        sock.close()
