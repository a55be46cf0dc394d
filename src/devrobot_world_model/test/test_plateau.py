"""Plateau detection for repeated training over the same bags."""

import math

import pytest

from devrobot_world_model.learning.plateau import epoch_loss, PlateauConfig, PlateauDetector


def run(losses, **config):
    detector = PlateauDetector(PlateauConfig(**config))
    for epoch, loss in enumerate(losses, 1):
        if detector.update(loss):
            return epoch, detector
    return None, detector


def test_stops_after_patience_epochs_without_improvement():
    epoch, detector = run([1.0, 0.5, 0.4, 0.4, 0.39995, 0.41, 0.3], patience=3, min_delta=1e-4,
                          min_epochs=1)
    assert epoch == 6  # best 0.4 at epoch 3; 4, 5 (below min_delta) and 6 do not improve
    assert detector.best == 0.4 and detector.best_epoch == 3
    assert detector.reason.startswith('plateau')


def test_keeps_going_while_the_loss_improves():
    epoch, detector = run([1.0 / n for n in range(1, 30)], patience=2, max_epochs=100)
    assert epoch is None and detector.epochs == 29 and detector.reason == ''


def test_min_epochs_comes_first():
    epoch, _ = run([1.0, 1.0, 1.0, 1.0, 1.0], patience=1, min_epochs=4)
    assert epoch == 4


def test_max_epochs_stops_an_improving_run():
    epoch, detector = run([1.0, 0.5, 0.25], max_epochs=2)
    assert epoch == 2 and 'max_epochs' in detector.reason


def test_non_finite_losses_never_improve():
    epoch, detector = run([math.nan, math.inf, math.nan], patience=2, min_epochs=1)
    assert epoch == 2
    assert detector.summary()['best_loss'] is None and detector.summary()['epochs'] == 2


@pytest.mark.parametrize('config', [dict(patience=0), dict(min_epochs=0), dict(max_epochs=0),
                                    dict(min_delta=-1.0), dict(min_delta=math.nan)])
def test_bad_settings(config):
    with pytest.raises(ValueError):
        PlateauDetector(PlateauConfig(**config))


def test_epoch_loss_averages_the_updates_that_report_it():
    metrics = [{'train/total_loss': 1.0}, {'train/skipped_transitions': 3}, {},
               {'train/total_loss': 3.0}, {'train/total_loss': None}]
    assert epoch_loss(metrics) == 2.0
    assert math.isnan(epoch_loss([{}]))
