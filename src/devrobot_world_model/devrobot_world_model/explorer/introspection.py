"""The explorer's deeper questions about one step: the action sweep and the attention.

The sweep comes with counterfactual tests over the transitions around the step; the attention
with its metrics, the head-averaged maps and where the prediction looks on the frame.

Functions of a running Explorer, a bag and a step; the numbers come from `ModelView`, which
takes them from `attention_metrics.py`.
"""

from __future__ import annotations

import numpy as np

from devrobot_world_model.explorer import rendering
from devrobot_world_model.explorer.bag_index import action_label
from devrobot_world_model.explorer.errors import ExplorerError

WINDOW = 32  # transitions around the step for the counterfactual tests
MATRIX_PX = 400  # attention maps are enlarged to about this size


def _view(explorer, bag, step) -> dict:
    explorer.model_or_fail(bag)
    view = explorer.view(bag, step)
    if view is None:
        raise ExplorerError(f'step {step.index} has no image before its command')
    return view


def window(bag, step, size: int = WINDOW) -> list:
    """Up to `size` transitions centred on `step`."""
    half = size // 2
    transitions = bag.transitions(max(0, step.index - 4 * half), step.index + 4 * half)
    before = [s for s in transitions if s.index <= step.index][-half:]
    after = [s for s in transitions if s.index > step.index]
    return before + after[:size - len(before)]


def sweep(explorer, bag, step) -> dict:
    """Every action's error at this step; diversity and counterfactual changes around it."""
    model = explorer.model_or_fail(bag)
    view = _view(explorer, bag, step)
    chosen = window(bag, step)
    result = {'errors': view['step'].errors, 'taken': step.action,
              'actions': [action_label(c) for c in model.action_space], 'window': None}
    if chosen:
        inputs = [bag.inputs(s, model.history) for s in chosen]
        frames = np.stack([i[0] for i in inputs])
        actions = np.asarray([i[1] for i in inputs])
        result['window'] = [chosen[0].index, chosen[-1].index]
        result.update(model.sweep_and_counterfactuals(frames, actions))
    return result


def _attention(explorer, bag, step):
    model = explorer.model_or_fail(bag)
    view = _view(explorer, bag, step)
    if 'attention' not in view:
        frames, actions, _ = bag.inputs(step, model.history)
        view['attention'] = model.attention(frames, actions)
    return view['attention']


def attention_summary(explorer, bag, step) -> dict:
    """Metrics per layer and the names of each layer's two pictures."""
    result = _attention(explorer, bag, step)
    if result is None:
        return {'available': False, 'reason': 'the predictor has no attention (LSTM)'}
    return {'available': True, 'metrics': result['metrics'], 'grid': result['grid'],
            'layers': [{'action_mass': layer['action_mass'],
                        'images': [f'attention-{i}', f'focus-{i}']}
                       for i, layer in enumerate(result['layers'])]}


def attention_picture(explorer, bag, step, name: str) -> bytes:
    """PNG of `attention-L` (layer L's head-averaged map) or `focus-L` (over the frame)."""
    kind, _, number = name.partition('-')
    result = _attention(explorer, bag, step)
    try:
        layer = result['layers'][int(number)]
    except (TypeError, ValueError, IndexError):
        raise ExplorerError(f'no picture {name!r}') from None
    if kind == 'attention':
        return rendering.png_bytes(rendering.enlarge(rendering.heat_map(layer['matrix']),
                                                     MATRIX_PX))
    focus = rendering.overlay(bag.pixels(step.frame), rendering.heat_map(layer['grid']))
    return rendering.png_bytes(focus)
