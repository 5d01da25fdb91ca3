"""JAX primitives backed by the native kernels: a jnp reference defines each one's shapes, its
vmap rule and its lowering everywhere, and on CPU the lowering becomes an FFI call when it can.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from genjax import native


def reference_primitive(name: str, reference: Callable, multiple_results: bool = False) -> Primitive:
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


def jvp_from_reference(p: Primitive, reference: Callable) -> None:
    """Differentiates `p` (to second and higher order) through its jnp reference."""

    def jvp(primals, tangents, **kw):
        tangents = tuple(ad.instantiate_zeros(t) for t in tangents)
        return jax.jvp(partial(reference, **kw), tuple(primals), tangents)

    ad.primitive_jvps[p] = jvp


def transpose_by(jvp_p: Primitive, bwd_p: Primitive, num_residuals: int) -> None:
    """Transposes `jvp_p(*residuals, *tangents)`, linear in its tangents, as
    `bwd_p(*residuals, cotangent) -> one cotangent per tangent`."""

    def transpose(ct, *args, **kw):
        residuals, linear = args[:num_residuals], args[num_residuals:]
        if type(ct) is ad.Zero:
            grads = [ad.Zero(t.aval) for t in linear]
        else:
            grads = bwd_p.bind(*residuals, ad.instantiate_zeros(ct), **kw)
        return [None] * num_residuals + [g if ad.is_undefined_primal(t) else None for g, t in zip(grads, linear)]

    ad.primitive_transposes[jvp_p] = transpose


def _single_device(ctx) -> bool:
    """True when the program being lowered runs unpartitioned, so a custom call sees whole arrays."""
    axis_context = ctx.module_context.axis_context
    if isinstance(axis_context, mlir.SPMDAxisContext):
        return set(axis_context.manual_axes) == set(axis_context.mesh.axis_names)
    return getattr(axis_context, "num_devices", 1) == 1


def register_cpu_kernel(
    p: Primitive, target: str, reference: Callable, attrs: Callable[..., dict] = lambda **_: {}
) -> None:
    """On CPU, lowers `p` to the FFI `target` when the oneDNN kernels are available, the program is
    unpartitioned and every operand is float32; to `reference` otherwise. `attrs(**params)` gives
    the kernel's attributes from the primitive's parameters (ints as int64, floats as float32)."""
    fallback = mlir.lower_fun(reference, multiple_results=p.multiple_results)

    def lower(ctx, *args, **params):
        f32 = all(a.dtype == np.float32 for a in ctx.avals_in)
        if not (f32 and native.onednn() and _single_device(ctx)):
            return fallback(ctx, *args, **params)
        typed = {k: np.float32(v) if isinstance(v, float) else np.int64(v) for k, v in attrs(**params).items()}
        return jax.ffi.ffi_lowering(target)(ctx, *args, **typed)

    mlir.register_lowering(p, lower, platform="cpu")


class FusedOp(NamedTuple):
    """A forward primitive (-> outputs and residuals), its JVP (linear in the tangents) and the
    JVP's transpose, the backward pass."""

    fwd: Primitive
    jvp: Primitive
    bwd: Primitive


def fused_op(
    name: str,
    fwd: Callable,
    jvp: Callable,
    bwd: Callable,
    num_residuals: int,
    attrs: Callable[..., dict] = lambda **_: {},
) -> FusedOp:
    """The three primitives of an op with a native forward and backward kernel: `{name}`,
    differentiable to any order through the jnp references; `{name}_jvp(*residuals, *tangents)`,
    transposed by `{name}_bwd(*residuals, cotangent)`. On CPU, `{name}` and `{name}_bwd` lower to
    the FFI targets `{name}_fwd` and `{name}_bwd` (see `register_cpu_kernel`)."""
    op = FusedOp(
        reference_primitive(name, fwd, multiple_results=True),
        reference_primitive(f"{name}_jvp", jvp),
        reference_primitive(f"{name}_bwd", bwd, multiple_results=True),
    )
    for p, reference in zip(op, (fwd, jvp, bwd)):
        jvp_from_reference(p, reference)
    transpose_by(op.jvp, op.bwd, num_residuals)
    register_cpu_kernel(op.fwd, f"{name}_fwd", fwd, attrs)
    register_cpu_kernel(op.bwd, f"{name}_bwd", bwd, attrs)
    return op
