"""Pictures for the explorer: PNG bytes, signed differences and heat maps; numpy and Pillow.

Images are uint8 `[H, W, 3]` throughout. PNGs are written with light compression: the
explorer sends several per step, and encoding time matters more than a few kilobytes.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

PNG_COMPRESSION = 1  # zlib level: 6x faster than the default at about 1.3x the size here
# A perceptually ordered dark-to-bright ramp (viridis' anchor colours), interpolated linearly.
RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                dtype=np.float32)


def png_bytes(pixels: np.ndarray) -> bytes:
    """A uint8 `[H, W, 3]` (or `[H, W]`) image as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format='PNG',
                                                       compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def difference_image(predicted: np.ndarray, actual: np.ndarray, gain: float = 2.0) -> np.ndarray:
    """Where a prediction is brighter than what happened (red) or darker (blue), uint8.

    The difference of the channel means, times `gain`, so faint errors stay visible; black is
    a perfect prediction.
    """
    if predicted.shape != actual.shape:
        raise ValueError(f'shapes differ: {predicted.shape} and {actual.shape}')
    signed = predicted.astype(np.float32).mean(-1) - actual.astype(np.float32).mean(-1)
    scaled = np.clip(np.abs(signed) * gain, 0, 255).astype(np.uint8)
    image = np.zeros(predicted.shape[:2] + (3,), np.uint8)
    image[..., 0] = np.where(signed > 0, scaled, 0)
    image[..., 2] = np.where(signed < 0, scaled, 0)
    return image


def mean_squared_error(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Pixel MSE with values scaled to [0, 1] (the scale `devrobot eval` reports)."""
    difference = predicted.astype(np.float32) - actual.astype(np.float32)
    return float(np.mean(difference * difference)) / (255.0 * 255.0)


def heat_map(values: np.ndarray, high: float | None = None) -> np.ndarray:
    """A 2-D array of non-negative values as a colour image `[H, W, 3]` (0 dark, high bright)."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f'a heat map needs a 2-D array, got shape {values.shape}')
    top = float(values.max()) if high is None else float(high)
    unit = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    position = unit * (len(RAMP) - 1)
    low = np.minimum(position.astype(np.int64), len(RAMP) - 2)
    weight = (position - low)[..., None]
    return (RAMP[low] * (1 - weight) + RAMP[low + 1] * weight).round().astype(np.uint8)


def enlarge(pixels: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of `[h, w, 3]` to about `size` px on its longer side."""
    h, w = pixels.shape[:2]
    factor = max(1, size // max(h, w))
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def overlay(frame: np.ndarray, heat: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """A coarse heat map `[h, w, 3]` stretched over `frame` `[H, W, 3]` and blended."""
    big = np.asarray(Image.fromarray(heat).resize(frame.shape[1::-1], Image.NEAREST))
    return (frame.astype(np.float32) * (1 - opacity) + big * opacity).round().astype(np.uint8)
