"""The models at tiny sizes: shapes, gradients to every parameter, finite values."""

import pytest
import torch

from devrobot_world_model.model.world_model import ModelSpec, WorldModel
from tiny_models import tiny_configs

COMBINATIONS = [(a, p) for a in ('cnn', 'vit') for p in ('transformer', 'lstm')]


def tiny_model(autoencoder='cnn', predictor='transformer', history=1, n_actions=2, **fields):
    torch.manual_seed(0)
    configs = tiny_configs(autoencoder, predictor, history, **fields)
    return WorldModel(ModelSpec.create(16, n_actions, configs))


def tiny_batch(batch=3, history=1, n_actions=2):
    frames = torch.rand(batch, history, 3, 16, 16)
    actions = torch.randint(0, n_actions, (batch, history))
    return frames, actions, torch.rand(batch, 3, 16, 16)


@pytest.mark.parametrize('autoencoder,predictor', COMBINATIONS)
def test_named_steps_have_the_documented_shapes(autoencoder, predictor):
    model = tiny_model(autoencoder, predictor, history=2, n_actions=3)
    frames, actions, _ = tiny_batch(history=2, n_actions=3)
    latents = model.encode(frames.flatten(0, 1)).unflatten(0, (3, 2))
    assert latents.shape == (3, 2, 16, 16)  # 4x4 tokens of 16 values
    predicted = model.predict(latents, actions)
    assert predicted.shape == (3, 16, 16)
    assert model.decode(predicted).shape == (3, 3, 16, 16)
    assert model.classify_action(latents[:, -1], predicted).shape == (3, 3)
    assert model.predicted_log_error(latents[:, -1], actions[:, -1]).shape == (3,)


@pytest.mark.parametrize('autoencoder,predictor', COMBINATIONS)
def test_every_parameter_receives_a_finite_gradient(autoencoder, predictor):
    # Masking on, the action head weighted: every part of the model takes part in the loss.
    model = tiny_model(autoencoder, predictor, history=2, action_weight=0.5)
    if autoencoder == 'vit':  # masking on, so the mask token takes part too
        model.autoencoder.config.vit_mask_ratio_min = 0.25
        model.autoencoder.config.vit_mask_ratio_max = 0.5
    frames, actions, next_frames = tiny_batch(history=2)
    # A nonzero delta layer first, so gradients reach the layers below it.
    for name, parameter in model.named_parameters():
        if 'to_delta' in name or 'to_scale_shift' in name:
            torch.nn.init.normal_(parameter, std=0.1)
    loss, per_sample, metrics = model.forward_loss(frames, actions, next_frames)
    loss.backward()
    assert torch.isfinite(loss) and per_sample.shape == (3,)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in metrics.values())
    unused = [name for name, p in model.named_parameters()
              if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert unused == []


def test_vit_masking_hides_patches_and_scores_only_them():
    model = tiny_model('vit')
    logits, mask = model.autoencoder.reconstruction_logits(torch.rand(2, 3, 16, 16), 0.5)
    assert logits.shape == (2, 3, 16, 16)
    assert mask.shape == (2, 1, 16, 16)
    assert mask.mean().item() == pytest.approx(0.5)  # 8 of 16 patches hidden


def test_an_untrained_predictor_says_nothing_changes():
    model = tiny_model()
    latents = torch.randn(2, 1, 16, 16)
    assert torch.equal(model.predict(latents, torch.tensor([[0], [1]])), latents[:, -1])


def test_token_cap_clips_history_to_what_fits():
    configs = tiny_configs(history=5)
    configs[3].tf_max_tokens = 2 * 17  # two frames of 16 tokens + 1 action token
    model = WorldModel(ModelSpec.create(16, 2, configs))
    assert model.predictor.max_frames == 2
    out = model.predict(torch.randn(1, 5, 16, 16), torch.zeros(1, 5, dtype=torch.int64))
    assert out.shape == (1, 16, 16)
    configs[3].tf_max_tokens = 10
    with pytest.raises(ValueError, match='cannot hold one frame'):
        WorldModel(ModelSpec.create(16, 2, configs))


def test_spec_round_trips_through_plain_data():
    spec = ModelSpec.create(16, 3, tiny_configs('vit', 'lstm'))
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec


def test_bad_choices_are_refused_with_the_options():
    with pytest.raises(ValueError, match="'cnn' or 'vit'"):
        tiny_model('resnet')
    with pytest.raises(ValueError, match='pixel_loss'):
        tiny_model(pixel_loss='l1')


def test_a_higher_level_predicts_the_frame_after_an_action_sequence():
    model = tiny_model(hierarchy_levels=3, n_actions=2)
    assert [level.span for level in model.levels] == [2, 4]
    for name, parameter in model.levels.named_parameters():
        if 'to_delta' in name or 'film' in name or 'to_bias' in name:
            torch.nn.init.normal_(parameter, std=0.1)
    loss, prediction, code_loss = model.level_loss(
        2, torch.rand(3, 3, 16, 16), torch.randint(0, 2, (3, 4)), torch.rand(3, 3, 16, 16))
    loss.backward()
    assert torch.isfinite(loss) and prediction.item() > 0 and code_loss.item() >= 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for name, p in model.levels[1].named_parameters() if 'codebook' not in name)
    with pytest.raises(ValueError, match='hierarchy_levels'):
        tiny_model(hierarchy_levels=9, n_actions=3)


@pytest.mark.parametrize('trains,encoder_learns,decoder_learns', [
    ('predictor', False, False), ('encoder', True, False), ('autoencoder', True, True)])
def test_prediction_trains_says_which_parts_the_predicted_frame_teaches(
        trains, encoder_learns, decoder_learns):
    model = tiny_model(prediction_trains=trains, reconstruction_weight=0.0, latent_weight=0.0,
                       uncertainty_weight=0.0)
    for name, parameter in model.named_parameters():
        if 'to_delta' in name:
            torch.nn.init.normal_(parameter, std=0.1)
    loss, _, _ = model.forward_loss(*tiny_batch())
    loss.backward()  # the predicted frame's pixel loss alone

    def learns(parameters):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in parameters)

    autoencoder = model.autoencoder
    assert learns(model.predictor.parameters())
    assert learns([autoencoder.embed.weight]) == encoder_learns
    assert learns(autoencoder.to_pixels.parameters()) == decoder_learns
    assert all(p.requires_grad for p in model.parameters())  # unfrozen again afterwards


def test_an_unknown_prediction_trains_value_is_refused():
    with pytest.raises(ValueError, match='prediction_trains'):
        tiny_model(prediction_trains='everything')
