"""Layers of the GAN literature: pixel norm, minibatch standard deviation, equalised learning
rate, modulated/demodulated convolution, noise inputs, resampling (NHWC throughout)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.named import CONV, DENSE, named

Array = jax.Array


def pixel_norm(x: Array, eps: float = 1e-8) -> Array:
    """x / sqrt(mean_c x^2 + eps) over the last axis (Karras et al. 2018, sec. 4.2)."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def lrelu_gain(x: Array, slope: float = 0.2) -> Array:
    """Leaky ReLU times sqrt(2), the activation of StyleGAN2 (keeps unit variance)."""
    return nn.leaky_relu(x, slope) * math.sqrt(2.0)


def minibatch_stddev(x: Array, group_size: int = 4, num_channels: int = 1) -> Array:
    """Minibatch standard deviation (Karras et al. 2018 sec. 3; StyleGAN2's grouped variant).

    The batch is split into groups of `group_size` (example i belongs to group i mod N/G); within
    a group, the std over members of each feature is averaged over H, W and the channels of
    each of `num_channels` channel slices, and appended as extra constant channels.
    x: [N, H, W, C] or [N, C] -> [N, H, W, C + num_channels] or [N, C + num_channels].
    """
    flat = x.ndim == 2
    if flat:
        x = x[:, None, None, :]
    n, h, w, c = x.shape
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"batch {n} is not divisible by the minibatch-std group size {g}")
    f = num_channels
    y = x.reshape(g, n // g, h, w, f, c // f)
    y = y - y.mean(axis=0)
    y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)  # [N/G, H, W, F, C/F]
    y = y.mean(axis=(1, 2, 4))  # [N/G, F]
    y = jnp.tile(y, (g, 1))  # example i -> group statistic i mod N/G
    y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, f)).astype(x.dtype)
    out = jnp.concatenate([x, y], axis=-1)
    return out[:, 0, 0, :] if flat else out


def upsample2x(x: Array) -> Array:
    """Bilinear 2x upsampling; equals the separable [1, 3, 3, 1] FIR upsampling of StyleGAN2
    away from the border."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, 2 * h, 2 * w, c), "bilinear")


def downsample2x(x: Array) -> Array:
    """Antialiased bilinear 2x downsampling: the [1, 3, 3, 1] / 8 separable filter, stride 2."""
    n, h, w, c = x.shape
    return jax.image.resize(x, (n, h // 2, w // 2, c), "bilinear", antialias=True)


def upsample_nearest(x: Array, factor: int = 2) -> Array:
    """Nearest-neighbour upsampling by an integer factor, each pixel repeated factor x factor
    times (ProGAN's upsampling, Karras et al. 2018, sec. 2): [N, H, W, C] -> [N, fH, fW, C]."""
    return x if factor == 1 else jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def avg_pool(x: Array, factor: int = 2) -> Array:
    """Mean of non-overlapping factor x factor blocks (ProGAN's downsampling):
    [N, H, W, C] -> [N, H/f, W/f, C]."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    if h % factor or w % factor:
        raise ValueError(f"image side {h}x{w} is not divisible by the pooling factor {factor}")
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


class EqualizedDense(nn.Module):
    """Dense layer with equalised learning rate (Karras et al. 2018, sec. 4.1): weights drawn
    from N(0, 1 / lr_multiplier^2) and scaled at run time by lr_multiplier / sqrt(fan_in)."""

    features: int
    lr_multiplier: float = 1.0
    bias_init: float = 0.0
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array) -> Array:  # [..., fan_in] -> [..., features]
        init = nn.initializers.normal(1.0 / self.lr_multiplier)
        kernel = self.param("kernel", named(init, DENSE), (x.shape[-1], self.features))
        y = x @ (kernel * (self.lr_multiplier / math.sqrt(x.shape[-1]))).astype(x.dtype)
        if self.use_bias:
            bias = self.param(
                "bias",
                named(nn.initializers.constant(self.bias_init / self.lr_multiplier), DENSE[1:]),
                (self.features,),
            )
            y = y + (bias * self.lr_multiplier).astype(x.dtype)
        return y


class EqualizedConv(nn.Module):
    """3x3 (or k x k) 'SAME' convolution with equalised learning rate."""

    features: int
    kernel_size: int = 3
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array) -> Array:  # [N, H, W, C] -> [N, H, W, F]
        k = self.kernel_size
        kernel = self.param("kernel", named(nn.initializers.normal(1.0), CONV), (k, k, x.shape[-1], self.features))
        scale = 1.0 / math.sqrt(k * k * x.shape[-1])
        y = _conv(x, (kernel * scale).astype(x.dtype))
        if self.use_bias:
            y = y + self.param("bias", named(nn.initializers.zeros, CONV[-1:]), (self.features,)).astype(x.dtype)
        return y


def _conv(x: Array, w: Array) -> Array:
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def modulated_conv2d(x: Array, weight: Array, styles: Array, demodulate: bool = True) -> Array:
    """Modulated convolution of StyleGAN2 (Karras et al. 2020, eq. 1-3).

    w'_{ijk} = s_i w_{ijk};  w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k} w'_{ijk}^2 + 1e-8)
    (i input channel, j output channel, k spatial tap), a different kernel per example. Computed
    without per-example kernels: scale the input by s, convolve with w, scale the output by the
    demodulation coefficients (the reference code's non-fused path; identical by linearity).
    x: [N, H, W, C_in], weight: [k, k, C_in, C_out], styles: [N, C_in] -> [N, H, W, C_out].
    """
    y = _conv(x * styles[:, None, None, :].astype(x.dtype), weight.astype(x.dtype))
    if demodulate:
        w_sq = jnp.sum(jnp.square(weight), axis=(0, 1))  # [C_in, C_out]
        d = jax.lax.rsqrt(jnp.square(styles) @ w_sq + 1e-8)  # [N, C_out]
        y = y * d[:, None, None, :].astype(x.dtype)
    return y


class ModulatedConv(nn.Module):
    """Style-modulated k x k convolution: styles = affine(w) (bias 1), optional 2x upsampling
    before the convolution, equalised learning rate."""

    features: int
    kernel_size: int = 3
    demodulate: bool = True
    up: bool = False

    @nn.compact
    def __call__(self, x: Array, w: Array) -> Array:  # x [N,H,W,C], w [N, w_dim]
        c_in, k = x.shape[-1], self.kernel_size
        styles = EqualizedDense(c_in, bias_init=1.0, name="affine")(w)  # [N, C_in]
        weight = self.param("weight", named(nn.initializers.normal(1.0), CONV), (k, k, c_in, self.features))
        weight = weight * (1.0 / math.sqrt(k * k * c_in))
        if self.up:
            x = upsample2x(x)
        return modulated_conv2d(x, weight, styles, self.demodulate)


class NoiseInjection(nn.Module):
    """Per-pixel Gaussian noise times a learned strength (Karras et al. 2019, sec. 2).

    The noise comes from the "noise" RNG stream; `noise` may be given instead (e.g. zeros)."""

    @nn.compact
    def __call__(self, x: Array, noise: Array | None = None) -> Array:  # [N, H, W, C]
        strength = self.param("strength", named(nn.initializers.zeros, ()), ())
        if noise is None:
            noise = jax.random.normal(self.make_rng("noise"), x.shape[:3] + (1,), x.dtype)
        return x + strength.astype(x.dtype) * noise
