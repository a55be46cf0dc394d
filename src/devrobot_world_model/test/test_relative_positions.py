"""Relative position biases: offsets, kept-token subsets, and the equivariance they buy."""

import torch

from devrobot_world_model.model.autoencoders import VitAutoencoder, VitAutoencoderConfig
from devrobot_world_model.model.predictors import TransformerPredictor, TransformerPredictorConfig
from devrobot_world_model.model.relative_positions import offset_index, RelativePositionBias


def test_wrapped_offsets_repeat_around_the_grid_and_plain_ones_do_not():
    index, size = offset_index((3, 4), wrap=True)
    assert size == 12 and index.shape == (12, 12)
    # one column right, seen from (0, 0) and from (2, 3) (which wraps to column 0)
    assert index[0, 1] == index[11, 8]
    plain, plain_size = offset_index((3, 4), wrap=False)
    assert plain_size == 5 * 7
    assert plain[0, 3] != plain[3, 0]  # three right and one to the left differ without wrap
    assert len(set(plain[0].tolist())) == 12  # from a corner every token is a distinct offset


def test_kept_tokens_get_the_matching_block_of_the_full_bias():
    bias = RelativePositionBias((3, 3), heads=2, wrap=True)
    with torch.no_grad():
        bias.table.normal_()
    keep = torch.tensor([[0, 4, 8], [2, 3, 7]])
    full = bias()[0]  # [heads, 9, 9]
    kept = bias(keep)  # [2, heads, 3, 3]
    for row, positions in enumerate(keep):
        assert torch.equal(kept[row], full[:, positions][:, :, positions])


def test_a_relative_vit_encodes_a_whole_patch_shift_as_the_same_shift_of_its_tokens():
    torch.manual_seed(0)
    config = VitAutoencoderConfig(vit_patch_size=4, vit_dim=16, vit_depth=2, vit_heads=2,
                                  vit_decoder_dim=16, vit_decoder_depth=1)
    model = VitAutoencoder(config, 16).eval()
    with torch.no_grad():  # a trained-looking, non-zero bias
        model.encoder_bias.table.normal_()
        model.decoder_bias.table.normal_()
    images = torch.rand(1, 3, 16, 16)
    shifted = images.roll((4, 8), dims=(-2, -1))  # one patch down, two right
    with torch.no_grad():
        tokens = model.encode(images).reshape(1, 4, 4, -1)
        moved = model.encode(shifted).reshape(1, 4, 4, -1)
        assert torch.allclose(tokens.roll((1, 2), dims=(1, 2)), moved, atol=1e-5)
        decoded, decoded_shifted = model.decode(model.encode(images)), model.decode(
            model.encode(shifted))
    assert torch.allclose(decoded.roll((4, 8), dims=(-2, -1)), decoded_shifted, atol=1e-5)
    # the original's absolute positions tie the code to the place instead
    absolute = VitAutoencoder(VitAutoencoderConfig(
        vit_patch_size=4, vit_dim=16, vit_depth=2, vit_heads=2, vit_decoder_dim=16,
        vit_decoder_depth=1, vit_positions='absolute'), 16).eval()
    with torch.no_grad():
        plain = absolute.encode(images).reshape(1, 4, 4, -1).roll((1, 2), dims=(1, 2))
        assert not torch.allclose(plain, absolute.encode(shifted).reshape(1, 4, 4, -1),
                                  atol=1e-3)


def test_biased_attention_runs_explicitly_and_agrees_with_the_fused_kernel():
    torch.manual_seed(0)
    predictor = TransformerPredictor(TransformerPredictorConfig(tf_dim=16, tf_depth=2, tf_heads=2,
                                                                tf_history=2), (4, 4), 16, 2)
    vit = VitAutoencoder(VitAutoencoderConfig(vit_patch_size=4, vit_dim=16, vit_heads=2,
                                              vit_decoder_dim=16), 16)
    blocks = [*predictor.blocks, *vit.encoder, *vit.decoder]
    assert not any(block.attn.fused_attn for block in blocks)
    with torch.no_grad():
        for bias in (predictor.relative, vit.encoder_bias, vit.decoder_bias):
            bias.table.normal_()
    latents, actions = torch.randn(3, 2, 16, 16), torch.randint(0, 2, (3, 2))
    images = torch.rand(3, 3, 16, 16)
    explicit = predictor.predict(latents, actions), vit.decode(vit.encode(images))
    for block in blocks:
        block.attn.fused_attn = True
    fused = predictor.predict(latents, actions), vit.decode(vit.encode(images))
    for mine, theirs in zip(explicit, fused):
        assert torch.allclose(mine, theirs, atol=1e-5)
