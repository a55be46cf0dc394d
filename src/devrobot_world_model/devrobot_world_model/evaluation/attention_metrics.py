"""Does the predictor use the action? Attention and counterfactual introspection.

The original's session explorer measured this on its causal transformer; these are the same
measurements as pure functions, for any model whose sequence interleaves frame tokens and
action tokens (devrobot's TransformerPredictor: `[frame_1 (N tokens), action_1, ...,
frame_T, action_T]`, block-causal: a token sees its own step and earlier ones).

Attention metrics, over per-layer maps `[B, heads, L, L]` (rows: queries, softmax over keys),
averaged over batch, heads and query tokens (by default the last frame's tokens, the ones the
prediction is read from):
- APA, attention to the previous action: mass on the latest action token the query can see
  (for the readout tokens, the candidate action being evaluated);
- ALF, attention to the last frame: mass on the tokens of the latest frame the query can see;
- TTAR, token-type attention ratio: mean attention per action token over mean attention per
  frame token (1: no preference; 0: actions ignored; inf: frames ignored);
- RI@16, recency index: mass on the 16 latest tokens the query can see;
- entropy of each query's attention (nats), and normalised by the log of the keys it can see.

Counterfactual helpers take `predict(frames, actions) -> [B, ...]` (e.g. a predictor's
`predict(latents [B, T, N, D], actions [B, T])`); a model that ignores actions scores 0 on each:
- `action_sweep_diversity`: how far apart the predictions for every candidate action are;
- `counterfactual_changes`: how much the prediction moves when the actions are shuffled or
  all set to action 0 ("zeroed": stay, in devrobot's action spaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

FRAME, ACTION = 0, 1  # token types
RECENCY_WINDOW = 16


@dataclass(frozen=True)
class TokenLayout:
    """Type (FRAME / ACTION) and step of every token of a sequence, and who sees whom."""

    types: torch.Tensor  # [L] long
    steps: torch.Tensor  # [L] long: the step each token belongs to, 0 first
    block_causal: bool = True  # True: a token sees its whole step; False: only earlier tokens

    @classmethod
    def interleaved(cls, frames: int, tokens_per_frame: int,
                    block_causal: bool = True) -> 'TokenLayout':
        """`frames` steps of `tokens_per_frame` frame tokens, each followed by its action."""
        step_types = torch.tensor([FRAME] * tokens_per_frame + [ACTION])
        return cls.from_types(step_types.repeat(frames), block_causal)

    @classmethod
    def from_types(cls, types, block_causal: bool = True) -> 'TokenLayout':
        """Steps derived from the types: a step ends with its action token(s)."""
        types = torch.as_tensor(types, dtype=torch.long)
        if types.ndim != 1 or not len(types):
            raise ValueError(f'token types must be a non-empty vector, got shape '
                             f'{tuple(types.shape)}')
        if not bool(((types == FRAME) | (types == ACTION)).all()):
            raise ValueError(f'token types must be FRAME ({FRAME}) or ACTION ({ACTION})')
        after_action = torch.cat([torch.zeros(1, dtype=torch.bool),
                                  (types[:-1] == ACTION) & (types[1:] == FRAME)])
        return cls(types, torch.cumsum(after_action.long(), 0), block_causal)

    @classmethod
    def for_maps(cls, length: int, tokens_per_frame: int) -> 'TokenLayout':
        """The TransformerPredictor layout of a `[.., L, L]` map (frames = L / (N + 1))."""
        frames, rest = divmod(length, tokens_per_frame + 1)
        if rest or not frames:
            raise ValueError(f'{length} tokens are not whole steps of {tokens_per_frame} frame '
                             'tokens and one action token')
        return cls.interleaved(frames, tokens_per_frame)

    def __len__(self) -> int:
        return len(self.types)

    def visible(self) -> torch.Tensor:
        """`[L, L]` bool: key (column) visible to query (row)."""
        if self.block_causal:
            return self.steps[None, :] <= self.steps[:, None]
        positions = torch.arange(len(self))
        return positions[None, :] <= positions[:, None]

    def readout(self) -> torch.Tensor:
        """`[L]` bool: the last step's frame tokens, where the prediction is read out."""
        return (self.steps == self.steps.max()) & (self.types == FRAME)


def _key_masks(layout: TokenLayout, window: int) -> dict:
    """`[L, L]` float masks, per query row, of the key groups each metric sums over."""
    visible = layout.visible()
    positions = torch.arange(len(layout))
    is_action = (layout.types == ACTION)[None, :] & visible
    is_frame = (layout.types == FRAME)[None, :] & visible
    # the latest visible action token per query (-1: none)
    last_action = torch.where(is_action, positions[None, :], -1).max(dim=1).values
    previous_action = positions[None, :] == last_action[:, None]
    last_frame_step = torch.where(is_frame, layout.steps[None, :], -1).max(dim=1).values
    last_frame = is_frame & (layout.steps[None, :] == last_frame_step[:, None])
    # rank of each visible key counted from the latest one (0 = most recent)
    newer_visible = torch.cumsum(visible.flip(1).long(), 1).flip(1) - 1
    recent = visible & (newer_visible < window)
    return {'previous_action': previous_action, 'last_frame': last_frame, 'action': is_action,
            'frame': is_frame, 'recent': recent, 'visible': visible}


def layer_attention_metrics(attention: torch.Tensor, layout: TokenLayout,
                            queries: torch.Tensor | None = None,
                            window: int = RECENCY_WINDOW) -> dict:
    """APA, ALF, TTAR, RI@window and entropy of one layer's attention `[B, heads, L, L]`.

    `queries` is a `[L]` bool mask of the query tokens to average over (default: the readout
    tokens). Rows are expected to be probabilities (each sums to 1 over the keys).
    """
    if attention.ndim != 4 or attention.shape[-1] != attention.shape[-2]:
        raise ValueError(f'attention must be [B, heads, L, L], got {tuple(attention.shape)}')
    if attention.shape[-1] != len(layout):
        raise ValueError(f'attention covers {attention.shape[-1]} tokens, the layout '
                         f'{len(layout)}')
    queries = layout.readout() if queries is None else torch.as_tensor(queries, dtype=bool)
    if not bool(queries.any()):
        raise ValueError('no query tokens selected')
    masks = {name: mask[queries].to(attention.dtype)
             for name, mask in _key_masks(layout, window).items()}  # [Q, L] each
    rows = attention.detach()[..., queries, :]  # [B, heads, Q, L]

    def mass(name):  # [B, heads, Q]
        return (rows * masks[name]).sum(-1)

    per_action = (mass('action') / masks['action'].sum(-1).clamp(min=1)).mean()
    per_frame = (mass('frame') / masks['frame'].sum(-1).clamp(min=1)).mean()
    ttar = per_action / per_frame if per_frame > 0 else torch.tensor(float('inf'))
    entropy = -(rows * rows.clamp(min=1e-12).log()).sum(-1)
    max_entropy = masks['visible'].sum(-1).clamp(min=2).log()
    return {'apa': mass('previous_action').mean().item(), 'alf': mass('last_frame').mean().item(),
            'ttar': ttar.item(), f'ri{window}': mass('recent').mean().item(),
            'entropy': entropy.mean().item(),
            'entropy_normalized': (entropy / max_entropy).mean().item()}


def attention_metrics(attention_maps: Sequence[torch.Tensor], layout: TokenLayout,
                      queries: torch.Tensor | None = None, window: int = RECENCY_WINDOW,
                      prefix: str = 'attn') -> dict:
    """Flat metrics for every layer (`attn/layer0/apa`) and their mean (`attn/apa`)."""
    if not attention_maps:
        raise ValueError('no attention maps given')
    per_layer = [layer_attention_metrics(a, layout, queries, window) for a in attention_maps]
    metrics = {f'{prefix}/layer{i}/{k}': v for i, m in enumerate(per_layer) for k, v in m.items()}
    for key in per_layer[0]:
        metrics[f'{prefix}/{key}'] = sum(m[key] for m in per_layer) / len(per_layer)
    return metrics


def capture_attention_maps(model: torch.nn.Module, run: Callable[[], object]) -> tuple:
    """Run `run()`; return its result and the attention maps of `model`'s timm Attentions.

    The maps are `[B, heads, L, L]` probabilities, one per Attention module in module order.
    timm computes attention with a fused kernel that never materialises the probabilities, so
    each map is recomputed from the module's input and mask, as its unfused path does.
    """
    from timm.models.vision_transformer import Attention

    maps, handles = [], []

    def hook(module, args, kwargs):
        x = args[0]
        mask = kwargs.get('attn_mask', args[1] if len(args) > 1 else None)
        with torch.no_grad():
            b, n, _ = x.shape
            qkv = module.qkv(x).reshape(b, n, 3, module.num_heads, module.head_dim)
            q, k, _v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            q, k = module.q_norm(q), module.k_norm(k)
            scores = (q * module.scale) @ k.transpose(-2, -1)  # [B, heads, L, L]
            if mask is not None:
                scores = scores + mask.to(scores.dtype)
            if kwargs.get('is_causal'):
                scores = scores.masked_fill(
                    torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1), float('-inf'))
            maps.append(scores.softmax(dim=-1))

    for module in model.modules():
        if isinstance(module, Attention):
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, maps


def with_last_action(actions: torch.Tensor, action: int) -> torch.Tensor:
    """`[B, T]` actions with the last (candidate) one replaced by `action`."""
    swapped = actions.clone()
    swapped[:, -1] = action
    return swapped


@torch.no_grad()
def action_sweep(predict: Callable, frames, actions: torch.Tensor, n_actions: int):
    """Predictions for every candidate action in place of the last one: `[A, B, ...]`."""
    return torch.stack([predict(frames, with_last_action(actions, a)).float()
                        for a in range(n_actions)])


@torch.no_grad()
def action_sweep_diversity(predict: Callable, frames, actions: torch.Tensor,
                           n_actions: int, prefix: str = 'sens') -> dict:
    """How different the predictions of the candidate actions are (0: actions ignored).

    `diversity`: mean squared difference between the predictions of two different actions,
    over all pairs; `relative_diversity`: the same over the mean squared prediction, so it
    does not grow with the scale of the latents.
    """
    if n_actions < 2:
        raise ValueError(f'a sweep needs at least 2 actions, got {n_actions}')
    sweep = action_sweep(predict, frames, actions, n_actions).flatten(2)  # [A, B, E]
    pairs = [(i, j) for i in range(n_actions) for j in range(i + 1, n_actions)]
    diversity = torch.stack([(sweep[i] - sweep[j]).pow(2).mean() for i, j in pairs]).mean()
    scale = sweep.pow(2).mean().clamp(min=1e-12)
    return {f'{prefix}/diversity': diversity.item(),
            f'{prefix}/relative_diversity': (diversity / scale).item()}


def shuffled_actions(actions: torch.Tensor, generator: torch.Generator | None = None):
    """The same actions in a random order (across batch and time)."""
    flat = actions.flatten()
    order = torch.randperm(len(flat), generator=generator, device=flat.device)
    return flat[order].reshape(actions.shape)


@torch.no_grad()
def counterfactual_changes(predict: Callable, frames, actions: torch.Tensor,
                           generator: torch.Generator | None = None,
                           prefix: str = 'cf') -> dict:
    """Mean squared change of the prediction when the actions are shuffled / all action 0.

    Shuffling keeps how often each action occurs, so it only matters to a model that reads
    which action went with which frame. A batch whose actions are all equal cannot be
    shuffled into anything else: give varied actions.
    """
    original = predict(frames, actions).float()

    def change(other_actions):
        return (predict(frames, other_actions).float() - original).pow(2).mean().item()

    return {f'{prefix}/shuffle_change': change(shuffled_actions(actions, generator)),
            f'{prefix}/zero_change': change(torch.zeros_like(actions))}


def action_gradient_share(model: torch.nn.Module,
                          markers: Sequence[str] = ('action', 'film')) -> float:
    """Gradient norm of the parameters whose names contain a marker over the whole model's.

    Call after backward. The original tracked how much gradient flows through the action
    pathway; 0 means the actions get no learning signal. Parameters without a gradient
    count as 0.
    """
    total = action = 0.0
    for name, parameter in model.named_parameters():
        if parameter.grad is None:
            continue
        squared = parameter.grad.detach().float().pow(2).sum().item()
        total += squared
        if any(marker in name.lower() for marker in markers):
            action += squared
    return (action / total) ** 0.5 if total > 0 else 0.0


@torch.no_grad()
def introspect_world_model(world_model, latents: torch.Tensor, actions: torch.Tensor,
                           generator: torch.Generator | None = None) -> dict:
    """Every measurement above for a WorldModel on a batch of histories, as one flat dict.

    `latents` `[B, T, N, D]` (encoded frames, oldest first), `actions` `[B, T]`. Attention
    metrics come only from a predictor with attention (the transformer, not the LSTM).
    """
    metrics = {}
    predictor = world_model.predictor
    if hasattr(predictor, 'tokens_per_frame'):
        _, maps = capture_attention_maps(predictor,
                                         lambda: world_model.predict(latents, actions))
        if maps:
            layout = TokenLayout.for_maps(maps[0].shape[-1], predictor.tokens_per_frame)
            metrics.update(attention_metrics(maps, layout))
    metrics.update(action_sweep_diversity(world_model.predict, latents, actions,
                                          world_model.n_actions))
    metrics.update(counterfactual_changes(world_model.predict, latents, actions, generator))
    return metrics
