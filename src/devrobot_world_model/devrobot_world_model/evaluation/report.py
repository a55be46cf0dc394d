"""A run's report: learning curves from metrics.jsonl and what the model sees and predicts.

`write_report(run_dir, panel)` writes two files into the run folder:
- `report.html`, self-contained (inline SVG curves, the frame panel as an embedded PNG), opens
  in any browser without a server or network;
- `report_frames.png`: the current frame, its reconstruction and the predicted next frame for
  every action, side by side.

Only numpy and Pillow; no plotting library.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import os
import pathlib
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw

from devrobot_world_model.learning.metrics import METRICS_FILE, read_metrics

REPORT_FILE = 'report.html'
FRAMES_FILE = 'report_frames.png'
MAX_POINTS = 500  # per curve; longer runs are averaged into this many buckets
CHART_WIDTH, CHART_HEIGHT, MARGIN = 340, 170, 8
MIN_TILE_PX = 160  # small frames are enlarged (nearest neighbour) so the dot stays visible
LABEL_PX = 18


@dataclasses.dataclass
class FramePanel:
    """What the model makes of one frame: all uint8 `[H, W, 3]`."""

    current: np.ndarray
    reconstructed: np.ndarray
    predicted: Mapping[str, np.ndarray]  # action name -> predicted next frame


# -- curves ---------------------------------------------------------------------------------

def metric_series(records: list) -> dict:
    """Numeric metrics as `name -> (steps, values)` arrays; nulls, strings and bools skipped."""
    series = {}
    for record in records:
        step = record.get('step')
        for name, value in record.items():
            if name == 'step' or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            series.setdefault(name, ([], []))
            series[name][0].append(step)
            series[name][1].append(float(value))
    return {name: (np.asarray(steps, dtype=np.float64), np.asarray(values))
            for name, (steps, values) in series.items()}


def downsample(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> tuple:
    """At most `max_points` points: consecutive buckets averaged, order kept."""
    if len(steps) <= max_points:
        return steps, values
    buckets = np.array_split(np.arange(len(steps)), max_points)
    return (np.array([steps[b].mean() for b in buckets]),
            np.array([values[b].mean() for b in buckets]))


def svg_chart(name: str, steps: np.ndarray, values: np.ndarray) -> str:
    """One learning curve as an inline SVG; a log scale when positive values span 100x."""
    steps, values = downsample(steps, values)
    log_scale = bool((values > 0).all() and values.max() / values.min() > 100)
    shown = np.log10(values) if log_scale else values
    low, high = float(shown.min()), float(shown.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    first, last = float(steps.min()), float(steps.max())
    span = max(last - first, 1e-12)
    width, height = CHART_WIDTH - 2 * MARGIN, CHART_HEIGHT - 2 * MARGIN - 2 * LABEL_PX
    xs = MARGIN + (steps - first) / span * width if len(steps) > 1 else np.full(1, MARGIN)
    ys = MARGIN + LABEL_PX + (high - shown) / (high - low) * height
    points = ' '.join(f'{x:.1f},{y:.1f}' for x, y in zip(xs, ys))
    top = 10 ** high if log_scale else high
    bottom = 10 ** low if log_scale else low
    scale = ' (log)' if log_scale else ''
    return (f'<svg class="chart" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(name)}">'
            f'<rect width="100%" height="100%" fill="#fff" stroke="#ccc"/>'
            f'<text x="{MARGIN}" y="{MARGIN + 11}" font-size="12" font-weight="bold">'
            f'{html.escape(name)}{scale}</text>'
            f'<text x="{CHART_WIDTH - MARGIN}" y="{MARGIN + 11}" font-size="11" '
            f'text-anchor="end">last {_number(values[-1])}</text>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{points}"/>'
            f'<text x="{MARGIN}" y="{CHART_HEIGHT - MARGIN}" font-size="10">'
            f'step {int(first)}…{int(last)}</text>'
            f'<text x="{CHART_WIDTH - MARGIN}" y="{CHART_HEIGHT - MARGIN}" font-size="10" '
            f'text-anchor="end">{_number(bottom)} … {_number(top)}</text></svg>')


def _number(value: float) -> str:
    if value == 0 or (1e-3 <= abs(value) < 1e5):
        return f'{value:.4g}'
    return f'{value:.2e}'


# -- frames ---------------------------------------------------------------------------------

def frame_panel_image(panel: FramePanel) -> Image.Image:
    """Current | reconstructed | one prediction per action, each labelled above."""
    tiles = [('current', panel.current), ('reconstructed', panel.reconstructed)]
    tiles += [(f'predicted: {name}', frame) for name, frame in panel.predicted.items()]
    height, width = panel.current.shape[:2]
    zoom = max(1, math.ceil(MIN_TILE_PX / max(height, width)))
    tile_w, tile_h, gap = width * zoom, height * zoom, 4
    sheet = Image.new('RGB', (len(tiles) * (tile_w + gap) - gap, tile_h + LABEL_PX), 'white')
    draw = ImageDraw.Draw(sheet)
    for index, (label, frame) in enumerate(tiles):
        frame = np.asarray(frame)
        if frame.shape != panel.current.shape or frame.dtype != np.uint8:
            raise ValueError(f'{label}: expected uint8 {list(panel.current.shape)}, got '
                             f'{frame.dtype} {list(frame.shape)}')
        image = Image.fromarray(frame).resize((tile_w, tile_h), Image.NEAREST)
        left = index * (tile_w + gap)
        sheet.paste(image, (left, LABEL_PX))
        draw.text((left + 2, 3), label, fill='black')
    return sheet


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    return buffer.getvalue()


# -- the page -------------------------------------------------------------------------------

def write_report(run_dir: str | os.PathLike, panel: FramePanel | None = None,
                 title: str = 'devrobot run', sections: Mapping[str, str] | None = None
                 ) -> pathlib.Path:
    """Write `report.html` (and `report_frames.png` when given a panel); return the page's path.

    Curves come from `run_dir/metrics.jsonl` when it exists, grouped by namespace
    (`train/...`, `act/...`). `sections` adds preformatted text blocks (title -> text), such as
    the evaluation table. Files are written to a temporary name and renamed, so a report being
    rewritten is never seen half-written.
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    body = [f'<h1>{html.escape(title)}</h1>']
    if panel is not None:
        png = _png_bytes(frame_panel_image(panel))
        _write_atomically(run_dir / FRAMES_FILE, png)
        encoded = base64.b64encode(png).decode('ascii')
        body += ['<h2>Current, reconstructed and predicted frames</h2>',
                 f'<img alt="frames" src="data:image/png;base64,{encoded}"/>']
    for heading, text in (sections or {}).items():
        body += [f'<h2>{html.escape(heading)}</h2>', f'<pre>{html.escape(text)}</pre>']
    body += _curve_sections(run_dir / METRICS_FILE)
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title><style>'
            'body{font-family:sans-serif;margin:1.5em}'
            '.charts{display:flex;flex-wrap:wrap;gap:8px}'
            'img{image-rendering:pixelated;max-width:100%}</style></head><body>'
            + '\n'.join(body) + '</body></html>\n')
    path = run_dir / REPORT_FILE
    _write_atomically(path, page.encode('utf-8'))
    return path


def _curve_sections(metrics_path: pathlib.Path) -> list:
    if not metrics_path.exists():
        return ['<h2>Learning curves</h2><p>No metrics.jsonl in this run folder yet.</p>']
    series = metric_series(read_metrics(metrics_path))
    if not series:
        return ['<h2>Learning curves</h2><p>metrics.jsonl holds no numeric metrics.</p>']
    groups = {}
    for name in sorted(series):
        groups.setdefault(name.split('/')[0] if '/' in name else 'other', []).append(name)
    parts = ['<h2>Learning curves</h2>']
    for group, names in groups.items():
        charts = ''.join(svg_chart(name, *series[name]) for name in names)
        parts.append(f'<h3>{html.escape(group)}</h3><div class="charts">{charts}</div>')
    return parts


def _write_atomically(path: pathlib.Path, data: bytes) -> None:
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_bytes(data)
    os.replace(temporary, path)
