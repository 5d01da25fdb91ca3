"""ADM-style UNet (Ho et al. 2020, appendix B; Dhariwal & Nichol 2021, "Diffusion Models Beat
GANs", sec. 3): residual blocks conditioned on the noise level (added, or GroupNorm scale/shift),
self-attention at chosen resolutions, dropout, optional class conditioning with a null class.

With ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1 and
scale_shift=False this is DDPM's CIFAR-10 network, 35.7M parameters.
"""

from __future__ import annotations

import itertools

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.attention import dot_product_attention
from genjax.nn.remat import remat
from genjax.nn.conv import conv_general_dilated
from genjax.nn.embeddings import LabelEmbedding, TimeEmbedding
from genjax.nn.gan_layers import upsample_nearest
from genjax.nn.norm import GroupNorm

Array = jax.Array
_zeros = nn.initializers.zeros


def _norm(channels: int, activation: str | None = None) -> GroupNorm:
    return GroupNorm(num_groups=math.gcd(32, channels), epsilon=1e-6, activation=activation)


def _conv(features: int, zero: bool = False, **kw) -> nn.Conv:
    return nn.Conv(
        features,
        (3, 3),
        kernel_init=_zeros if zero else nn.initializers.lecun_normal(),
        conv_general_dilated=conv_general_dilated,
        **kw,
    )


class ResBlock(nn.Module):
    """h = conv(act(norm(x))); h = h + Dense(act(emb)) (or norm(h) (1 + scale) + shift);
    h = conv(dropout(act(h))); return skip(x) + h."""

    features: int
    dropout: float
    scale_shift: bool

    @nn.compact
    def __call__(self, x: Array, emb: Array, train: bool) -> Array:
        h = _conv(self.features)(_norm(x.shape[-1], "silu")(x))
        proj = nn.Dense(2 * self.features if self.scale_shift else self.features)(nn.silu(emb))  # [B, F | 2F]
        if self.scale_shift:
            scale, shift = jnp.split(proj, 2, axis=-1)
            h = _norm(self.features, "silu")(h, scale=scale, shift=shift)
        else:
            h = _norm(self.features, "silu")(h, add=proj)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = _conv(self.features, zero=True)(h)
        if x.shape[-1] != self.features:
            x = nn.Conv(self.features, (1, 1), conv_general_dilated=conv_general_dilated, name="skip")(x)
        return x + h


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions with a residual connection."""

    num_heads: int
    attention: str = "auto"  # genjax.nn.attention.IMPLEMENTATIONS

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, hgt, wid, c = x.shape
        h = _norm(c)(x).reshape(b, hgt * wid, c)
        qkv = nn.Dense(3 * c, name="qkv")(h).reshape(b, hgt * wid, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        h = dot_product_attention(q, k, v, implementation=self.attention).reshape(b, hgt * wid, c)
        h = nn.Dense(c, kernel_init=_zeros, name="proj")(h)
        return x + h.reshape(x.shape)


class UNet(nn.Module):
    """x [B, H, W, C], c_noise [B], labels [B] | None -> [B, H, W, out_channels or C].

    ch:             base channel count; level i has ch * ch_mult[i] channels
    attn_resolutions: spatial sizes (H) at which blocks are followed by self-attention
    num_classes:    class conditioning with a null class at index num_classes; labels=None
                    means the null class
    scale_shift:    ADM's GroupNorm scale/shift conditioning instead of DDPM's additive one
    attention, remat: the attention implementation and the ResBlocks' remat policy
    """

    ch: int = 128
    ch_mult: Sequence[int] = (1, 2, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: Sequence[int] = (16,)
    dropout: float = 0.1
    num_heads: int = 1
    num_classes: int | None = None
    scale_shift: bool = False
    out_channels: int | None = None
    attention: str = "auto"  # genjax.nn.attention.IMPLEMENTATIONS
    remat: str = "none"  # a policy of genjax.nn.remat, applied to every ResBlock

    @nn.compact
    def __call__(self, x: Array, c_noise: Array, labels: Array | None = None, train: bool = False) -> Array:
        if x.shape[1] % 2 ** (len(self.ch_mult) - 1):
            raise ValueError(
                f"image size {x.shape[1]} is not divisible by 2^{len(self.ch_mult) - 1} "
                f"(the UNet's ch_mult has {len(self.ch_mult)} levels)"
            )
        emb = TimeEmbedding(4 * self.ch, self.ch, name="time_embed")(c_noise, x.dtype)
        if self.num_classes:
            if labels is None:
                labels = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
            emb = emb + LabelEmbedding(self.num_classes, 4 * self.ch, name="label_embed")(labels).astype(emb.dtype)
        res_block, count = remat(ResBlock, self.remat, static_argnums=(3,)), itertools.count()  # 3: train
        # named as flax names them without remat, so remat leaves the params unchanged
        block = lambda f: res_block(f, self.dropout, self.scale_shift, name=f"ResBlock_{next(count)}")
        h = _conv(self.ch, name="conv_in")(x)
        skips = [h]
        for level, mult in enumerate(self.ch_mult):
            for _ in range(self.num_res_blocks):
                h = block(self.ch * mult)(h, emb, train)
                if h.shape[1] in self.attn_resolutions:
                    h = Attention(self.num_heads, self.attention)(h)
                skips.append(h)
            if level != len(self.ch_mult) - 1:
                h = _conv(h.shape[-1], strides=(2, 2), name=f"down_{level}")(h)
                skips.append(h)
        h = block(h.shape[-1])(h, emb, train)
        h = Attention(self.num_heads, self.attention)(h)
        h = block(h.shape[-1])(h, emb, train)
        for level, mult in reversed(list(enumerate(self.ch_mult))):
            for _ in range(self.num_res_blocks + 1):
                h = block(self.ch * mult)(jnp.concatenate([h, skips.pop()], axis=-1), emb, train)
                if h.shape[1] in self.attn_resolutions:
                    h = Attention(self.num_heads, self.attention)(h)
            if level != 0:
                h = _conv(h.shape[-1], name=f"up_{level}")(upsample_nearest(h))
        h = _norm(h.shape[-1], "silu")(h)
        return _conv(self.out_channels or x.shape[-1], zero=True, name="conv_out")(h)
