"""sensor_msgs/Image <-> numpy in the node shells: cv_bridge where it is installed.

cv_bridge (ROS's own converter, `ros-<distro>-cv-bridge`) turns whatever encoding a camera
sends (rgb8, bgr8, mono8, rgba8, bgra8, yuv422, ...) into the rgb8 pixels the world model
learns from, and builds the outgoing messages. Where it is absent (no ROS, the rclpy double,
a robot computer without it), the pure functions of `devrobot_core.conversions` do the same for
rgb8, bgr8, rgba8, bgra8 and mono8; bags are always read with those.

- `image_to_rgb(msg)`: uint8 `[H, W, 3]`, rgb order, whatever the message's encoding;
- `frame_from_image(msg)`: the same as a Frame stamped with the header's stamp;
- `build_image_msg(classes, pixels, stamp_ns, frame_id, encoding)`: an Image of `pixels` in
  `encoding` ('rgb8' for rgb pixels, 'bgr8' for a BGR camera's frames as they come).
Every failure is a ValueError naming what is wrong, so a shell drops the frame with one line.
"""

from __future__ import annotations

import functools

import numpy as np

from devrobot_core import conversions
from devrobot_core.motor import Frame

# What each published encoding needs of the pixels: uint8 with three channels.
PUBLISHED_ENCODINGS = ('rgb8', 'bgr8')


@functools.lru_cache(maxsize=None)
def cv_bridge():
    """The shared CvBridge; None where the package or its compiled part does not import."""
    try:
        from cv_bridge import CvBridge
        from cv_bridge.boost.cv_bridge_boost import cvtColor2  # noqa: F401 the compiled part
    except ImportError:
        return None
    return CvBridge()


def converter_name() -> str:
    """'cv_bridge' or 'devrobot_core.conversions': which one the shells use here."""
    return 'cv_bridge' if cv_bridge() is not None else 'devrobot_core.conversions'


def image_to_rgb(msg) -> np.ndarray:
    """The rgb8 pixels `[H, W, 3]` (uint8, contiguous) of an Image in any supported encoding."""
    bridge = cv_bridge()
    if bridge is None:
        return conversions.image_to_array(msg)
    from cv_bridge import CvBridgeError
    if int(msg.height) <= 0 or int(msg.width) <= 0:
        raise ValueError(f'image has no pixels: {msg.width}x{msg.height}')
    try:
        pixels = bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8')
    except (CvBridgeError, TypeError, ValueError, AttributeError) as error:
        # CvBridgeError: an encoding it cannot convert; TypeError: data shorter than the
        # size says ("buffer is too small")
        raise ValueError(f'cannot convert a {msg.width}x{msg.height} {msg.encoding!r} image '
                         f'to rgb8: {error}') from None
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def frame_from_image(msg) -> Frame:
    """A Frame of the image's rgb8 pixels, stamped with its header's stamp."""
    return Frame(image_to_rgb(msg), conversions.ns_from_time(msg.header.stamp))


def build_image_msg(classes, pixels: np.ndarray, stamp_ns: int,
                    frame_id: str = conversions.CAMERA_FRAME_ID, encoding: str = 'rgb8'):
    """An Image message (of `classes.image`) holding uint8 `[H, W, 3]` pixels as `encoding`."""
    if encoding not in PUBLISHED_ENCODINGS:
        raise ValueError(f'cannot publish {encoding!r}; expected one of '
                         f'{", ".join(PUBLISHED_ENCODINGS)}')
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f'expected uint8 pixels [H, W, 3], got {pixels.dtype} {pixels.shape}')
    bridge = cv_bridge()
    if bridge is None:
        msg = conversions.build_image(classes, pixels, stamp_ns, frame_id)
        msg.encoding = encoding  # same layout: three bytes a pixel, no padding
        return msg
    msg = bridge.cv2_to_imgmsg(np.ascontiguousarray(pixels), encoding=encoding)
    msg.header.stamp = classes.time(**conversions.time_fields(stamp_ns))
    msg.header.frame_id = frame_id
    return msg
