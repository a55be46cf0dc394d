"""The run report: readable files from synthetic metrics and frames."""

import json
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from devrobot_world_model.evaluation import report


def write_metrics(folder, steps=1200):
    with open(folder / 'metrics.jsonl', 'w') as stream:
        for step in range(steps):
            record = {'step': step, 'train/predictor_loss': 1.0 / (step + 1),
                      'train/mask_ratio': 0.5, 'eval/r2_move': None,
                      'act/uncertainty': 0.5 + 0.1 * np.sin(step / 50), 'note': 'text'}
            stream.write(json.dumps(record) + '\n')


def synthetic_panel(size=32):
    current = np.zeros((size, size, 3), np.uint8)
    current[10:14, 5:9] = 255
    moved = np.roll(current, 7, axis=1)
    return report.FramePanel(current=current, reconstructed=current // 2 + 10,
                             predicted={'stay': current, 'move': moved})


def test_report_has_curves_and_the_frame_panel(tmp_path):
    write_metrics(tmp_path)
    path = report.write_report(tmp_path, synthetic_panel(), title='demo <run>',
                               sections={'Evaluation': 'move: R² 0.97 < 1'})
    page = path.read_text(encoding='utf-8')
    assert path == tmp_path / 'report.html'
    assert 'demo &lt;run&gt;' in page and 'move: R² 0.97 &lt; 1' in page
    assert page.count('<svg') == 3  # loss, mask ratio, uncertainty; nulls and text skipped
    assert 'train/predictor_loss (log)' in page and 'data:image/png;base64,' in page
    for svg in page.split('<svg')[1:]:
        ElementTree.fromstring('<svg' + svg.split('</svg>')[0] + '</svg>')  # well-formed
        points = svg.split('points="')[1].split('"')[0].split()
        assert 2 <= len(points) <= report.MAX_POINTS

    with Image.open(tmp_path / 'report_frames.png') as image:
        assert image.size[0] == 4 * 160 + 3 * 4  # 32 px enlarged 5x; four tiles
        pixels = np.asarray(image.convert('RGB'))
    tile = pixels[report.LABEL_PX:, :160]
    assert tile.max() == 255 and (tile == 255).all(axis=-1).sum() == 20 * 20  # the 4x4 dot


def test_report_without_metrics_or_frames_says_so(tmp_path):
    page = report.write_report(tmp_path / 'new_run').read_text()
    assert 'No metrics.jsonl' in page and '<img' not in page
    assert not (tmp_path / 'new_run' / 'report_frames.png').exists()


def test_rewriting_the_report_leaves_no_temporary_files(tmp_path):
    write_metrics(tmp_path, steps=5)
    report.write_report(tmp_path, synthetic_panel())
    report.write_report(tmp_path, synthetic_panel())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'metrics.jsonl', 'report.html', 'report_frames.png']


def test_mismatched_frames_are_refused(tmp_path):
    panel = synthetic_panel()
    panel.predicted['move'] = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match='predicted: move'):
        report.write_report(tmp_path, panel)


def test_downsample_keeps_order_and_averages():
    steps, values = report.downsample(np.arange(10.0), np.arange(10.0), max_points=5)
    assert list(steps) == [0.5, 2.5, 4.5, 6.5, 8.5] and list(values) == list(steps)


def test_constant_and_single_point_curves_draw():
    for steps in ([3.0], [1.0, 2.0, 3.0]):
        svg = report.svg_chart('flat', np.array(steps), np.ones(len(steps)))
        ElementTree.fromstring(svg)
