"""Pixel losses on a sparse dot image: the right frame must beat the all-black one."""

import numpy as np
import pytest
import torch

from devrobot_sim.toroidal_dot import ToroidalDotConfig, ToroidalDotWorld
from devrobot_world_model.model.pixel_losses import (
    explained_variance, pixel_loss, to_uint8_images, to_unit_images)


@pytest.fixture
def dot_image():
    world = ToroidalDotWorld(ToroidalDotConfig(seed=3))  # 224 px, radius 5: 0.16 % of pixels
    return to_unit_images(torch.from_numpy(world.render())[None])  # [1, 3, 224, 224]


def logits_of(image, confidence):
    return (image * 2 - 1) * confidence  # +confidence on the dot, -confidence elsewhere


@pytest.mark.parametrize('kind', ['focal', 'weighted_mse'])
def test_a_hesitant_right_frame_beats_a_confident_black_one(dot_image, kind):
    right = pixel_loss(logits_of(dot_image, 3.0), dot_image, kind)
    black = pixel_loss(torch.full_like(dot_image, -10.0), dot_image, kind)
    assert right.item() < black.item()


@pytest.mark.parametrize('kind', ['bce', 'mse'])
def test_plain_losses_prefer_the_right_frame_only_at_equal_confidence(dot_image, kind):
    right = pixel_loss(logits_of(dot_image, 4.0), dot_image, kind)
    black = pixel_loss(torch.full_like(dot_image, -4.0), dot_image, kind)
    assert right.item() < black.item()
    # ...while a confident black image beats a hesitant right one: the collapse they invite
    hesitant = pixel_loss(logits_of(dot_image, 3.0), dot_image, kind)
    assert pixel_loss(torch.full_like(dot_image, -10.0), dot_image, kind).item() < hesitant.item()


def test_one_value_per_image_and_masks_restrict_the_mean(dot_image):
    images = torch.cat([dot_image, torch.zeros_like(dot_image)])
    logits = torch.zeros_like(images)
    assert pixel_loss(logits, images, 'focal').shape == (2,)
    mask = torch.zeros(2, 1, 224, 224)
    mask[:, :, :10] = 1
    masked = pixel_loss(logits, images, 'bce', mask=mask)
    assert masked[1].item() == pytest.approx(np.log(2), rel=1e-5)
    with pytest.raises(ValueError, match='unknown pixel loss'):
        pixel_loss(logits, images, 'l1')


def test_uint8_round_trip_and_explained_variance(dot_image):
    pixels = to_uint8_images(dot_image)
    assert pixels.dtype == torch.uint8 and pixels.shape == (1, 224, 224, 3)
    assert torch.equal(to_unit_images(pixels), dot_image)
    assert explained_variance(dot_image, dot_image).item() == pytest.approx(1.0)
    mean = torch.full_like(dot_image, dot_image.mean().item())
    assert explained_variance(mean, dot_image).item() == pytest.approx(0.0, abs=1e-6)
