"""Image messages <-> numpy in the shells: cv_bridge where it imports, the pure module elsewhere.

Every case runs against the pure conversions (through the rclpy double's message classes) and,
where ROS with cv_bridge is installed, against cv_bridge with the real message classes: both
must give the model the same rgb8 pixels whatever the camera sends.
"""

import numpy as np
import pytest
from devrobot_core.testing import rclpy_double

from devrobot_core.conversions import ros_message_classes
from devrobot_core.ros import image_bridge


def _has_cv_bridge() -> bool:
    image_bridge.cv_bridge.cache_clear()
    try:
        return image_bridge.cv_bridge() is not None
    finally:
        image_bridge.cv_bridge.cache_clear()


@pytest.fixture(params=['conversions', 'cv_bridge'])
def classes(request, monkeypatch):
    """The message classes to build with; the converter under test is the parameter."""
    if request.param == 'cv_bridge':
        if not _has_cv_bridge():
            pytest.skip('cv_bridge is not installed here')
        image_bridge.cv_bridge.cache_clear()
        return ros_message_classes()
    rclpy_double.install(monkeypatch)
    monkeypatch.setattr(image_bridge, 'cv_bridge', lambda: None)
    return ros_message_classes()


def _pixels(height=4, width=6):
    return np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)


def _message(classes, encoding, channels_last):
    """An Image of `encoding` built field by field, as a camera driver would."""
    height, width = channels_last.shape[:2]
    channels = 1 if channels_last.ndim == 2 else channels_last.shape[2]
    msg = classes.image(height=height, width=width, encoding=encoding, is_bigendian=0,
                        step=width * channels)
    msg.data = classes.byte_array(np.ascontiguousarray(channels_last).reshape(-1))
    return msg


@pytest.mark.parametrize('encoding, to_message', [
    ('rgb8', lambda rgb: rgb),
    ('bgr8', lambda rgb: rgb[:, :, ::-1]),
    ('rgba8', lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])),
    ('bgra8', lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
])
def test_every_camera_encoding_reaches_the_model_as_rgb8(classes, encoding, to_message):
    rgb = _pixels()
    pixels = image_bridge.image_to_rgb(_message(classes, encoding, to_message(rgb)))
    assert pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    assert np.array_equal(pixels, rgb)


def test_mono8_becomes_three_equal_channels(classes):
    gray = np.arange(24, dtype=np.uint8).reshape(4, 6)
    pixels = image_bridge.image_to_rgb(_message(classes, 'mono8', gray))
    assert pixels.shape == (4, 6, 3) and all(np.array_equal(pixels[:, :, c], gray)
                                             for c in range(3))


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8'])
def test_published_images_round_trip_with_stamp_and_frame(classes, encoding):
    rgb = _pixels()
    given = rgb if encoding == 'rgb8' else np.ascontiguousarray(rgb[:, :, ::-1])
    msg = image_bridge.build_image_msg(classes, given, 1_500_000_123, 'cam', encoding)
    assert msg.encoding == encoding and msg.step == 18 and msg.header.frame_id == 'cam'
    frame = image_bridge.frame_from_image(msg)
    assert frame.stamp_ns == 1_500_000_123 and np.array_equal(frame.pixels, rgb)


def test_what_cannot_be_converted_is_one_value_error(classes):
    unknown = _message(classes, 'rgb8', _pixels())
    unknown.encoding = '32FC7'
    with pytest.raises(ValueError, match='32FC7'):
        image_bridge.image_to_rgb(unknown)
    short = _message(classes, 'rgb8', _pixels())
    short.height = 40  # says more rows than the data holds
    with pytest.raises(ValueError):
        image_bridge.image_to_rgb(short)
    with pytest.raises(ValueError, match='mono8'):
        image_bridge.build_image_msg(classes, _pixels(), 0, 'cam', 'mono8')
    with pytest.raises(ValueError, match='uint8'):
        image_bridge.build_image_msg(classes, _pixels().astype(np.float32), 0)


def test_the_converter_in_use_is_named(monkeypatch):
    monkeypatch.setattr(image_bridge, 'cv_bridge', lambda: None)
    assert image_bridge.converter_name() == 'devrobot_core.conversions'
