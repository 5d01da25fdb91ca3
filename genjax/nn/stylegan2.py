"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
config F layout at any power-of-two resolution: mapping network, modulated/demodulated
convolutions with noise inputs, skip generator, residual discriminator with minibatch std.

Channels at resolution r are min(channel_base // r, channel_max) (the paper: 32768 / 512).
Images whose side is not a power of two (28x28) are generated at the next power of two and
centre-cropped; the discriminator zero-pads them back. Class conditioning: the label
embedding is concatenated to z in the mapping network and projected in the discriminator.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.gan_layers import (
    EqualizedConv,
    EqualizedDense,
    ModulatedConv,
    NoiseInjection,
    downsample2x,
    lrelu_gain,
    minibatch_stddev,
    pixel_norm,
    upsample2x,
)
from genjax.nn.named import named
from genjax.parallel.axes import CONV_IN, CONV_OUT

Array = jax.Array


def padded_resolution(size: int) -> int:
    """Smallest power of two >= size (and >= 8)."""
    return max(8, 2 ** math.ceil(math.log2(size)))


def num_ws(resolution: int) -> int:
    """Style inputs of the synthesis network: 2 log2(R) - 2."""
    return 2 * int(math.log2(resolution)) - 2


def channels(res: int, channel_base: int, channel_max: int) -> int:
    return min(channel_base // res, channel_max)


class MappingNetwork(nn.Module):
    """z [B, z_dim] (+ y [B]) -> w [B, w_dim]: normalise, `num_layers` equalised dense layers
    with learning-rate multiplier 0.01."""

    w_dim: int = 512
    num_layers: int = 8
    lr_multiplier: float = 0.01
    num_classes: int | None = None

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None) -> Array:
        h = pixel_norm(z)
        if self.num_classes:
            emb = EqualizedDense(self.w_dim, name="embed")(jax.nn.one_hot(y, self.num_classes, dtype=z.dtype))
            h = jnp.concatenate([h, pixel_norm(emb)], axis=-1)
        for i in range(self.num_layers):
            h = lrelu_gain(EqualizedDense(self.w_dim, self.lr_multiplier, name=f"fc{i}")(h))
        return h


class SynthesisLayer(nn.Module):
    """Modulated conv (optionally upsampling) + noise + bias + lrelu*sqrt(2)."""

    features: int
    up: bool = False

    @nn.compact
    def __call__(self, x: Array, w: Array, noise_mode: str) -> Array:
        x = ModulatedConv(self.features, up=self.up)(x, w)
        noise = jnp.zeros(x.shape[:3] + (1,), x.dtype) if noise_mode == "const" else None
        x = NoiseInjection()(x, noise)
        x = x + self.param("bias", named(nn.initializers.zeros, (CONV_OUT,)), (self.features,)).astype(x.dtype)
        return lrelu_gain(x)


class SynthesisNetwork(nn.Module):
    """ws [B, num_ws, w_dim] -> images [B, R, R, C]: constant 4x4 input; per resolution two
    synthesis layers; skip architecture, where the image is the sum of upsampled toRGB outputs."""

    resolution: int
    img_channels: int
    channel_base: int = 32768
    channel_max: int = 512

    @nn.compact
    def __call__(self, ws: Array, noise_mode: str = "random") -> Array:
        ch = lambda r: channels(r, self.channel_base, self.channel_max)  # noqa: E731
        b = ws.shape[0]
        const = self.param("const", named(nn.initializers.normal(1.0), (None, None, CONV_IN)), (4, 4, ch(4)))
        x = jnp.broadcast_to(const.astype(ws.dtype), (b, 4, 4, ch(4)))
        x = SynthesisLayer(ch(4), name="b4_conv1")(x, ws[:, 0], noise_mode)
        img = ModulatedConv(self.img_channels, 1, demodulate=False, name="b4_torgb")(x, ws[:, 1])
        idx = 1
        for k in range(3, int(math.log2(self.resolution)) + 1):
            r = 2**k
            x = SynthesisLayer(ch(r), up=True, name=f"b{r}_conv0")(x, ws[:, idx], noise_mode)
            x = SynthesisLayer(ch(r), name=f"b{r}_conv1")(x, ws[:, idx + 1], noise_mode)
            rgb = ModulatedConv(self.img_channels, 1, demodulate=False, name=f"b{r}_torgb")(x, ws[:, idx + 2])
            img = upsample2x(img) + rgb
            idx += 2
        return img


class StyleGAN2Generator(nn.Module):
    """z [B, z_dim] (+ y) -> images [B, *out_shape].

    Training draws a second latent for style mixing with probability `mixing_prob` (a random
    crossover layer per example) and tracks w_avg (collection "w_avg") for the truncation trick
    w' = w_avg + psi (w - w_avg) used at sampling time."""

    out_shape: tuple[int, int, int]
    w_dim: int = 512
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    num_classes: int | None = None
    w_avg_beta: float = 0.995

    def setup(self):
        self.resolution = padded_resolution(self.out_shape[0])
        self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, num_classes=self.num_classes)
        self.synthesis = SynthesisNetwork(self.resolution, self.out_shape[-1], self.channel_base, self.channel_max)
        self.w_avg = self.variable("w_avg", "w_avg", jnp.zeros, (self.w_dim,))

    def map(
        self, z: Array, y: Array | None, train: bool, mixing_prob: float = 0.0, truncation_psi: float = 1.0
    ) -> Array:
        """ws [B, num_ws, w_dim]."""
        n = num_ws(self.resolution)
        w = self.mapping(z, y)
        if train and not self.is_initializing():
            mean = jnp.mean(w, axis=0).astype(self.w_avg.value.dtype)
            self.w_avg.value = self.w_avg.value + (1 - self.w_avg_beta) * (mean - self.w_avg.value)
        ws = jnp.broadcast_to(w[:, None], (w.shape[0], n, w.shape[-1]))
        if train and mixing_prob > 0:
            k1, k2, k3 = jax.random.split(self.make_rng("noise"), 3)
            w2 = self.mapping(jax.random.normal(k1, z.shape, z.dtype), y)
            cutoff = jax.random.randint(k2, (z.shape[0],), 1, n)
            cutoff = jnp.where(jax.random.uniform(k3, (z.shape[0],)) < mixing_prob, cutoff, n)
            mix = (jnp.arange(n)[None, :] >= cutoff[:, None])[..., None]
            ws = jnp.where(mix, w2[:, None], ws)
        if truncation_psi != 1.0:
            avg = self.w_avg.value.astype(ws.dtype)
            ws = avg + truncation_psi * (ws - avg)
        return ws

    def synthesize(self, ws: Array, noise_mode: str = "random") -> Array:
        img = self.synthesis(ws, noise_mode)
        h, w, _ = self.out_shape
        top, left = (img.shape[1] - h) // 2, (img.shape[2] - w) // 2
        return img[:, top : top + h, left : left + w]

    def __call__(
        self,
        z: Array,
        y: Array | None = None,
        train: bool = False,
        mixing_prob: float = 0.0,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
    ) -> Array:
        return self.synthesize(self.map(z, y, train, mixing_prob, truncation_psi), noise_mode)


class DiscriminatorBlock(nn.Module):
    """Residual block: conv3-lrelu, conv3-lrelu, downsample; skip: downsample, 1x1 conv;
    output (x + skip) / sqrt(2)."""

    features_mid: int
    features_out: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        skip = EqualizedConv(self.features_out, 1, use_bias=False)(downsample2x(x))
        h = lrelu_gain(EqualizedConv(self.features_mid)(x))
        h = downsample2x(lrelu_gain(EqualizedConv(self.features_out)(h)))
        return (h + skip) * (1 / math.sqrt(2.0))


class StyleGAN2Discriminator(nn.Module):
    """images [B, H, W, C] (+ y) -> logits [B]: fromRGB, residual blocks down to 4x4,
    minibatch std (group 4), conv, dense, output (projection onto the label embedding when
    conditional)."""

    channel_base: int = 32768
    channel_max: int = 512
    mbstd_group: int = 4
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, train: bool = False) -> Array:
        ch = lambda r: channels(r, self.channel_base, self.channel_max)  # noqa: E731
        res = padded_resolution(x.shape[1])
        ph, pw = res - x.shape[1], res - x.shape[2]
        x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h = lrelu_gain(EqualizedConv(ch(res), 1, name="fromrgb")(x))
        for k in range(int(math.log2(res)), 2, -1):
            r = 2**k
            h = DiscriminatorBlock(ch(r), ch(r // 2), name=f"b{r}")(h)
        h = minibatch_stddev(h, min(self.mbstd_group, h.shape[0]))
        h = lrelu_gain(EqualizedConv(ch(4), name="b4_conv")(h))
        h = lrelu_gain(EqualizedDense(ch(4), name="b4_fc")(h.reshape(h.shape[0], -1)))
        if not self.num_classes:
            return EqualizedDense(1, name="out")(h)[:, 0]
        cmap = EqualizedDense(ch(4), name="embed")(jax.nn.one_hot(y, self.num_classes, dtype=h.dtype))
        out = EqualizedDense(ch(4), name="out")(h)
        return jnp.sum(out * cmap, axis=-1) / math.sqrt(ch(4))
