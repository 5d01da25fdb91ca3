"""ADM-style UNet (Ho et al. 2020, appendix B; Dhariwal & Nichol 2021, "Diffusion Models Beat
GANs", sec. 3): residual blocks conditioned on the noise level (added, or GroupNorm scale/shift),
self-attention at chosen resolutions, dropout, optional class conditioning with a null class.

With ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1 and
scale_shift=False this is DDPM's CIFAR-10 network, 35.7M parameters.

Tensor parallelism (genjax.parallel.axes): activations between blocks are [batch, H, W, C] with
the channels whole on every `tensor` device; a ResBlock's first convolution and its embedding
projection shard their output channels (`conv_out`), its second convolution and its skip its
input channels, so the block ends in one all-reduce; attention shards heads (qkv column-, proj
row-parallel). The other convolutions (conv_in, down, up, conv_out) shard their output channels
and gather them at the block boundary.
"""

from __future__ import annotations

import itertools

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.linear import default_kernel_init

from genjax.nn.attention import dot_product_attention
from genjax.nn.remat import remat
from genjax.nn.conv import conv_general_dilated
from genjax.nn.embeddings import LabelEmbedding, TimeEmbedding
from genjax.nn.gan_layers import upsample_nearest
from genjax.nn.norm import GroupNorm
from genjax.parallel.axes import BATCH, CONV_IN, CONV_OUT, EMBED, HEADS, KV, NORM
from genjax.parallel.sharding import constrain

Array = jax.Array
_zeros = nn.initializers.zeros
_COLUMN = (CONV_IN, CONV_OUT)  # a kernel's (input, output) channel names: output split over tensor
_ROW = (CONV_OUT, CONV_IN)  # input split over tensor: partial sums, all-reduced by the block's end
_BOUNDARY = (BATCH, None, None, None)  # [B, H, W, C] between blocks: channels whole
_INNER = (BATCH, None, None, CONV_OUT)  # inside a block: channels split over tensor


def _norm(channels: int, activation: str | None = None, axis: str | None = NORM) -> GroupNorm:
    return GroupNorm(num_groups=math.gcd(32, channels), epsilon=1e-6, activation=activation, channel_axis=axis)


def _conv(features: int, zero: bool = False, names=_COLUMN, size: int = 3, **kw) -> nn.Conv:
    init = _zeros if zero else nn.initializers.lecun_normal()
    return nn.Conv(
        features,
        (size, size),
        kernel_init=nn.with_logical_partitioning(init, (None, None, *names)),
        bias_init=nn.with_logical_partitioning(_zeros, names[1:]),
        conv_general_dilated=conv_general_dilated,
        **kw,
    )


def _dense(features: int, names: tuple, init=default_kernel_init, **kw) -> nn.Dense:
    return nn.Dense(
        features,
        kernel_init=nn.with_logical_partitioning(init, names),
        bias_init=nn.with_logical_partitioning(_zeros, names[1:]),
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
        x = constrain(x, _BOUNDARY)
        h = constrain(_conv(self.features)(_norm(x.shape[-1], "silu")(x)), _INNER)
        proj = _dense(2 * self.features if self.scale_shift else self.features, (EMBED, CONV_OUT))(nn.silu(emb))
        if self.scale_shift:  # proj [B, 2F]
            scale, shift = (constrain(p, (BATCH, CONV_OUT)) for p in jnp.split(proj, 2, axis=-1))
            h = _norm(self.features, "silu", CONV_OUT)(h, scale=scale, shift=shift)
        else:  # proj [B, F]
            h = _norm(self.features, "silu", CONV_OUT)(h, add=constrain(proj, (BATCH, CONV_OUT)))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        h = _conv(self.features, zero=True, names=_ROW)(constrain(h, _INNER))
        if x.shape[-1] != self.features:
            x = _conv(self.features, names=_ROW, size=1, name="skip")(x)
        return constrain(x + h, _BOUNDARY)


class Attention(nn.Module):
    """Multi-head self-attention over the H*W positions with a residual connection."""

    num_heads: int
    attention: str = "auto"  # genjax.nn.attention.IMPLEMENTATIONS

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, hgt, wid, c = x.shape
        heads = (BATCH, None, None, HEADS, KV)
        h = _norm(c)(constrain(x, _BOUNDARY)).reshape(b, hgt * wid, c)
        qkv = constrain(_QKV(self.num_heads, name="qkv")(h), heads)  # [B, HW, 3, heads, C / heads]
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        h = dot_product_attention(q, k, v, implementation=self.attention).reshape(b, hgt * wid, c)
        # heads-major channels: splitting the kernel's input rows over tensor splits whole heads
        h = _dense(c, (HEADS, EMBED), _zeros, name="proj")(constrain(h, (BATCH, None, HEADS)))
        return constrain(x + h.reshape(x.shape), _BOUNDARY)


class _QKV(nn.Module):
    """h [B, N, C] -> [B, N, 3, heads, C / heads]: `nn.Dense(3C)`'s params (kernel [C, 3C], bias
    [3C]), applied as [C, 3, heads, C / heads] so that tensor devices each compute their heads.
    The kernel's columns interleave q, k, v, so it is stored split over fsdp only; each tensor
    device slices its heads from it locally."""

    num_heads: int

    @nn.compact
    def __call__(self, h: Array) -> Array:
        c = h.shape[-1]
        kernel = self.param(
            "kernel", nn.with_logical_partitioning(nn.initializers.lecun_normal(), (EMBED, None)), (c, 3 * c)
        )
        bias = self.param("bias", nn.with_logical_partitioning(_zeros, (None,)), (3 * c,))
        split = (3, self.num_heads, c // self.num_heads)
        kernel = constrain(kernel.reshape(c, *split).astype(h.dtype), (EMBED, None, HEADS, KV))
        return jnp.einsum("bnc,cshd->bnshd", h, kernel) + bias.reshape(split).astype(h.dtype)


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
