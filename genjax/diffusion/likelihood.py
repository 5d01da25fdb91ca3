"""Log-likelihood by the probability-flow ODE (Song et al. 2021, "Score-Based Generative Modeling
through SDEs", sec. 4.3 and appendix D.2).

In the EDM view (y = x_t / alpha(t), noise level s = sigma_e(t)) the ODE is dy/ds = (y - D(y, s)) / s
(Karras et al. 2022, eq. 3 with sigma(t) = t), and along it

    log p_{s_min}(y(s_min)) = log p_{s_max}(y(s_max)) + int_{s_min}^{s_max} div_y (y - D(y, s)) ds / s.

In u = log s both integrands are scale-free: dy/du = y - D(y, s) and d delta/du = div_y (y - D(y, s)),
from u_min = log sigma_e(t_min) to u_max = log sigma_e(t_max), where p_{s_max} is the Gaussian prior
N(0, prior_std(t_max)^2 I). `genjax.diffusion.ode.solve` integrates (y, delta) with error control
(Dormand-Prince 5(4) at rtol = atol = 1e-5 by default, Song et al.'s RK45 settings), so the
result does not depend on any sampling grid.

What is estimated: the model's density of x_{t_min} = alpha(t_min) x0 + sigma(t_min) eps evaluated
at the data, log p_{t_min}(x) = log p_y(x / alpha(t_min)) - D log alpha(t_min), as in Song et al.,
who start at t_min = 1e-5 for stability. For data x0 ~ N(mu, Sigma) and the exact denoiser this is
log N(x; alpha mu, alpha^2 (Sigma + sigma_e(t_min)^2 I)) up to the prior's mismatch at t_max. The
default t_min is the process's lowest training time (`t_range`): t = 0 for DDPM (sigma_e = 0.01 for
the linear schedule, 0.006 for the cosine one) and VE (sigma_min), eps_train = 1e-5 for VP
(sigma_e = 1e-3), sigma_min = 0.002 for EDM.

The divergence is exact (one Jacobian-vector product per dimension, for small data) or
Hutchinson's estimate z^T (df/dy) z with a Rademacher z fixed along the path (Grathwohl et al.
2019, FFJORD), unbiased but noisy.

The reported error estimate (nats) is the integration's: the sum over accepted steps of the
embedded pair's local error estimate |e_delta| of delta, plus the prior term's first-order change
from y's local errors e_y, sum_i |y_i(u_max)| eps_i / prior_std^2, where eps = sum_k |e_y,k|
exp((delta(u_max) - delta(u_k)) / D) carries each error to u_max by the flow's mean growth per
dimension (its volume growth is exp(delta)). It leaves out how y's errors change the divergence
along the path (nothing for Gaussian data) and Hutchinson's noise. Measured on 4-D Gaussian data
(tests/diffusion/test_likelihood.py): 2.6-8 times the true error at the defaults, within a factor
2.5 of it at rtol = atol = 1e-3.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from genjax.diffusion import ode
from genjax.diffusion.samplers import Denoiser

Array = jax.Array


class Likelihood(NamedTuple):
    log_p: Array  # [B] nats; NaN where the solver ran out of steps
    error: Array  # [B] nats: accumulated local error estimate of delta; inf where it ran out
    num_evals: Array  # [] evaluations of the ODE's right-hand side (denoiser and divergence)


def divergence(f: Callable[[Array], Array], y: Array, z: Array | None) -> Array:
    """Per-example div f at y [B, ...]: exact when z is None, else Hutchinson with probes z."""
    if z is not None:
        _, jz = jax.jvp(f, (y,), (z,))
        return jnp.sum((z * jz).reshape(y.shape[0], -1), axis=1)
    dim = math.prod(y.shape[1:])
    basis = jnp.eye(dim, dtype=y.dtype).reshape((dim,) + y.shape[1:])

    def diag(e):
        _, je = jax.jvp(f, (y,), (jnp.broadcast_to(e, y.shape),))
        return jnp.sum((je * e).reshape(y.shape[0], -1), axis=1)

    return jnp.sum(jax.vmap(diag)(basis), axis=0)


def check_t_min(process, t_min: float | None) -> float:
    """t_min, or the process's default `t_range[0]` for None; a ValueError unless its noise level is
    positive and it is below t_max."""
    lo, t_max = process.t_range
    t_min = lo if t_min is None else float(t_min)
    with jax.ensure_compile_time_eval():
        positive = float(process.sigma_e(t_min)) > 0
    if not (positive and t_min < t_max):
        raise ValueError(f"likelihood t_min={t_min} must have a noise level > 0 and be below t_max={t_max}")
    return t_min


def log_likelihood(
    denoise: Denoiser,
    process,
    x0: Array,
    rng: Array,
    *,
    t_min: float | None = None,
    exact_trace: bool = False,
    solver: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    steps: int | None = None,
    max_steps: int = 1000,
) -> Likelihood:
    """log p_{t_min}(x0) [B] in nats of x0 [B, ...] under the model's probability-flow ODE, and its
    integration error estimate (see the module docstring).

    t_min: the ODE's start (default `process.t_range[0]`); solver: `genjax.diffusion.ode.TABLEAUS`
    (dopri5, bosh3, heun); rtol/atol: its error control, or `steps` fixed steps uniform in log
    sigma_e instead; max_steps: attempted adaptive steps before giving up (log_p NaN, error inf)."""
    t0, t1 = jnp.float32(check_t_min(process, t_min)), jnp.float32(process.t_range[1])
    alpha0 = process.alpha_sigma(t0)[0]
    dim = math.prod(x0.shape[1:])
    z = None if exact_trace else jax.random.rademacher(rng, x0.shape, x0.dtype)

    def fields(u, state):
        t = process.t_of_sigma(jnp.exp(u))
        g = lambda v: v - denoise(v, t)  # dy/du
        return g(state[0]), divergence(g, state[0], z)

    state0 = (x0 / alpha0, jnp.zeros(x0.shape[0], x0.dtype))
    u0, u1 = jnp.log(process.sigma_e(t0)), jnp.log(process.sigma_e(t1))
    expand = lambda delta: jnp.exp(delta / dim).reshape((-1,) + (1,) * (x0.ndim - 1))  # mean growth per dim

    def accumulate(err, state):  # y's local errors in units of their growth to u_max, delta's as they are
        return jnp.abs(err[0]) / expand(state[1]), jnp.abs(err[1])

    sol = ode.solve(
        fields,
        u0,
        u1,
        state0,
        method=solver,
        rtol=rtol,
        atol=atol,
        steps=steps,
        max_steps=max_steps,
        accumulate=accumulate,
    )
    (y_T, delta), (err_y, err_delta) = sol.y, sol.error
    std = process.prior_std(t1)
    flat = y_T.reshape(y_T.shape[0], -1)
    log_prior = -0.5 * jnp.sum((flat / std) ** 2, axis=1) - dim * (jnp.log(std) + 0.5 * math.log(2 * math.pi))
    log_p = log_prior + delta - dim * jnp.log(alpha0)
    err_prior = jnp.sum((jnp.abs(y_T) * err_y * expand(delta)).reshape(flat.shape), axis=1) / std**2
    error = err_delta + err_prior
    return Likelihood(jnp.where(sol.success, log_p, jnp.nan), jnp.where(sol.success, error, jnp.inf), sol.num_evals)
