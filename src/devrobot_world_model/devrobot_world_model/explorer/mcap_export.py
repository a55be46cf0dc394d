"""One MCAP for Foxglove (or Rerun): a session's topics and, optionally, the model's pictures.

The session's messages are copied as they are (the same bytes, schemas and times). With a
model, each frame before a command also gets, at the frame's time:
- `/world_model/reconstruction` (sensor_msgs/Image, rgb8): the autoencoder's reconstruction;
- `/world_model/prediction/action_<i>` (sensor_msgs/Image, rgb8): the predicted next frame
  under action i of the action space, for every i;
- `/world_model/prediction_error` (std_msgs/Float64, at the next frame's time): pixel MSE of
  the prediction of the action taken, for steps with a frame after them.
Schemas are ROS 2 `ros2msg` text with CDR messages, which Foxglove and mcap-ros2-support decode.
The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from devrobot_core import conversions
from devrobot_core.msg_types import get_devrobot_typestore, IMAGE_TYPE

RECONSTRUCTION_TOPIC = '/world_model/reconstruction'
PREDICTION_TOPIC = '/world_model/prediction/action_{}'
ERROR_TOPIC = '/world_model/prediction_error'
FLOAT_TYPE = 'std_msgs/msg/Float64'
FRAME_ID = 'camera_optical_frame'


class McapExport:
    """Writes the output file; `copy_bag` then `add_predictions` per bag, then `close`."""

    def __init__(self, out: Path):
        from mcap.writer import CompressionType, Writer

        self.out = Path(out)
        self.temporary = self.out.with_name(self.out.name + '.tmp')
        self._stream = open(self.temporary, 'xb')
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile='ros2', library='devrobot export')
        self._store = get_devrobot_typestore()
        self._classes = conversions.rosbags_message_classes(self._store)
        self._schemas: dict = {}  # (name, encoding, data) -> schema id
        self._channels: dict = {}  # (topic, schema id) -> channel id
        self._sequence = 0
        self.messages = 0

    def _channel(self, topic: str, msgtype: str, data: bytes, encoding: str = 'ros2msg') -> int:
        key = (msgtype, encoding, data)
        if key not in self._schemas:
            self._schemas[key] = self._writer.register_schema(msgtype, encoding, data)
        schema = self._schemas[key]
        if (topic, schema) not in self._channels:
            self._channels[(topic, schema)] = self._writer.register_channel(topic, 'cdr', schema)
        return self._channels[(topic, schema)]

    def _generated(self, topic: str, msgtype: str) -> int:
        text, _ = self._store.generate_msgdef(msgtype, ros_version=2)
        return self._channel(topic, msgtype, text.encode())

    def _write(self, channel: int, stamp_ns: int, data: bytes) -> None:
        self._sequence += 1
        self._writer.add_message(channel, log_time=stamp_ns, data=data, publish_time=stamp_ns,
                                 sequence=self._sequence)
        self.messages += 1

    def copy_bag(self, bag) -> int:
        """Copy every message of a BagIndex's files (read again from the start); how many."""
        from devrobot_world_model.explorer.mcap_tail import McapTail

        copied = 0
        for file in bag.files:
            tail = McapTail(file)
            while True:
                refs = tail.poll(max_bytes=64 << 20)
                if not refs:
                    break
                for ref in refs:
                    info = tail.channels[ref.channel]
                    channel = self._channel(info.topic, info.msgtype, info.schema_data,
                                            info.schema_encoding or 'ros2msg')
                    self._write(channel, ref.log_time, tail.read(ref))
                    copied += 1
        return copied

    def _image(self, topic: str, pixels, stamp_ns: int) -> None:
        message = conversions.build_image(self._classes, pixels, stamp_ns, FRAME_ID)
        self._write(self._generated(topic, IMAGE_TYPE), stamp_ns,
                    bytes(self._store.serialize_cdr(message, IMAGE_TYPE)))

    def add_predictions(self, bag, view) -> int:
        """The model's pictures for every step of a BagIndex with a frame; how many steps."""
        done, seen = 0, set()
        for step in bag.steps:
            if step.frame is None or step.frame in seen:
                continue
            seen.add(step.frame)
            frames, actions, next_frame = bag.inputs(step, view.history)
            result = view.step_view(frames, actions[:-1], next_frame)
            stamp_ns = bag.frames[step.frame][0]
            self._image(RECONSTRUCTION_TOPIC, result.reconstruction, stamp_ns)
            for action, predicted in enumerate(result.predictions):
                self._image(PREDICTION_TOPIC.format(action), predicted, stamp_ns)
            if result.errors is not None and step.action is not None:
                message = self._store.types[FLOAT_TYPE](data=float(result.errors[step.action]))
                self._write(self._generated(ERROR_TOPIC, FLOAT_TYPE),
                            bag.frames[step.next_frame][0],
                            bytes(self._store.serialize_cdr(message, FLOAT_TYPE)))
            done += 1
        return done

    def close(self) -> Path:
        """Finish the file and move it into place."""
        self._writer.finish()
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        os.replace(self.temporary, self.out)
        return self.out

    def abandon(self) -> None:
        """Remove the partial file after a failure."""
        if not self._stream.closed:
            self._stream.close()
        self.temporary.unlink(missing_ok=True)
