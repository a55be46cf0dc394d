"""JPEG decoding and image saving with whichever of OpenCV or Pillow is installed.

The JetBot package must run without torch, so it cannot count on Pillow arriving with
torchvision; either library will do, and a clear message says how to get one.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

import numpy as np

MISSING_LIBRARY = ('decoding and saving JetBot images needs OpenCV or Pillow: '
                   'pip install opencv-python (or pillow), or apt install python3-opencv')


def _cv2():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def decode_jpeg_base64(text) -> np.ndarray:
    """rgb8 `[H, W, 3]` from base64 JPEG text (what the robot service returns)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError) as error:
        raise ValueError(f'camera frame is not valid base64: {error}') from None
    return decode_jpeg(data)


def decode_jpeg(data: bytes) -> np.ndarray:
    cv2 = _cv2()
    if cv2 is not None:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError('camera frame is not a decodable JPEG')
        return np.ascontiguousarray(bgr[:, :, ::-1])
    image_module = _pil_image()
    if image_module is None:
        raise RuntimeError(MISSING_LIBRARY)
    try:
        with image_module.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert('RGB'), dtype=np.uint8).copy()
    except OSError as error:
        raise ValueError(f'camera frame is not a decodable JPEG: {error}') from None


def save_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an rgb8 image (PNG or JPEG by suffix); returns the path."""
    path = Path(path)
    cv2 = _cv2()
    if cv2 is not None:
        if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
            raise OSError(f'could not write {path}')
        return path
    image_module = _pil_image()
    if image_module is None:
        raise RuntimeError(MISSING_LIBRARY)
    image_module.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path)
    return path
