"""The learned selectors: per-action scores from the model's parts, and the choice among them.

Pure numpy. The policy computes the parts for the current frame, one value per action:
- `predicted_error`: the uncertainty head's predicted log pixel loss (raw prediction error);
- `disagreement`: the ensemble heads' variance about the next latent grid (`ensemble.py`);
- `progress`: the recent fall of the action's held-back error (`learning_progress.py`), NaN
  while not yet measured;
- `falling`: the share of the policy's recent steps at which the action's progress was above
  zero (`FallingShare`), 1 for an action not yet measured.
Each selector turns them into one score per action and picks the highest, except for a
`epsilon` share of uniformly random actions; ties go to a random one of the tied actions.

- `predicted-error`: the predicted error. Drawn to whatever stays unpredictable.
- `disagreement`: the ensemble's disagreement. Still drawn to noise the heads cannot agree on.
- `progress`: the learning progress; an action not yet measured counts as the best measured
  one (or 1 when none is), so every action gets measured.
- `uncertainty` (the default): disagreement gated by learning progress, the disagreement taken
  relative to its mean over the actions: (disagreement / mean) x (falling + PROGRESS_FLOOR).
  The heads say where the model is unsure, the gate whether data there still teaches it
  anything: an action whose error has stopped falling for a while (a noisy TV, its error flat
  at the noise's variance) scores next to nothing however much the heads disagree, while
  among the actions still learning the disagreement alone orders them, so the score ranks
  their errors. The gate is a share over recent steps rather than the latest progress, whose
  zeros come and go with the jitter of a learnable action's error: an action is demoted when
  its error stays flat, not when one window happens to show no fall. When no action has
  been falling, the floor leaves the disagreement to decide. Before any progress has been
  measured every score is 1 and the choice uniformly random (the disagreement of untrained
  heads says nothing yet). Without an ensemble or a progress probe (a checkpoint from before
  them) the missing part counts as 1, and without both the score is the predicted error.
"""

from __future__ import annotations

import numpy as np

LEARNED_SELECTORS = ('uncertainty', 'predicted-error', 'disagreement', 'progress')
TIE_TOLERANCE = 1e-12  # relative: scores this close to the best count as tied
# What the uncertainty score adds to every action's falling share: a thousandth of a learning
# action's, so the gate decides while any action is learning.
PROGRESS_FLOOR = 1e-3


def optimistic_progress(progress) -> np.ndarray:
    """Progress with every unmeasured (NaN) action set to the best measured one (1 if none)."""
    progress = np.asarray(progress, dtype=np.float64)
    known = progress[~np.isnan(progress)]
    fill = float(known.max()) if known.size and known.max() > 0 else 1.0
    return np.where(np.isnan(progress), fill, progress)


def falling_now(progress) -> np.ndarray:
    """Per action, whether its progress is above zero (an unmeasured one counts as falling)."""
    return optimistic_progress(progress) > 0


def selector_scores(kind: str, parts: dict) -> np.ndarray:
    """Scores `[A]` of selector `kind` from the parts (`None` where the model lacks one)."""
    error = np.asarray(parts['predicted_error'], dtype=np.float64)
    disagreement, progress = parts.get('disagreement'), parts.get('progress')
    if kind == 'predicted-error':
        return error
    if kind == 'disagreement':
        if disagreement is None:
            raise ValueError('the disagreement selector needs ensemble heads (--ensemble.heads)')
        return np.asarray(disagreement, dtype=np.float64)
    if kind == 'progress':
        if progress is None:
            raise ValueError('the progress selector needs held-back transitions '
                             '(--progress.held-back)')
        return optimistic_progress(progress)
    if kind == 'uncertainty':
        if disagreement is None and progress is None:
            return error
        if progress is not None and np.isnan(np.asarray(progress, dtype=np.float64)).all():
            return np.ones_like(error)  # no evidence yet: a uniformly random choice
        falling = parts.get('falling')
        if progress is None:
            weight = np.ones_like(error)
        elif falling is None:  # no share kept: the latest progress alone opens the gate
            weight = falling_now(progress).astype(np.float64) + PROGRESS_FLOOR
        else:
            weight = np.asarray(falling, dtype=np.float64) + PROGRESS_FLOOR
        if disagreement is None:
            return weight
        disagreement = np.asarray(disagreement, dtype=np.float64)
        mean = disagreement.mean()
        relative = disagreement / mean if mean > 0 else np.ones_like(disagreement)
        return relative * weight
    raise ValueError(f'unknown learned selector {kind!r}: expected one of '
                     f'{", ".join(LEARNED_SELECTORS)}')


class FallingShare:
    """Per action, the share of recent steps at which its learning progress was above zero.

    An exponential average with a memory of `memory` steps, starting at 1 (every action
    counts as learning until its progress says otherwise); an action not yet measured (NaN)
    counts as falling (`falling_now`).
    """

    def __init__(self, n_actions: int, memory: int):
        if memory < 1:
            raise ValueError(f'the falling share needs a memory of at least 1 step, not {memory}')
        self.rate = 1.0 / memory
        self.share = np.ones(n_actions)

    def update(self, progress) -> None:
        """One step's progress per action (NaN where not yet measured)."""
        self.share += self.rate * (falling_now(progress) - self.share)

    def state_dict(self) -> list:
        return self.share.tolist()

    def load_state_dict(self, share) -> None:
        self.share = np.asarray(share, dtype=np.float64).copy()


def choose(scores, rng: np.random.Generator, epsilon: float) -> tuple:
    """(index, how): uniformly random with probability `epsilon`, else the best score.

    Ties at the best score go to a uniformly random one of them; `how` is 'epsilon', 'best'
    or 'tie'.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if rng.random() < epsilon:
        return int(rng.integers(len(scores))), 'epsilon'
    best = scores.max()
    tied = np.flatnonzero(scores >= best - TIE_TOLERANCE * max(abs(best), 1.0))
    if len(tied) == 1:
        return int(tied[0]), 'best'
    return int(rng.choice(tied)), 'tie'
