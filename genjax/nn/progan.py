"""ProGAN networks (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation"): a generator and a discriminator that grow by 2x stages.

Stage k works at resolution r_k = s 2^k, with s <= 7 from `num_stages` (32: 4 -> 8 -> 16 -> 32,
28: 7 -> 14 -> 28). Every resolution's layers are created at init (init runs at the final
stage), so the param shapes never change; a lower stage simply does not use the higher layers.
`stage` is a static Python int and `alpha` in [0, 1] a traced scalar. While stage k fades in
(sec. 2, fig. 2):

    G:  x = (1 - alpha) * up(toRGB_{k-1}(h_{k-1})) + alpha * toRGB_k(h_k)
    D:  h = (1 - alpha) * fromRGB_{k-1}(down(x)) + alpha * block_k(fromRGB_k(x))

with nearest-neighbour `up` and 2x2 average pooling `down`. Layers follow Table 2: equalised
learning rate everywhere (sec. 4.1), pixel norm of the latent and after every generator conv
(sec. 4.2), leaky ReLU 0.2, a linear generator output, and the minibatch standard deviation
before the discriminator's last block (sec. 3). The He gain sqrt(2) of the discriminator's
layers is applied after the activation (`lrelu_gain`, as in StyleGAN2); the generator's pixel
norm makes it irrelevant there. Channels at resolution r are min(channel_base // r, channel_max)
(the paper: 8192 // r, at most 512).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.dcgan import num_upsamplings
from genjax.nn.gan_layers import (
    EqualizedConv,
    EqualizedDense,
    avg_pool,
    lrelu_gain,
    minibatch_stddev,
    pixel_norm,
    upsample_nearest,
)
from genjax.nn.stylegan2 import channels

Array = jax.Array


def num_stages(size: int) -> tuple[int, int]:
    """(start resolution s, final stage n): stages 0..n work at s, 2s, ..., s 2^n = size."""
    return num_upsamplings(size)


def _check_stage(size: int, stage: int, initializing: bool) -> tuple[int, int]:
    s, n = num_stages(size)
    if not 0 <= stage <= n:
        raise ValueError(
            f"stage {stage} out of range: {size}x{size} images have stages 0..{n} "
            f"({', '.join(str(s * 2**k) for k in range(n + 1))})"
        )
    if initializing and stage != n:
        raise ValueError(f"init at the final stage {n} so that every resolution's params exist, got {stage}")
    return s, n


def fade(low: Array, high: Array, alpha: Array) -> Array:
    """(1 - alpha) * low + alpha * high: exactly `low` at alpha = 0 and `high` at alpha = 1."""
    a = jnp.asarray(alpha).astype(high.dtype)
    return (1 - a) * low + a * high


class ProGANGenerator(nn.Module):
    """z [B, z_dim] -> images [B, r_k, r_k, C] at stage k's resolution (linear output)."""

    out_shape: tuple[int, int, int]
    channel_base: int = 8192
    channel_max: int = 512

    @nn.compact
    def __call__(self, z: Array, stage: int, alpha: Array | float = 1.0) -> Array:
        s, n = _check_stage(self.out_shape[0], stage, self.is_initializing())
        ch = lambda k: channels(s * 2**k, self.channel_base, self.channel_max)  # noqa: E731
        act = lambda v: pixel_norm(nn.leaky_relu(v, 0.2))  # noqa: E731
        h = EqualizedDense(s * s * ch(0), name="dense")(pixel_norm(z)).reshape(z.shape[0], s, s, ch(0))
        h = act(EqualizedConv(ch(0), name="b0_conv")(act(h)))
        hs = [h]  # h_k [B, r_k, r_k, ch(k)]
        for k in range(1, stage + 1):
            h = act(EqualizedConv(ch(k), name=f"b{k}_conv0")(upsample_nearest(h)))
            h = act(EqualizedConv(ch(k), name=f"b{k}_conv1")(h))
            hs.append(h)
        to_rgb = [EqualizedConv(self.out_shape[-1], 1, name=f"to_rgb{k}") for k in range(n + 1)]
        if self.is_initializing():
            for k, h_k in enumerate(hs):
                to_rgb[k](h_k)
        x = to_rgb[stage](h)
        if stage == 0:
            return x
        return fade(upsample_nearest(to_rgb[stage - 1](hs[-2])), x, alpha)


class ProGANDiscriminator(nn.Module):
    """images [B, r_k, r_k, C] at stage k's resolution -> critic values [B]."""

    in_shape: tuple[int, int, int]
    channel_base: int = 8192
    channel_max: int = 512
    mbstd_group: int = 4

    @nn.compact
    def __call__(self, x: Array, stage: int, alpha: Array | float = 1.0) -> Array:
        s, n = _check_stage(self.in_shape[0], stage, self.is_initializing())
        if x.shape[1:3] != (s * 2**stage,) * 2:
            raise ValueError(f"stage {stage} takes {s * 2**stage}x{s * 2**stage} images, got {x.shape}")
        ch = lambda k: channels(s * 2**k, self.channel_base, self.channel_max)  # noqa: E731
        from_rgb = [EqualizedConv(ch(k), 1, name=f"from_rgb{k}") for k in range(n + 1)]
        if self.is_initializing():
            for k in range(n + 1):
                from_rgb[k](avg_pool(x, 2 ** (n - k)))
        h = lrelu_gain(from_rgb[stage](x))
        for k in range(stage, 0, -1):
            h = lrelu_gain(EqualizedConv(ch(k), name=f"b{k}_conv0")(h))
            h = avg_pool(lrelu_gain(EqualizedConv(ch(k - 1), name=f"b{k}_conv1")(h)))
            if k == stage:
                h = fade(lrelu_gain(from_rgb[k - 1](avg_pool(x))), h, alpha)
        h = minibatch_stddev(h, min(self.mbstd_group, h.shape[0]))
        h = lrelu_gain(EqualizedConv(ch(0), name="b0_conv")(h))
        h = lrelu_gain(EqualizedDense(ch(0), name="b0_fc")(h.reshape(h.shape[0], -1)))
        return EqualizedDense(1, name="out")(h)[:, 0]
