"""Group normalization (Wu & He 2018, "Group Normalization", eq. 1-3) fused with what surrounds it
in diffusion UNets: a per-(example, channel) input bias (DDPM's time embedding), a per-example
scale and shift (ADM's conditioning) and SiLU, with a hand-written derivative and, on CPU, a native
kernel. With x [B, N, C], p, gamma, beta [B, C] and M = N C / G elements per group:

    u = x + p,  mu = mean_g(u),  rstd = (mean_g((u - mu)^2) + eps)^-1/2,  xhat = (u - mu) rstd
    z = xhat gamma + beta,  y = act(z)            (act: identity or silu(z) = z sigmoid(z))

Its Jacobian-vector product is the primitive `group_norm_jvp_p`, linear in (dx, dp, dgamma, dbeta):

    du = dx + dp,  dxhat = rstd (du - mean_g(du) - xhat mean_g(xhat du))
    dy = act'(z) (dxhat gamma + xhat dgamma + dbeta)

and its transpose, `group_norm_bwd_p`, is the usual backward pass:

    dz = dy act'(z),  dbeta = sum_n dz,  dgamma = sum_n dz xhat
    du = rstd (dz gamma - mean_g(dz gamma) - xhat mean_g(dz gamma xhat)),  dx = du,  dp = sum_n du

`group_norm_p` (-> y, mu, rstd) and `group_norm_bwd_p` lower to native kernels
(`genjax/native/group_norm.cc`) in a single-device float32 CPU program: one work item per example,
its [N, C] slice kept in cache over two passes forward and two backward. XLA:CPU computes the same
function as several loops that each re-read the activation (SiLU's forward alone as two) and runs
them on one thread beside other work. Elsewhere (GPU, TPU, SPMD-partitioned programs, bfloat16,
under vmap) everything lowers to the jnp reference below. Channels and groups are exchanged by
products with the one-hot [G, C] membership matrix rather than reshapes, which XLA:CPU fuses
poorly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from genjax.native.primitives import fused_op

Array = jax.Array
_EXACT = jax.lax.Precision.HIGHEST  # the statistics in full float32 on TPU too
ACTIVATIONS = {None: 0, "silu": 1}


def _group_mean(v: Array, groups: int, n: int) -> Array:
    """v [B, C] per-channel sums over N -> [B, C]: each channel's group mean (sum over N and the
    group's channels, / M)."""
    c = v.shape[-1]
    member = (jnp.arange(c) // (c // groups) == jnp.arange(groups)[:, None]).astype(jnp.float32)  # [G, C]
    per_group = jnp.dot(v, member.T, precision=_EXACT) / (n * (c // groups))
    return jnp.dot(per_group, member, precision=_EXACT)


def _act(z: Array, act: int) -> tuple[Array, Array]:
    """act(z) and act'(z)."""
    if act == 0:
        return z, jnp.ones_like(z)
    s = jax.nn.sigmoid(z)
    return z * s, s * (1 + z * (1 - s))


def _normalized(x, p, mu, rstd, groups):
    """xhat [B, N, C] and rstd per channel [B, 1, C] from the group statistics mu, rstd [B, G]."""
    c = x.shape[-1]
    per_channel = lambda v: jnp.repeat(v, c // groups, axis=-1)[:, None, :]  # noqa: E731  ([B, G] only)
    r = per_channel(rstd)
    return (x.astype(jnp.float32) + p[:, None, :] - per_channel(mu)) * r, r


def _reference(x: Array, p: Array, gamma: Array, beta: Array, *, groups: int, act: int, eps: float):
    """x [B, N, C] (any float dtype), p, gamma, beta [B, C] float32 -> y [B, N, C] (x's dtype),
    mu, rstd [B, G] float32."""
    n, c = x.shape[1], x.shape[2]
    u = x.astype(jnp.float32) + p[:, None, :]
    mu_c = _group_mean(jnp.sum(u, axis=1), groups, n)  # [B, C]
    var_c = jnp.maximum(_group_mean(jnp.sum(u * u, axis=1), groups, n) - mu_c * mu_c, 0.0)
    rstd_c = jax.lax.rsqrt(var_c + eps)
    a = rstd_c * gamma
    y = _act(u * a[:, None, :] + (beta - mu_c * a)[:, None, :], act)[0]
    per_group = slice(None, None, c // groups)  # the first channel of each group
    return y.astype(x.dtype), mu_c[:, per_group], rstd_c[:, per_group]


def _reference_jvp(x, p, gamma, beta, mu, rstd, dx, dp, dgamma, dbeta, *, groups, act, eps):
    n = x.shape[1]
    xhat, r = _normalized(x, p, mu, rstd, groups)
    du = dx.astype(jnp.float32) + dp[:, None, :]
    dmu = _group_mean(jnp.sum(du, axis=1), groups, n)[:, None, :]
    dvar = _group_mean(jnp.sum(xhat * du, axis=1), groups, n)[:, None, :]  # mean_g(xhat du)
    dxhat = r * (du - dmu - xhat * dvar)
    d_act = _act(xhat * gamma[:, None, :] + beta[:, None, :], act)[1]
    return (d_act * (dxhat * gamma[:, None, :] + xhat * dgamma[:, None, :] + dbeta[:, None, :])).astype(x.dtype)


def _reference_bwd(x, p, gamma, beta, mu, rstd, dy, *, groups, act, eps):
    n = x.shape[1]
    xhat, r = _normalized(x, p, mu, rstd, groups)
    dz = dy.astype(jnp.float32) * _act(xhat * gamma[:, None, :] + beta[:, None, :], act)[1]
    dbeta, dgamma = jnp.sum(dz, axis=1), jnp.sum(dz * xhat, axis=1)
    mean_d = _group_mean(gamma * dbeta, groups, n)[:, None, :]
    mean_dx = _group_mean(gamma * dgamma, groups, n)[:, None, :]
    du = r * (dz * gamma[:, None, :] - mean_d - xhat * mean_dx)
    return du.astype(x.dtype), jnp.sum(du, axis=1), dgamma, dbeta


group_norm_p, group_norm_jvp_p, group_norm_bwd_p = fused_op(
    "genjax_group_norm",
    _reference,
    _reference_jvp,
    _reference_bwd,
    num_residuals=6,
    attrs=lambda groups, act, eps: {"groups": groups, "act": act, "eps": float(eps)},
)


def _fused(x, p, gamma, beta, groups, act, eps):
    return group_norm_p.bind(x, p, gamma, beta, groups=groups, act=act, eps=eps)[0]


_fused = jax.custom_jvp(_fused, nondiff_argnums=(4, 5, 6))


@_fused.defjvp
def _fused_jvp(groups, act, eps, primals, tangents):
    kw = dict(groups=groups, act=act, eps=eps)
    y, mu, rstd = group_norm_p.bind(*primals, **kw)
    return y, group_norm_jvp_p.bind(*primals, mu, rstd, *tangents, **kw)


def group_norm(
    x: Array,
    groups: int,
    gamma: Array,
    beta: Array,
    *,
    add: Array | None = None,
    activation: str | None = None,
    eps: float = 1e-6,
) -> Array:
    """act(GroupNorm(x + add) * gamma + beta) for x [B, ..., C]; gamma, beta [C] or [B, C];
    add [B, C] or None. Statistics in float32; the output has x's dtype."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"group_norm: unknown activation {activation!r}; known: {list(ACTIVATIONS)}")
    b, c = x.shape[0], x.shape[-1]
    if c % groups:
        raise ValueError(f"GroupNorm: {c} channels are not divisible into {groups} groups")
    per_example = lambda v: jnp.broadcast_to(jnp.asarray(v, jnp.float32), (b, c))  # noqa: E731
    p = per_example(0.0 if add is None else add)
    y = _fused(
        x.reshape(b, -1, c), p, per_example(gamma), per_example(beta), groups, ACTIVATIONS[activation], float(eps)
    )
    return y.reshape(x.shape)
