"""Autoencoders from images to a grid of latent tokens and back.

Both kinds keep a *spatial* latent: one token per `patch_size` square of the image, `[B, N, D]`
with `N = (H / patch_size) * (W / patch_size)`. A single global vector would have to re-learn
where things are; a grid keeps position for free, and the predictor only has to move content
between tokens.
The decoders output logits per pixel (`sigmoid` gives the image), one patch per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from devrobot_core.config_fields import check_at_least, setting
from devrobot_world_model.model.relative_positions import attend_explicitly, RelativePositionBias

# Initial output bias: sigmoid(-4) = 0.018, near black, so early outputs are not mid-grey noise.
INITIAL_LOGIT = -4.0


@dataclass
class CnnAutoencoderConfig:
    """The convolutional autoencoder (the default; `--model.autoencoder vit` is the other)."""

    cnn_patch_size: int = setting(16, 'Side of the image square each latent token covers, px.')
    cnn_channels: int = setting(64, 'Channels of the latent grid (the token size D).')
    cnn_encoder_blocks: int = setting(2, 'Residual 3x3 conv blocks after the patch embedding.')
    cnn_decoder_blocks: int = setting(2, 'Residual 3x3 conv blocks before the pixel output.')
    cnn_circular_padding: bool = setting(
        True, 'Pad convolutions circularly (the toroidal world wraps); off for camera images.')

    def __post_init__(self):
        check_at_least(self, 1, 'cnn_patch_size', 'cnn_channels')
        check_at_least(self, 0, 'cnn_encoder_blocks', 'cnn_decoder_blocks')


@dataclass
class VitAutoencoderConfig:
    """The ViT masked autoencoder (the original's MaskedAutoencoderViT) on current timm."""

    vit_patch_size: int = setting(16, 'Side of the image patch each token covers, px.')
    vit_dim: int = setting(64, 'Encoder token size (the latent size D).')
    vit_depth: int = setting(2, 'Encoder transformer blocks.')
    vit_heads: int = setting(4, 'Attention heads in encoder and decoder blocks.')
    vit_decoder_dim: int = setting(64, 'Token size inside the light decoder.')
    vit_decoder_depth: int = setting(1, 'Decoder transformer blocks.')
    vit_mask_ratio_min: float = setting(
        0.0, 'Smallest fraction of patches hidden in autoencoder training (0 = no masking).')
    vit_mask_ratio_max: float = setting(
        0.0, 'Largest masked fraction; the original drew from 0.3-0.85, which hurts on sparse '
        'images (a masked dot cannot be inferred from black patches).')
    vit_positions: str = setting(
        'relative', "'relative': a learned attention bias per 2-D token offset, so content is "
        "encoded alike wherever it sits (learns the dot world far faster); 'absolute': the "
        "original's fixed sine-cosine embeddings.")
    vit_relative_wrap: bool = setting(
        True, 'Relative offsets wrap around the grid (the toroidal world); off for camera '
        'images.')

    def __post_init__(self):
        check_at_least(self, 1, 'vit_patch_size', 'vit_dim', 'vit_heads', 'vit_decoder_dim')
        check_at_least(self, 0, 'vit_depth', 'vit_decoder_depth')
        for name in ('vit_dim', 'vit_decoder_dim'):
            if getattr(self, name) % self.vit_heads:
                raise ValueError(f'{name} {getattr(self, name)} is not a multiple of vit_heads '
                                 f'{self.vit_heads}')
        if not 0.0 <= self.vit_mask_ratio_min <= self.vit_mask_ratio_max < 1.0:
            raise ValueError('vit mask ratios need 0 <= min <= max < 1')
        if self.vit_positions not in ('relative', 'absolute'):
            raise ValueError(f"vit_positions must be 'relative' or 'absolute', got "
                             f'{self.vit_positions!r}')


class ResidualConvBlock(nn.Module):
    """x + conv(gelu(norm(conv(x)))): a 3x3 residual block that keeps the grid's size."""

    def __init__(self, channels: int, circular: bool):
        super().__init__()
        mode = 'circular' if circular else 'zeros'
        self.norm = nn.GroupNorm(1, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=mode)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=mode)

    def forward(self, x):  # [B, C, h, w] -> [B, C, h, w]
        return x + self.conv2(F.gelu(self.conv1(self.norm(x))))


class CnnAutoencoder(nn.Module):
    """Patch-embedding conv encoder and a conv decoder that writes one pixel patch per token."""

    def __init__(self, config: CnnAutoencoderConfig, image_size: int):
        super().__init__()
        p = config.cnn_patch_size
        if image_size % p:
            raise ValueError(f'image_size {image_size} is not a multiple of cnn_patch_size {p}')
        self.config, self.patch_size = config, p
        self.grid = (image_size // p, image_size // p)
        self.latent_dim = d = config.cnn_channels
        circular = config.cnn_circular_padding
        self.embed = nn.Conv2d(3, d, kernel_size=p, stride=p)
        self.encoder = nn.Sequential(*[ResidualConvBlock(d, circular)
                                       for _ in range(config.cnn_encoder_blocks)])
        self.encoder_norm = nn.GroupNorm(1, d)
        self.decoder = nn.Sequential(*[ResidualConvBlock(d, circular)
                                       for _ in range(config.cnn_decoder_blocks)])
        self.to_pixels = nn.Conv2d(d, 3 * p * p, kernel_size=1)
        nn.init.constant_(self.to_pixels.bias, INITIAL_LOGIT)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """`[B, 3, H, W]` in [0, 1] -> tokens `[B, N, D]`."""
        x = self.encoder_norm(self.encoder(self.embed(images)))  # [B, D, h, w]
        return x.flatten(2).transpose(1, 2)

    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens `[B, N, D]` -> logits `[B, 3, H, W]`."""
        h, w = self.grid
        x = tokens.transpose(1, 2).reshape(tokens.shape[0], self.latent_dim, h, w)
        return F.pixel_shuffle(self.to_pixels(self.decoder(x)), self.patch_size)

    def reconstruction_logits(self, images: torch.Tensor, mask_ratio: float = 0.0):
        """Logits `[B, 3, H, W]` and the pixel mask that the loss should count (None: all)."""
        return self.decode(self.encode(images)), None

    def draw_mask_ratio(self) -> float:
        return 0.0


def sincos_positions(grid: tuple, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embedding `[1, h * w, dim]` (as in MAE)."""
    h, w = grid
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / max(quarter, 1)))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing='ij')
    parts = []
    for coordinate in (ys.flatten(), xs.flatten()):
        angles = coordinate[:, None] * omega[None, :]  # [N, dim / 4]
        parts += [torch.sin(angles), torch.cos(angles)]
    embedding = torch.cat(parts, dim=1)
    return F.pad(embedding, (0, dim - embedding.shape[1]))[None]


class VitAutoencoder(nn.Module):
    """MAE-style ViT: timm PatchEmbed + Blocks, random masking, a light transformer decoder.

    Positions are relative by default (a learned bias per head and token offset in every
    attention, `relative_positions.py`); `vit_positions='absolute'` restores the original's
    sine-cosine embeddings (then the `*_bias` modules are None; with relative positions the
    `*position` buffers are).
    """

    def __init__(self, config: VitAutoencoderConfig, image_size: int):
        super().__init__()
        p = config.vit_patch_size
        if image_size % p:
            raise ValueError(f'image_size {image_size} is not a multiple of vit_patch_size {p}')
        self.config, self.patch_size = config, p
        self.grid = (image_size // p, image_size // p)
        self.latent_dim = d = config.vit_dim
        dd = config.vit_decoder_dim
        self.embed = PatchEmbed(image_size, p, 3, d)
        absolute = config.vit_positions == 'absolute'
        self.register_buffer('position', sincos_positions(self.grid, d) if absolute else None,
                             persistent=False)
        self.encoder_bias = RelativePositionBias(
            self.grid, config.vit_heads, config.vit_relative_wrap) if not absolute else None
        self.encoder = nn.ModuleList([Block(d, config.vit_heads, qkv_bias=True)
                                      for _ in range(config.vit_depth)])
        self.encoder_norm = nn.LayerNorm(d)
        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer('decoder_position',
                             sincos_positions(self.grid, dd) if absolute else None,
                             persistent=False)
        self.decoder_bias = RelativePositionBias(
            self.grid, config.vit_heads, config.vit_relative_wrap) if not absolute else None
        self.decoder = nn.ModuleList([Block(dd, config.vit_heads, qkv_bias=True)
                                      for _ in range(config.vit_decoder_depth)])
        self.decoder_norm = nn.LayerNorm(dd)
        if not absolute:
            attend_explicitly([*self.encoder, *self.decoder])
        self.to_pixels = nn.Linear(dd, p * p * 3)
        nn.init.constant_(self.to_pixels.bias, INITIAL_LOGIT)

    def draw_mask_ratio(self) -> float:
        low, high = self.config.vit_mask_ratio_min, self.config.vit_mask_ratio_max
        return low + (high - low) * float(torch.rand(()))

    def encode(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """`[B, 3, H, W]` -> tokens `[B, N, D]`; with `keep` `[B, K]` only those `[B, K, D]`."""
        x = self.embed(images)  # [B, N, D]
        if self.position is not None:
            x = x + self.position
        if keep is not None:
            x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[2]))  # [B, K, D]
        bias = None if self.encoder_bias is None else self.encoder_bias(keep).to(x.dtype)
        for block in self.encoder:
            x = block(x, attn_mask=bias)
        return self.encoder_norm(x)

    def decode(self, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Tokens `[B, N, D]` (or the kept `[B, K, D]`) -> logits `[B, 3, H, W]`."""
        x = self.decoder_embed(tokens)  # [B, K, dd]
        n = self.grid[0] * self.grid[1]
        if keep is not None:  # scatter the kept tokens into a grid of mask tokens
            full = self.mask_token.expand(x.shape[0], n, -1).clone()
            x = full.scatter(1, keep[..., None].expand(-1, -1, x.shape[2]), x)  # [B, N, dd]
        if self.decoder_position is not None:
            x = x + self.decoder_position
        bias = None if self.decoder_bias is None else self.decoder_bias().to(x.dtype)
        for block in self.decoder:
            x = block(x, attn_mask=bias)
        patches = self.to_pixels(self.decoder_norm(x))  # [B, N, p*p*3]
        return unpatchify(patches, self.grid, self.patch_size)

    def reconstruction_logits(self, images: torch.Tensor, mask_ratio: float = 0.0):
        """Logits `[B, 3, H, W]` and the mask `[B, 1, H, W]` of hidden patches (None: none)."""
        n = self.grid[0] * self.grid[1]
        kept = n - int(round(mask_ratio * n))
        if kept >= n:
            return self.decode(self.encode(images)), None
        noise = torch.rand(images.shape[0], n, device=images.device)
        keep = noise.argsort(dim=1)[:, :kept]  # [B, K]: a random subset per image
        logits = self.decode(self.encode(images, keep), keep)
        hidden = torch.ones(images.shape[0], n, device=images.device)
        hidden.scatter_(1, keep, 0.0)  # [B, N]: 1 where the patch was masked
        p = self.patch_size
        mask = F.interpolate(hidden.reshape(-1, 1, *self.grid), scale_factor=p, mode='nearest')
        return logits, mask


def unpatchify(patches: torch.Tensor, grid: tuple, patch_size: int) -> torch.Tensor:
    """`[B, N, p*p*3]` -> `[B, 3, h*p, w*p]` (channel-major within each patch)."""
    h, w = grid
    b = patches.shape[0]
    x = patches.reshape(b, h, w, 3, patch_size, patch_size)
    return x.permute(0, 3, 1, 4, 2, 5).reshape(b, 3, h * patch_size, w * patch_size)


def build_autoencoder(kind: str, config, image_size: int) -> nn.Module:
    if kind == 'cnn':
        return CnnAutoencoder(config, image_size)
    if kind == 'vit':
        return VitAutoencoder(config, image_size)
    raise ValueError(f"unknown autoencoder {kind!r}: expected 'cnn' or 'vit'")
