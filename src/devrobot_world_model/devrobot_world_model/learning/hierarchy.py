"""Hierarchy levels: predictors of the latent grid 2**L steps ahead, and how horizons compose.

Level L >= 1 takes the current latent grid and an encoding of the next 2**L actions and predicts
the grid after them in one call. The sequence encoder sums a learned embedding per (action,
position) and passes it through an MLP; with `level_codes` > 0 the result is quantised to the
nearest of that many learned codes (a VQ-VAE codebook with a straight-through gradient), so a
level's "abstract actions" are a small discrete set: on the dot world, sequences with the same
number of moves should share a code. A code left unused for `level_code_restart` sequences
moves to the encoding its code serves worst, when that one is an outlier: rare sequences (none
or all moves among eight: 1 in 256) otherwise share a code with a common neighbour for good,
and the level predicts the neighbour's outcome for them. The encoding sets, per sample, a FiLM
of the tokens and the table of relative-position attention biases (`relative_positions.py`):
"take the content from 3.4 tokens to the left" is what an 8-step sequence with two moves means,
and a sequence-dependent bias says it in one parameter per offset.

Any horizon is predicted by combining levels, largest first (13 = 8 + 4 + 1: three calls
instead of thirteen); `plan_levels` chooses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block

from devrobot_core.config_fields import setting
from devrobot_world_model.model.relative_positions import attend_explicitly, offset_index

MAX_LEVELS = 8  # level 7 predicts 128 steps ahead
# An encoding this many times the batch's median distance from its code is served by no code of
# its own (a group merged into another's code), not just spread within a group: an unused code
# moves there. Smaller factors split groups that already have their code.
RESTART_OUTLIER = 4.0


@dataclass
class HierarchyConfig:
    """The predictors above level 0 and when a new one is created."""

    level_codes: int = setting(
        16, 'Discrete codes per level for action sequences (a learned codebook); 0: a '
        'continuous encoding.')
    level_code_dim: int = setting(16, 'Size of the encoding of an action sequence.')
    level_dim: int = setting(64, 'Token size inside a level predictor.')
    level_depth: int = setting(2, 'Transformer blocks of a level predictor.')
    level_heads: int = setting(4, 'Attention heads of a level predictor.')
    level_wrap: bool = setting(
        True, 'Relative offsets wrap around the grid (the toroidal world); off for camera '
        'images.')
    level_commitment: float = setting(0.25, "Codebook commitment weight (VQ-VAE's beta).")
    level_code_restart: int = setting(
        2000, 'A code unused for this many training sequences moves to the encoding farthest '
        'from its code, when that is an outlier; 0: codes never move.')
    level_batch_size: int = setting(16, 'Runs per update of each level above 0.')
    level_check_steps: int = setting(
        50, 'Fresh runs per competence check of a level (each scored before any training on '
        'it).')
    level_checks: int = setting(
        3, 'Competence checks in a row the top level must pass before the next is created.')
    level_r2: float = setting(
        0.9, 'Competence: the smallest R² over action groups (runs with the same number of '
        'each action) a check must reach.')
    level_position_px: float = setting(
        1.0, "Competence: the largest median error of the bright spot's position (the dot), "
        'px; 0: not checked (camera images).')

    def __post_init__(self):
        if min(self.level_code_dim, self.level_dim, self.level_depth, self.level_heads,
               self.level_batch_size, self.level_check_steps, self.level_checks) < 1 or \
                min(self.level_codes, self.level_commitment, self.level_code_restart) < 0:
            raise ValueError('level sizes, batch, check steps and checks must be at least 1; '
                             'level_codes, level_commitment and level_code_restart at least 0')


class SequenceEncoder(nn.Module):
    """Action sequences `[B, k]` -> encodings `[B, C]`, quantised to a codebook when it has one."""

    def __init__(self, n_actions: int, span: int, dim: int, codes: int, commitment: float,
                 restart_after: int = 0):
        super().__init__()
        self.embed = nn.Embedding(n_actions, dim)
        self.position = nn.Parameter(torch.randn(span, dim) * 0.02)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.commitment = commitment
        self.codebook = nn.Embedding(codes, dim) if codes else None
        # a codebook starts from encodings of the first batch it sees (no dead codes at once)
        self.register_buffer('initialised', torch.tensor(codes == 0))
        # when each code was last chosen, counted in training sequences; not saved: after a
        # resume every code gets a fresh `restart_after` before it counts as unused
        self.restart_after = restart_after
        self.register_buffer('seen', torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer('last_used', torch.zeros(max(codes, 1), dtype=torch.long),
                             persistent=False)
        self.register_buffer('restarts', torch.zeros((), dtype=torch.long), persistent=False)

    def encode(self, actions: torch.Tensor) -> torch.Tensor:
        """The continuous encoding `[B, C]` (before quantisation)."""
        return self.mlp((self.embed(actions) + self.position).sum(dim=1))

    def forward(self, actions: torch.Tensor) -> tuple:
        """(encoding `[B, C]`, codes `[B]` or None, codebook loss: a scalar)."""
        z = self.encode(actions)
        if self.codebook is None:
            return z, None, z.new_zeros(())
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                picks = torch.randint(len(z), (self.codebook.num_embeddings,))
                self.codebook.weight.copy_(z[picks] + 0.01 * torch.randn_like(z[picks]))
                self.initialised.fill_(True)
        codes = self.nearest_codes(z)
        if self.training and self.restart_after and self.restart_unused(z.detach(), codes):
            codes = self.nearest_codes(z)
        q = self.codebook(codes)
        loss = (q - z.detach()).pow(2).mean() + self.commitment * (z - q.detach()).pow(2).mean()
        return z + (q - z).detach(), codes, loss

    def nearest_codes(self, z: torch.Tensor) -> torch.Tensor:
        """The index of the code nearest each encoding `[B, C]` -> `[B]`."""
        with torch.no_grad():
            return torch.cdist(z, self.codebook.weight).argmin(dim=1)

    @torch.no_grad()
    def restart_unused(self, z: torch.Tensor, codes: torch.Tensor) -> bool:
        """Count this batch's uses; move one unused code onto an outlying encoding.

        Returns whether a code moved. One per batch, so that several unused codes do not all
        land on the same encoding.
        """
        self.seen += len(codes)
        self.last_used[codes] = self.seen
        unused = (self.seen - self.last_used > self.restart_after).nonzero().flatten()
        if not len(unused):
            return False
        distance = (z - self.codebook.weight[codes]).norm(dim=1)  # [B]
        farthest = int(distance.argmax())
        if not bool(distance[farthest] > RESTART_OUTLIER * distance.median()):
            return False
        code = unused[0]
        self.codebook.weight[code] = z[farthest]
        self.last_used[code] = self.seen
        self.restarts += 1
        return True


class LevelPredictor(nn.Module):
    """The latent grid `span` steps ahead from the current grid and the action sequence."""

    def __init__(self, config: HierarchyConfig, grid: tuple, latent_dim: int, n_actions: int,
                 span: int):
        super().__init__()
        self.span, self.heads = span, config.level_heads
        c, e = config.level_code_dim, config.level_dim
        self.sequence = SequenceEncoder(n_actions, span, c, config.level_codes,
                                        config.level_commitment, config.level_code_restart)
        index, self.offsets = offset_index(grid, config.level_wrap)
        self.register_buffer('index', index, persistent=False)
        self.to_tokens = nn.Linear(latent_dim, e)
        self.position = nn.Parameter(torch.zeros(1, grid[0] * grid[1], e))
        self.film = nn.Linear(c, 2 * e)
        self.to_bias = nn.Linear(c, config.level_heads * self.offsets)
        for layer in (self.film, self.to_bias):  # start as plain attention, no modulation
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.blocks = nn.ModuleList([Block(e, config.level_heads, qkv_bias=True)
                                     for _ in range(config.level_depth)])
        attend_explicitly(self.blocks)
        self.norm = nn.LayerNorm(e)
        self.to_delta = nn.Linear(e, latent_dim)
        nn.init.zeros_(self.to_delta.weight)
        nn.init.zeros_(self.to_delta.bias)

    def forward(self, latents: torch.Tensor, actions: torch.Tensor) -> tuple:
        """Latents `[B, N, D]`, actions `[B, span]` -> (next `[B, N, D]`, codes, codebook loss)."""
        b = latents.shape[0]
        code, codes, code_loss = self.sequence(actions)  # [B, C]
        x = self.to_tokens(latents) + self.position  # [B, N, E]
        gamma, beta = self.film(F.gelu(code)).chunk(2, dim=-1)
        x = x * (1 + gamma[:, None]) + beta[:, None]
        table = self.to_bias(code).view(b, self.heads, self.offsets)  # [B, heads, O]
        bias = table[:, :, self.index].to(x.dtype)  # [B, heads, N, N]
        for block in self.blocks:
            x = block(x, attn_mask=bias)
        return latents + self.to_delta(self.norm(x)), codes, code_loss


def plan_levels(horizon: int, levels: int) -> list:
    """Which levels predict `horizon` steps, largest span first: 13 with 4 levels -> [3, 2, 0].

    `levels` counts the levels available (level 0 included); a horizon longer than the top
    span uses the top level several times (16 with 4 levels -> [3, 3]).
    """
    if horizon < 1 or levels < 1:
        raise ValueError('horizon and levels must be at least 1')
    plan, left = [], horizon
    for level in range(levels - 1, -1, -1):
        while left >= 2 ** level:
            plan.append(level)
            left -= 2 ** level
    return plan


LATENT = '-latent'  # a method's suffix: latents carried between calls, not decoded frames


def method_plan(method: str, horizon: int, levels: int) -> list | None:
    """The levels that predict `horizon` steps by `method`, in order; None when it cannot.

    'rollout': level 0 `horizon` times; 'composed': `plan_levels`; 'direct': the one level whose
    span is `horizon` (None when no level has that span). 'rollout-latent' and
    'composed-latent' call the same levels (`LATENT`: what passes between the calls differs).
    """
    base = method[:-len(LATENT)] if method in ('rollout' + LATENT, 'composed' + LATENT) \
        else method
    if base == 'rollout':
        return [0] * horizon
    if base == 'composed':
        return plan_levels(horizon, levels)
    if base == 'direct':
        level = horizon.bit_length() - 1
        return [level] if 2 ** level == horizon and level < levels else None
    raise ValueError(f"unknown method {method!r}: expected 'direct', 'composed', 'rollout', "
                     f"'composed{LATENT}' or 'rollout{LATENT}'")


def predict_horizon(step, state, actions, plan: list) -> tuple:
    """Chain `step(level, state, action_chunk)` along `plan`: (final state, predictor calls).

    `actions` `[B, k]` (k = the plan's total span) are cut into consecutive chunks, one per
    level in the plan, each as long as that level's span.
    """
    start = 0
    for level in plan:
        span = 2 ** level
        state = step(level, state, actions[:, start:start + span])
        start += span
    if start != actions.shape[1]:
        raise ValueError(f'the plan spans {start} steps, the actions {actions.shape[1]}')
    return state, len(plan)


def action_groups(actions, n_actions: int) -> list:
    """A hashable group per sequence: how often each action occurs (order ignored)."""
    counts = torch.as_tensor(actions).reshape(len(actions), -1)
    return [tuple(int((row == a).sum()) for a in range(n_actions)) for row in counts]
