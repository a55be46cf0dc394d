"""A run's report: what the model learned, where exploration went, what the model sees.

`write_report(run_dir, panel)` writes two files into the run folder:
- `report.html`, self-contained (inline SVG charts, the frame panel as an embedded PNG), opens
  in any browser without a server or network. It reads top to bottom in the order a researcher
  asks: held-out quality over steps (the `eval/...` metrics) and the held-out table, the loss
  curves, the share of each action over time, the frames; every other metric comes last,
  folded away, grouped by namespace;
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

from devrobot_core.durable_files import write_atomically
from devrobot_world_model.learning.metrics import METRICS_FILE, read_metrics

REPORT_FILE = 'report.html'
FRAMES_FILE = 'report_frames.png'
MAX_POINTS = 500  # per curve; longer runs are averaged into this many buckets
CHART_WIDTH, CHART_HEIGHT, MARGIN = 340, 170, 8
MIN_TILE_PX = 160  # small frames are enlarged (nearest neighbour) so the dot stays visible
LABEL_PX = 18
ACTION_METRIC = 'act/action'
SHARE_BUCKETS = 40  # windows of steps in the action-share chart
SHARE_COLOURS = ('#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2')
# Loss curves first by what they are; the older names after them, for a run folder whose
# metrics.jsonl began before the losses were named where they are computed.
LOSS_ORDER = ('total_loss', 'prediction_patch_loss', 'reconstruction_loss',
              'prediction_latent_loss', 'predictor_training_loss', 'predictor_patch_loss',
              'predictor_latent_loss')


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
                 title: str = 'devrobot run', sections: Mapping[str, str] | None = None,
                 tables: Mapping[str, tuple] | None = None, action_labels=()) -> pathlib.Path:
    """Write `report.html` (and `report_frames.png` when given a panel); return the page's path.

    Charts come from `run_dir/metrics.jsonl` when it exists. `tables` adds HTML tables
    (title -> (column headings, rows of (label, cells))), such as the held-out evaluation, shown
    with the held-out curves; `sections` adds preformatted text blocks; `action_labels` names
    the actions in the action-share chart. Files are written to a temporary name and renamed,
    so a report being rewritten is never seen half-written.
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / METRICS_FILE
    series = metric_series(read_metrics(metrics_path)) if metrics_path.exists() else {}
    shown = set()
    body = [f'<h1>{html.escape(title)}</h1>']
    body += _held_out_section(series, tables or {}, shown)
    body += _loss_section(series, shown)
    body += _action_share_section(series, action_labels, shown)
    if panel is not None:
        png = _png_bytes(frame_panel_image(panel))
        write_atomically(run_dir / FRAMES_FILE, png)
        encoded = base64.b64encode(png).decode('ascii')
        body += ['<h2>Current, reconstructed and predicted frames</h2>',
                 f'<img alt="frames" src="data:image/png;base64,{encoded}"/>']
    for heading, text in (sections or {}).items():
        body += [f'<h2>{html.escape(heading)}</h2>', f'<pre>{html.escape(text)}</pre>']
    body += _other_metrics(series, shown, metrics_path.exists())
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title><style>'
            'body{font-family:sans-serif;margin:1.5em}'
            '.charts{display:flex;flex-wrap:wrap;gap:8px}'
            'table{border-collapse:collapse;margin:0.5em 0}'
            'td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right}'
            'td:first-child{text-align:left}'
            'img{image-rendering:pixelated;max-width:100%}</style></head><body>'
            + '\n'.join(body) + '</body></html>\n')
    path = run_dir / REPORT_FILE
    write_atomically(path, page.encode('utf-8'))
    return path


def html_table(columns, rows) -> str:
    """A table of (label, cells) rows under `columns` headings (the label column has none)."""
    head = '<tr><th></th>' + ''.join(f'<th>{html.escape(str(c))}</th>' for c in columns)
    lines = [f'<tr><td>{html.escape(str(label))}</td>'
             + ''.join(f'<td>{html.escape(str(cell))}</td>' for cell in cells) + '</tr>'
             for label, cells in rows]
    return '<table>' + head + '</tr>' + ''.join(lines) + '</table>'


def _charts(series: dict, names, shown: set) -> str:
    shown.update(names)
    return '<div class="charts">' + ''.join(svg_chart(n, *series[n]) for n in names) + '</div>'


def _held_out_section(series: dict, tables: Mapping, shown: set) -> list:
    names = sorted((n for n in series if n.startswith('eval/')),
                   key=lambda n: ('r2' not in n, 'dot_error' not in n, n))  # R² first
    parts = ['<h2>Held-out quality over steps</h2>']
    if names:
        parts.append(_charts(series, names, shown))
    else:
        parts.append('<p>No held-out checks in this run\'s metrics (devrobot run --learn on the '
                     'simulator logs eval/... every --eval-every steps).</p>')
    for heading, (columns, rows) in tables.items():
        parts += [f'<h3>{html.escape(heading)}</h3>', html_table(columns, rows)]
    return parts


def _loss_rank(name: str) -> tuple:
    leaf = name.split('/', 1)[-1]
    return (LOSS_ORDER.index(leaf) if leaf in LOSS_ORDER else len(LOSS_ORDER), name)


def _loss_section(series: dict, shown: set) -> list:
    names = sorted((n for n in series if n.startswith('train/') and n.endswith('loss')),
                   key=_loss_rank)
    if not names:
        return []
    return ['<h2>Losses</h2>', _charts(series, names, shown)]


def action_shares(steps: np.ndarray, actions: np.ndarray, buckets: int = SHARE_BUCKETS) -> tuple:
    """(first step of each window, share of each action per window `[windows, A]`)."""
    order = np.argsort(steps, kind='stable')
    steps, actions = steps[order], actions[order].astype(np.int64)
    count = int(actions.max()) + 1
    windows = np.array_split(np.arange(len(steps)), min(buckets, len(steps)))
    shares = np.stack([np.bincount(actions[w], minlength=count) / len(w) for w in windows])
    return np.array([steps[w[0]] for w in windows]), shares


def _action_share_section(series: dict, labels, shown: set) -> list:
    if ACTION_METRIC not in series:
        return []
    shown.add(ACTION_METRIC)
    steps, actions = series[ACTION_METRIC]
    starts, shares = action_shares(steps, actions)
    width, height = 2 * CHART_WIDTH, CHART_HEIGHT
    bar = width / len(starts)
    rects = []
    for column, row in enumerate(shares):
        top = 0.0
        for action, share in enumerate(row):
            colour = SHARE_COLOURS[action % len(SHARE_COLOURS)]
            rects.append(f'<rect x="{column * bar:.1f}" y="{top * height:.1f}" '
                         f'width="{bar + 0.5:.1f}" height="{share * height:.1f}" '
                         f'fill="{colour}"/>')
            top += share
    legend = ' '.join(
        f'<span style="color:{SHARE_COLOURS[a % len(SHARE_COLOURS)]}">&#9632;</span> '
        f'{html.escape(labels[a] if a < len(labels) else f"action {a}")}: '
        f'{100 * float(np.mean(actions == a)):.1f}%' for a in range(shares.shape[1]))
    return ['<h2>Where exploration went: the share of each action over time</h2>',
            f'<svg class="chart shares" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="action shares">'
            + ''.join(rects) + '</svg>',
            f'<p>{legend} (steps {int(starts[0])}…{int(steps.max())}, '
            f'{len(starts)} windows)</p>']


def _other_metrics(series: dict, shown: set, have_metrics: bool) -> list:
    if not have_metrics:
        return ['<h2>Learning curves</h2><p>No metrics.jsonl in this run folder yet.</p>']
    rest = [name for name in sorted(series) if name not in shown]
    if not series:
        return ['<h2>Learning curves</h2><p>metrics.jsonl holds no numeric metrics.</p>']
    if not rest:
        return []
    groups = {}
    for name in rest:
        groups.setdefault(name.split('/')[0] if '/' in name else 'other', []).append(name)
    parts = ['<details><summary><h2 style="display:inline">Every other metric</h2></summary>']
    for group, names in groups.items():
        parts.append(f'<h3>{html.escape(group)}</h3>' + _charts(series, names, shown))
    return parts + ['</details>']
