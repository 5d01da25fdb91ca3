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

from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from genjax import native

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


def _primitive(name: str, reference, multiple_results: bool = False) -> Primitive:
    """A primitive computed by `reference` wherever no platform lowering says otherwise (also its
    shapes, and under vmap)."""
    p = Primitive(name)
    p.multiple_results = multiple_results
    p.def_impl(lambda *args, **kw: jax.jit(partial(p.bind, **kw))(*args))

    def abstract(*args, **kw):
        out = jax.eval_shape(partial(reference, **kw), *args)
        as_aval = lambda s: jax.core.ShapedArray(s.shape, s.dtype)  # noqa: E731
        return [as_aval(o) for o in out] if multiple_results else as_aval(out)

    p.def_abstract_eval(abstract)
    mlir.register_lowering(p, mlir.lower_fun(reference, multiple_results=multiple_results))

    def batch(args, dims, **kw):  # vmap: the reference's batching rules
        out = jax.vmap(partial(reference, **kw), in_axes=dims)(*args)
        return out, ([0] * len(out) if multiple_results else 0)

    batching.primitive_batchers[p] = batch
    return p


conv_p = _primitive("genjax_conv", _lax_conv)
conv_dx_p = _primitive("genjax_conv_dx", _lax_conv_dx)
conv_dw_p = _primitive("genjax_conv_dw", _lax_conv_dw)


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


def _single_device(ctx) -> bool:
    """True when the program being lowered runs unpartitioned, so a custom call sees whole arrays."""
    axis_context = ctx.module_context.axis_context
    if isinstance(axis_context, mlir.SPMDAxisContext):
        return set(axis_context.manual_axes) == set(axis_context.mesh.axis_names)
    return getattr(axis_context, "num_devices", 1) == 1


def _cpu_lowering(target: str, reference):
    fallback = mlir.lower_fun(reference, multiple_results=False)

    def lower(ctx, a, b, *, strides, padding, **kw):
        if not (native.onednn() and _single_device(ctx)):
            return fallback(ctx, a, b, strides=strides, padding=padding, **kw)
        (pt, pb), (pl, pr) = padding
        attrs = dict(stride_h=strides[0], stride_w=strides[1], pad_t=pt, pad_b=pb, pad_l=pl, pad_r=pr)
        return jax.ffi.ffi_lowering(target)(ctx, a, b, **{k: np.int64(v) for k, v in attrs.items()})

    return lower


mlir.register_lowering(conv_p, _cpu_lowering("genjax_conv_fwd", _lax_conv), platform="cpu")
mlir.register_lowering(conv_dx_p, _cpu_lowering("genjax_conv_bwd_data", _lax_conv_dx), platform="cpu")
mlir.register_lowering(conv_dw_p, _cpu_lowering("genjax_conv_bwd_weights", _lax_conv_dw), platform="cpu")


def conv_general_dilated(lhs: Array, rhs: Array, window_strides: Sequence[int], padding,
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers=None, feature_group_count: int = 1, batch_group_count: int = 1,
                         precision=None, preferred_element_type=None) -> Array:
    """`lax.conv_general_dilated`'s signature. Plain NHWC/HWIO convolutions (no dilation, one
    group) take a faster path: 1x1 stride-1 ones are a matmul over channels (XLA:CPU computes the
    matmul's weight gradient without the transposes a convolution's needs), larger float32 ones at
    default precision become `conv_p` when the oneDNN kernels are available. Anything else goes to
    lax unchanged."""
    plain = (
        lhs.ndim == rhs.ndim == 4
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == _NHWC
        and all(d == 1 for d in (*(lhs_dilation or (1, 1)), *(rhs_dilation or (1, 1))))
        and feature_group_count == batch_group_count == 1 and preferred_element_type is None
    )
    if not plain:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, batch_group_count, precision,
                                        preferred_element_type)
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
