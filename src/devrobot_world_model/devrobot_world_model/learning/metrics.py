"""Training metrics: a logger (metrics.jsonl, optional wandb) and the figures the original logs.

The logger writes one flat dict per step to `run_dir/metrics.jsonl`, always, and to wandb only
when a project is given. Anything with `log(metrics, step)` and `close()` can stand in for it;
tests pass `RecordingLogger`.

The functions are pure, on tensors and modules, and return flat dicts with namespaced keys:

    before = snapshot_parameters(predictor)           # before optimizer.step()
    optimizer.step()
    logger.log({'train/predictor_loss': loss.item(),
                'train/predictor_grad_norm': gradient_norm(predictor.parameters()),
                'train/predictor_lr': learning_rate(optimizer),
                'train/predictor_uwr_95th': uwr_percentile(update_to_weight_ratios(
                    before, predictor)),
                **per_layer_medians(gradient_norms(predictor), 'grad_norms/transformer')},
               step=step)
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
from typing import Iterable, Mapping

import numpy as np
import torch

from devrobot_core.errors import UsageError
from devrobot_world_model.model import pixel_losses

METRICS_FILE = 'metrics.jsonl'
WANDB_MODES = ('online', 'offline')

# `...layers.3.self_attn.in_proj_weight` or `...blocks.3.mlp.fc1.weight`: layer 3, then the
# parameter's path inside the layer. Covers torch.nn.TransformerEncoder (`layers`) and timm's
# `Block` stacks (`blocks`).
TRANSFORMER_LAYER_PATTERN = re.compile(r'(?:^|\.)(?:layers|blocks)\.(\d+)\.(.+)$')


# -- loggers --------------------------------------------------------------------------------

def json_value(value):
    """A number, string, bool or None for one metric; tensors and numpy scalars are unwrapped.

    Non-finite floats become None (JSON has no NaN); a NaN loss shows up as a null.
    """
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        count = value.numel() if isinstance(value, torch.Tensor) else value.size
        if count != 1:
            raise TypeError(f'a metric must be a scalar, got shape {tuple(value.shape)}')
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    raise TypeError(f'a metric must be a number, string, bool or None, got {type(value)}')


class MetricsLogger:
    """Append one flat dict per step to `run_dir/metrics.jsonl`; mirror it to wandb if asked.

    `wandb_project=None` (the default) never imports wandb. With a project, wandb must be
    installed (else UsageError); `wandb_mode='offline'` writes its files under `run_dir` without
    a network or an account. Lines are flushed as they are written, so a crash loses nothing
    already logged, and a resumed run appends to the same file.
    """

    def __init__(self, run_dir: str | os.PathLike, wandb_project: str | None = None,
                 wandb_mode: str = 'online', config: Mapping | None = None,
                 run_name: str | None = None):
        self.path = pathlib.Path(run_dir) / METRICS_FILE
        self._wandb_run = None
        if wandb_project:
            self._wandb_run = _start_wandb(pathlib.Path(run_dir), wandb_project, wandb_mode,
                                           config, run_name)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.path, 'a', encoding='utf-8')

    def log(self, metrics: Mapping, step: int) -> None:
        """Record `metrics` (flat: name -> scalar) at `step`."""
        record = {'step': int(step)}
        record.update({str(k): json_value(v) for k, v in metrics.items()})
        self._stream.write(json.dumps(record) + '\n')
        self._stream.flush()
        if self._wandb_run is not None:
            self._wandb_run.log({k: v for k, v in record.items() if k != 'step'}, step=int(step))

    @property
    def logs_images(self) -> bool:
        """True when images go somewhere (wandb): the caller may skip making them otherwise."""
        return self._wandb_run is not None

    def log_images(self, images: Mapping, step: int, captions: Mapping | None = None) -> None:
        """Send uint8 `[H, W, 3]` images (name -> array) to wandb; nothing without wandb.

        metrics.jsonl holds numbers only, so images are not written there.
        """
        if self._wandb_run is None:
            return
        import wandb
        captions = captions or {}
        self._wandb_run.log({name: wandb.Image(np.asarray(image), caption=captions.get(name))
                             for name, image in images.items()}, step=int(step))

    def close(self) -> None:
        if not self._stream.closed:
            self._stream.close()
        if self._wandb_run is not None:
            self._wandb_run.finish()
            self._wandb_run = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _start_wandb(run_dir, project, mode, config, run_name):
    if mode not in WANDB_MODES:
        raise UsageError(f'wandb mode must be one of {", ".join(WANDB_MODES)}, got {mode!r}')
    try:
        import wandb
    except ImportError:
        raise UsageError(f'wandb project {project!r} given but wandb is not installed: '
                         'pip install wandb, or leave the project unset') from None
    run_dir.mkdir(parents=True, exist_ok=True)
    return wandb.init(project=project, mode=mode, dir=str(run_dir), name=run_name,
                      config=dict(config or {}))


class RecordingLogger:
    """A logger that keeps `(step, metrics)` pairs in `records`, for tests."""

    def __init__(self):
        self.records = []
        self.closed = False

    def log(self, metrics: Mapping, step: int) -> None:
        self.records.append((int(step), {k: json_value(v) for k, v in metrics.items()}))

    def close(self) -> None:
        self.closed = True

    def values(self, key: str) -> list:
        """Every value logged under `key`, in order."""
        return [m[key] for _, m in self.records if key in m]


def read_metrics(path: str | os.PathLike) -> list:
    """The records of a metrics.jsonl file (or of the one in a run folder), in order.

    A last line cut short by a crash is skipped.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    records = []
    with open(path, encoding='utf-8') as stream:
        for line in stream:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


# -- pictures -------------------------------------------------------------------------------

PREDICTION_GRID = 'predictions_visualization'  # the original's wandb key
GRID_GAP_PX = 2


def prediction_grid(current, reconstruction, predictions) -> np.ndarray:
    """The original's visualisation as one uint8 image.

    Left to right: current | reconstruction | the predicted next frame of every action, on
    white with a small gap between tiles.
    """
    tiles = [np.asarray(current), np.asarray(reconstruction)] + [np.asarray(p)
                                                                 for p in predictions]
    height, width = tiles[0].shape[:2]
    for tile in tiles:
        if tile.shape != tiles[0].shape or tile.dtype != np.uint8:
            raise ValueError(f'grid tiles must all be uint8 {list(tiles[0].shape)}, got '
                             f'{tile.dtype} {list(tile.shape)}')
    grid = np.full((height, len(tiles) * (width + GRID_GAP_PX) - GRID_GAP_PX, 3), 255, np.uint8)
    for index, tile in enumerate(tiles):
        left = index * (width + GRID_GAP_PX)
        grid[:, left:left + width] = tile
    return grid


def log_prediction_grid(logger, step: int, current, inspection: Mapping,
                        action_labels) -> None:
    """Upload `prediction_grid` of a learner's `inspect()` result, captioned, to the logger."""
    grid = prediction_grid(current, inspection['reconstruction'], inspection['predictions'])
    caption = 'current | reconstruction | ' + ' | '.join(
        f'after {label}' for label in action_labels)
    logger.log_images({PREDICTION_GRID: grid}, step, {PREDICTION_GRID: caption})


# -- gradients and updates ------------------------------------------------------------------

def gradient_norm(parameters: Iterable[torch.Tensor]) -> float:
    """Global L2 norm of all gradients (parameters without a gradient are skipped)."""
    squares = [p.grad.detach().float().pow(2).sum() for p in parameters if p.grad is not None]
    return math.sqrt(float(torch.stack(squares).sum())) if squares else 0.0


def gradient_norms(module: torch.nn.Module) -> dict:
    """L2 norm of each named parameter's gradient: name -> float."""
    return {name: float(p.grad.detach().float().norm())
            for name, p in module.named_parameters() if p.grad is not None}


def snapshot_parameters(module: torch.nn.Module) -> dict:
    """Copies of every trainable parameter, taken before an optimizer step."""
    return {name: p.detach().clone() for name, p in module.named_parameters()
            if p.requires_grad}


def update_to_weight_ratios(before: Mapping, module: torch.nn.Module) -> dict:
    """|after - before| / |before| per parameter tensor (L2 norms), after an optimizer step.

    A healthy ratio is around 1e-3; far above means the learning rate is too high for that
    tensor, far below that it barely learns. Tensors that were all zeros before the step (a
    zero-initialised output layer) have no ratio and are left out rather than reported as
    huge numbers.
    """
    ratios = {}
    for name, p in module.named_parameters():
        if name in before:
            old = before[name].float()
            old_norm = float(old.norm())
            if old_norm > 0.0:
                ratios[name] = float((p.detach().float() - old).norm()) / old_norm
    return ratios


def uwr_percentile(ratios: Mapping, percentile: float = 95.0) -> float:
    """The given percentile of the update-to-weight ratios (NaN when there are none)."""
    values = list(ratios.values())
    return float(np.percentile(values, percentile)) if values else float('nan')


def per_layer_medians(values: Mapping, prefix: str,
                      pattern: re.Pattern = TRANSFORMER_LAYER_PATTERN) -> dict:
    """Median of per-parameter values grouped by transformer layer and sublayer.

    `values` maps one transformer's parameter names to numbers (from `gradient_norms` or
    `update_to_weight_ratios` of that module: two stacks in one dict would share keys); names
    outside the layers are ignored. The sublayer is the module holding the parameter, so weight
    and bias share a group: `{prefix}/layer_0_self_attn`, `layer_0_linear1` (torch) or
    `layer_0_attn_qkv`, `layer_0_mlp_fc1` (timm), as the original's `grad_norms/transformer/...`
    and `uwr/transformer/...`.
    """
    groups = {}
    for name, value in values.items():
        match = pattern.search(name)
        if match:
            path = match.group(2).split('.')
            sublayer = '_'.join(path[:-1]) or path[0]  # a parameter right on the block: itself
            key = f'{prefix}/layer_{int(match.group(1))}_{sublayer}'
            groups.setdefault(key, []).append(value)
    return {key: float(np.median(group)) for key, group in sorted(groups.items())}


def learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the optimizer's first parameter group."""
    return float(optimizer.param_groups[0]['lr'])


# -- prediction quality ---------------------------------------------------------------------

def explained_variance(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """R² = 1 - SSE / SST of a batch (patch space in training), against the target's mean.

    0 is no better than predicting the mean value, 1 is perfect, below 0 is worse than the mean.
    A constant target (SST 0) gives NaN.
    """
    prediction, target = prediction.detach().float(), target.detach().float()
    if prediction.shape != target.shape:
        raise ValueError(f'shapes differ: {list(prediction.shape)} vs {list(target.shape)}')
    if float((target - target.mean()).pow(2).sum()) == 0.0:
        return float('nan')
    return float(pixel_losses.explained_variance(prediction, target))


# -- training streaks -----------------------------------------------------------------------

class StreakCounter:
    """Counts consecutive autoencoder-only training iterations (the original's gating metric).

    Call `step(True)` for each iteration spent training the autoencoder instead of acting and
    `step(False)` when the robot acts again; the latter returns the finished streak's length
    (log it as `train/consecutive_autoencoder_iterations`), or None when there was none.
    """

    def __init__(self):
        self.current = 0

    def step(self, training_autoencoder: bool):
        if training_autoencoder:
            self.current += 1
            return None
        finished, self.current = self.current, 0
        return finished or None
