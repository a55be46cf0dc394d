"""The learning-rate schedule: halve every N updates down to a floor, N chosen per autoencoder.

`make_scheduler` puts the rule on torch's LambdaLR: each parameter group's rate is its
`initial_lr` times `decay_factor(updates)`, and a resumed run continues at its update count.

On the toroidal dot the CNN autoencoder's late predictions sharpen when the rates halve every
500 updates, while the ViT's predictor learns "move" slowly and the same decay stalls it; so
the default half-life, AUTO, depends on the autoencoder (`benchmarks/learning_curve.py
--learner.lr-half-life-updates N` compares settings).
"""

from contextlib import contextmanager

from torch.optim.lr_scheduler import LambdaLR

AUTO = -1
HALF_LIFE_BY_AUTOENCODER = {'cnn': 500, 'vit': 0}
HELP = ('Halve the learning rates every N updates, down to lr_floor; 0: constant; -1 (auto): '
        '500 for the CNN autoencoder (sharper late predictions), 0 for the ViT (it learns '
        '"move" slowly and a decay stalls it).')


def resolve_half_life(setting: int, autoencoder: str) -> int:
    """The half-life in updates that `setting` means for this autoencoder (0: constant)."""
    return HALF_LIFE_BY_AUTOENCODER[autoencoder] if setting == AUTO else setting


def decay_factor(updates: int, half_life: int, floor: float) -> float:
    """The fraction of its initial learning rate a group uses after `updates` updates.

    `half_life` 0: constant rates (factor 1).
    """
    return 1.0 if half_life == 0 else max(floor, 0.5 ** (updates / half_life))


def make_scheduler(optimizer, half_life: int, floor: float, updates: int = 0) -> LambdaLR:
    """A LambdaLR that has taken `updates` steps: call its `step()` after every update.

    Each group decays from its `initial_lr` (set from its `lr` when missing, as on a fresh
    optimizer; a resumed one carries it in its state).
    """
    for group in optimizer.param_groups:
        group.setdefault('initial_lr', group['lr'])
    return LambdaLR(optimizer, lambda done: decay_factor(done, half_life, floor),
                    last_epoch=updates - 1)


@contextmanager
def group_rate(optimizer, name: str, factor: float):
    """Inside, group `name` steps at its `initial_lr` times `factor`; its rate is restored after.

    The hierarchy levels live in the predictor's group (one optimizer state for checkpoints)
    but follow schedules of their own: AdamW steps only the parameters that have gradients, so
    an update of one level at its own rate leaves the group's other parameters alone.
    """
    group = next(g for g in optimizer.param_groups if g.get('name') == name)
    saved = group['lr']
    group['lr'] = group['initial_lr'] * factor
    try:
        yield group['lr']
    finally:
        group['lr'] = saved
