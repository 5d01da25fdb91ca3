"""Explicit Runge-Kutta integration of dy/du = f(u, y) with embedded error estimates, in JAX.

`solve` takes steps of an embedded pair: each step gives a solution of order p and one of order
p - 1 from the same stages, and their difference e estimates the local error of the lower-order
one (Hairer, Norsett and Wanner, "Solving Ordinary Differential Equations I", sec. II.4). The
higher-order solution is kept (local extrapolation). Adaptive step-size control, as in scipy's
`solve_ivp` and torchdiffeq: a step is accepted when

    ||e||  = max over examples of  sqrt(mean_i (e_i / (atol + rtol max(|y_i|, |y_new_i|)))^2)  <= 1,

for every leaf of the state (a pytree of arrays [B, ...] whose leading axis is the batch), and the
next step is h * clip(0.9 ||e||^(-1/p), 0.2, 10). With `steps` the step is fixed instead: `steps`
equal steps in u, every one accepted. Either way the sum over accepted steps of |e| is returned
per element: the accumulated local error estimate, which bounds the global error of the kept
solution up to the propagation of earlier errors (the kept solution's own local errors are
smaller, O(h^(p+1)) against O(h^p)).

Tableaus (all first-same-as-last: the last stage is f at the new solution, so it is the next
step's first stage and a step costs S - 1 evaluations of f):
  dopri5  Dormand and Prince 1980, 5(4), 7 stages (scipy's RK45, torchdiffeq's dopri5)
  bosh3   Bogacki and Shampine 1989, 3(2), 4 stages (scipy's RK23)
  heun    Heun's rule with Euler's as the embedded solution, 2(1), 3 stages
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
PyTree = Any
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


class Tableau(NamedTuple):
    c: np.ndarray  # [S] nodes; c[-1] = 1
    a: np.ndarray  # [S, S] strictly lower triangular; a[-1] = b (first same as last)
    b: np.ndarray  # [S] weights of the kept solution, order `order`
    b_low: np.ndarray  # [S] weights of the embedded solution, order `order - 1`
    order: int


def _tableau(c: list[float], rows: list[list[float]], b_low: list[float], order: int) -> Tableau:
    a = np.zeros((len(c), len(c)))
    for i, row in enumerate(rows, start=1):
        a[i, : len(row)] = row
    return Tableau(np.array(c), a, a[-1].copy(), np.array(b_low), order)


TABLEAUS = {
    "dopri5": _tableau(
        [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
        [
            [1 / 5],
            [3 / 40, 9 / 40],
            [44 / 45, -56 / 15, 32 / 9],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
            [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
        ],
        [5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
        5,
    ),
    "bosh3": _tableau(
        [0, 1 / 2, 3 / 4, 1], [[1 / 2], [0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]], [7 / 24, 1 / 4, 1 / 3, 1 / 8], 3
    ),
    "heun": _tableau([0, 1, 1], [[1], [1 / 2, 1 / 2]], [1, 0, 0], 2),
}


class Solution(NamedTuple):
    y: PyTree  # the state at u1 (like y0)
    error: PyTree  # like y0: sum over accepted steps of |local error estimate| (or `accumulate`)
    num_steps: Array  # [] accepted steps
    num_evals: Array  # [] evaluations of f
    success: Array  # [] bool: u1 was reached within max_steps attempts


def _error_ratio(err: PyTree, y: PyTree, y_new: PyTree, rtol: float, atol: float) -> Array:
    """||e|| of the module docstring: [] the largest scaled RMS error over examples and leaves."""

    def leaf(e, a, b):
        r = (e / (atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b)))).reshape(e.shape[0], -1)
        return jnp.max(jnp.sqrt(jnp.mean(r**2, axis=1)))

    return jnp.max(jnp.stack(jax.tree.leaves(jax.tree.map(leaf, err, y, y_new))))


def solve(
    f: Callable[[Array, PyTree], PyTree],
    u0: float | Array,
    u1: float | Array,
    y0: PyTree,
    *,
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    steps: int | None = None,
    max_steps: int = 1000,
    first_step: float = 0.1,
    accumulate: Callable[[PyTree, PyTree], PyTree] | None = None,
) -> Solution:
    """Integrates dy/du = f(u, y) from u0 to u1 (either direction) in a `lax.while_loop`.

    f maps u [] and a state like y0 (leaves [B, ...], one float dtype, which u and the tableau
    take too) to its derivative. Adaptive (steps=None): error control by rtol/atol from a first
    step of `first_step`, at most `max_steps` attempted steps (when they run out, success is False
    and y is where the solve stopped). Fixed: `steps` equal steps. `accumulate(err, y_new)` is what
    an accepted step adds to `error` (default |err|)."""
    if method not in TABLEAUS:
        raise ValueError(f"ODE method {method!r} is unknown; choose one of {sorted(TABLEAUS)}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1 (or None for adaptive steps), got {steps}")
    tab = TABLEAUS[method]
    stages = len(tab.c)
    dtype = jnp.result_type(*jax.tree.leaves(y0))  # of u and the coefficients too
    c, a, b, db = (jnp.asarray(v, dtype) for v in (tab.c, tab.a, tab.b, tab.b - tab.b_low))
    u0, u1 = jnp.asarray(u0, dtype), jnp.asarray(u1, dtype)
    combine = lambda w, y, h, K: jax.tree.map(lambda y_, K_: y_ + h * jnp.tensordot(w, K_, axes=1), y, K)

    def attempt(u, h, y, k1):
        K = jax.tree.map(lambda k: jnp.zeros((stages, *k.shape), k.dtype).at[0].set(k), k1)

        def stage(i, K):
            ki = f(u + c[i] * h, combine(a[i], y, h, K))
            return jax.tree.map(lambda K_, k: K_.at[i].set(k), K, ki)

        K = lax.fori_loop(1, stages, stage, K)
        err = jax.tree.map(lambda K_: h * jnp.tensordot(db, K_, axes=1), K)
        return combine(b, y, h, K), err, jax.tree.map(lambda K_: K_[-1], K)

    def body(carry):
        u, h, y, k, acc, n, m = carry
        if steps is None:
            last = jnp.abs(u1 - u) <= jnp.abs(h)
            h = jnp.where(last, u1 - u, h)
            u_next = jnp.where(last, u1, u + h)
        else:
            u_next = jnp.where(n + 1 >= steps, u1, u0 + (n + 1) * (u1 - u0) / steps)
            h = u_next - u
        y_new, err, k_new = attempt(u, h, y, k)
        if steps is None:
            ratio = _error_ratio(err, y, y_new, rtol, atol)
            ok = ratio <= 1.0  # False for NaN
            factor = jnp.where(ratio > 0, SAFETY * ratio ** (-1.0 / tab.order), MAX_FACTOR)
            h_next = h * jnp.where(jnp.isnan(ratio), MIN_FACTOR, jnp.clip(factor, MIN_FACTOR, MAX_FACTOR))
        else:
            ok, h_next = jnp.asarray(True), h
        keep = lambda new, old: jax.tree.map(lambda p, q: jnp.where(ok, p, q), new, old)
        acc_new = jax.tree.map(jnp.add, acc, accumulate(err, y_new) if accumulate else jax.tree.map(jnp.abs, err))
        return jnp.where(ok, u_next, u), h_next, keep(y_new, y), keep(k_new, k), keep(acc_new, acc), n + ok, m + 1

    def cond(carry):
        u, _, _, _, _, _, m = carry
        return (u != u1) & (m < (max_steps if steps is None else steps))

    span = u1 - u0
    h0 = jnp.sign(span) * jnp.minimum(jnp.abs(span), first_step) if steps is None else span / steps
    zero = jnp.zeros((), jnp.int32)
    init = (u0, h0, y0, f(u0, y0), jax.tree.map(jnp.zeros_like, y0), zero, zero)
    u, _, y, _, acc, n, m = lax.while_loop(cond, body, init)
    return Solution(y, acc, n, 1 + (stages - 1) * m, u == u1)
