"""Turning the learner's outputs into what the node publishes: images, scores, metric topics.

Pure numpy (no rclpy, no torch import): the node converts these plain values into messages.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

import numpy as np

METRICS_NAMESPACE = 'world_model/metrics'


def to_rgb8(image) -> np.ndarray:
    """uint8 `[H, W, 3]` of an image given as uint8 or float in [0, 1], `[H, W, 3]` or `[3, H, W]`.

    Accepts anything numpy can read (a CPU torch tensor included). Raises ValueError otherwise.
    """
    array = np.asarray(image)
    if array.ndim == 4 and array.shape[0] == 1:  # a batch of one
        array = array[0]
    if array.ndim != 3:
        raise ValueError(f'expected an image [H, W, 3] or [3, H, W], got shape {array.shape}')
    if array.shape[0] == 3 and array.shape[2] != 3:
        array = np.transpose(array, (1, 2, 0))
    if array.shape[2] != 3:
        raise ValueError(f'expected 3 colour channels, got shape {array.shape}')
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    scaled = np.nan_to_num(array.astype(np.float32), nan=0.0) * 255.0
    return np.ascontiguousarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def score_rows(inspected: Mapping) -> list:
    """(name, per-action values) rows of `world_model/scores`: the score, then each part.

    Parts the model lacks (None) are left out; a part not yet measured is NaN.
    """
    rows = [('score', [float(v) for v in inspected['scores']])]
    for name, values in (inspected.get('score_parts') or {}).items():
        if values is not None:
            rows.append((name, [float(v) for v in values]))
    return rows


def numeric_metrics(batches: Iterable[Mapping]) -> dict:
    """One flat dict of the numeric values in `batches` (later batches win on equal keys)."""
    merged = {}
    for metrics in batches:
        for key, value in (metrics or {}).items():
            if isinstance(value, (bool, np.bool_)):
                merged[key] = float(value)
            elif isinstance(value, (int, float, np.integer, np.floating)):
                merged[key] = float(value)
    return merged


def non_finite_keys(metrics: Mapping) -> list:
    return sorted(key for key, value in metrics.items() if not math.isfinite(value))


def metric_topic(key: str) -> str:
    """A valid ROS topic under world_model/metrics for a metric key like `train/recon_loss`.

    ROS names allow letters, digits, `_` and `/`; no token starts with a digit, and neither `__`
    nor `//` may appear.
    """
    tokens = []
    for token in key.split('/'):
        token = re.sub(r'[^A-Za-z0-9_]', '_', token)
        token = re.sub(r'_+', '_', token).strip('_')
        if not token:
            continue
        if token[0].isdigit():
            token = 'n' + token
        tokens.append(token)
    if not tokens:
        raise ValueError(f'metric key {key!r} has no usable characters')
    return METRICS_NAMESPACE + '/' + '/'.join(tokens)


def prediction_topic(action_index: int) -> str:
    return f'world_model/prediction/action_{action_index}'


def format_value(value: float) -> str:
    """Diagnostic key-values are strings: short and exact enough to read."""
    return f'{value:.6g}'
