"""2D convolution that runs on oneDNN under XLA:CPU, forward and backward.

    y = conv(x, w)              x [N, H, W, C], w [KH, KW, C, O] -> y [N, OH, OW, O]
    dx = conv_dx(dy, w)         the transpose of x -> conv(x, w)
    dw = conv_dw(x, dy)         the transpose of w -> conv(x, w)

XLA:CPU computes the weight gradient as a convolution over transposed copies of the activations
and output gradients, 1.5-3x slower than oneDNN's kernels on the UNet's 3x3 convolutions, and
its forward convolution is up to 2.5x slower too (docs/benchmarks.md). Here the three maps are
JAX primitives, each bilinear, whose transposes are each other:

    conv:    T_x = conv_dx(ct, w)   T_w = conv_dw(x, ct)
    conv_dx: T_dy = conv(ct, w)     T_w = conv_dw(ct, dy)
    conv_dw: T_x = conv_dx(dy, ct)  T_dy = conv(x, ct)

so forward mode, reverse mode and any mix of them work, and every derivative of any order is
again one of the three. All three lower to the oneDNN FFI kernels (`genjax.native`) on a
single-device CPU computation and to XLA's convolutions otherwise (GPU, TPU, SPMD partitioned
programs). Under `vmap` they fall back to `lax.conv_general_dilated`.

`conv_general_dilated` is a drop-in for `lax.conv_general_dilated` (flax's
`nn.Conv(conv_general_dilated=...)`) that routes convolutions to this path (see there).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jax.interpreters import ad

from genjax import native
from genjax.native.primitives import reference_primitive, register_cpu_kernel

Array = jax.Array
_NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def _lax_conv(x: Array, w: Array, *, strides, padding, **_) -> Array:
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=_NHWC)


def _lax_conv_dx(dy: Array, w: Array, *, strides, padding, x_shape) -> Array:
    x = jax.ShapeDtypeStruct(x_shape, dy.dtype)
    return jax.linear_transpose(lambda x: _lax_conv(x, w, strides=strides, padding=padding), x)(dy)[0]


def _lax_conv_dw(x: Array, dy: Array, *, strides, padding, w_shape) -> Array:
    w = jax.ShapeDtypeStruct(w_shape, dy.dtype)
    return jax.linear_transpose(lambda w: _lax_conv(x, w, strides=strides, padding=padding), w)(dy)[0]


conv_p = reference_primitive("genjax_conv", _lax_conv)
conv_dx_p = reference_primitive("genjax_conv_dx", _lax_conv_dx)
conv_dw_p = reference_primitive("genjax_conv_dw", _lax_conv_dw)


def _geometry(kw: dict) -> dict:
    return {k: v for k, v in kw.items() if k in ("strides", "padding")}


# Transposes (see the module docstring); `u` is the undefined (linear) operand, ct its cotangent.
ad.defbilinear(
    conv_p,
    lambda ct, u, w, **kw: conv_dx_p.bind(ct, w, **_geometry(kw), x_shape=u.aval.shape),
    lambda ct, x, u, **kw: conv_dw_p.bind(x, ct, **_geometry(kw), w_shape=u.aval.shape),
)
ad.defbilinear(
    conv_dx_p,
    lambda ct, u, w, **kw: conv_p.bind(ct, w, **_geometry(kw)),
    lambda ct, dy, u, **kw: conv_dw_p.bind(ct, dy, **_geometry(kw), w_shape=u.aval.shape),
)
ad.defbilinear(
    conv_dw_p,
    lambda ct, u, dy, **kw: conv_dx_p.bind(dy, ct, **_geometry(kw), x_shape=u.aval.shape),
    lambda ct, x, u, **kw: conv_p.bind(x, ct, **_geometry(kw)),
)


def _attrs(*, strides, padding, **_) -> dict:
    (pt, pb), (pl, pr) = padding
    return dict(stride_h=strides[0], stride_w=strides[1], pad_t=pt, pad_b=pb, pad_l=pl, pad_r=pr)


register_cpu_kernel(conv_p, "genjax_conv_fwd", _lax_conv, _attrs)
register_cpu_kernel(conv_dx_p, "genjax_conv_bwd_data", _lax_conv_dx, _attrs)
register_cpu_kernel(conv_dw_p, "genjax_conv_bwd_weights", _lax_conv_dw, _attrs)


def conv_general_dilated(
    lhs: Array,
    rhs: Array,
    window_strides: Sequence[int],
    padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
) -> Array:
    """`lax.conv_general_dilated`'s signature. Plain NHWC/HWIO convolutions (no dilation, one
    group) take a faster path: 1x1 stride-1 ones are a matmul over channels (XLA:CPU computes the
    matmul's weight gradient without the transposes a convolution's needs), larger float32 ones at
    default precision become `conv_p` when the oneDNN kernels are available. Anything else goes to
    lax unchanged."""
    plain = (
        lhs.ndim == rhs.ndim == 4
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC
        and all(d == 1 for d in (*(lhs_dilation or (1, 1)), *(rhs_dilation or (1, 1))))
        and feature_group_count == batch_group_count == 1
        and preferred_element_type is None
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
        )
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    strides = tuple(int(s) for s in window_strides)
    if rhs.shape[:2] == (1, 1) and strides == (1, 1) and pads == ((0, 0), (0, 0)):
        n, h, w, c = lhs.shape
        return jnp.matmul(lhs.reshape(n * h * w, c), rhs[0, 0], precision=precision).reshape(n, h, w, -1)
    if lhs.dtype == rhs.dtype == jnp.float32 and precision is None and native.onednn():
        return conv_p.bind(lhs, rhs, strides=strides, padding=pads)
    return lax.conv_general_dilated(lhs, rhs, strides, pads, dimension_numbers=_NHWC, precision=precision)
