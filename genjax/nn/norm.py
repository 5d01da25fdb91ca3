"""Group normalization (Wu & He 2018, "Group Normalization", eq. 1-3) for channel-last tensors.

    mu_bg = mean over (spatial, channels of group g) of x_b
    var_bg = E[x_b^2] - mu_bg^2
    y = (x - mu_bg) / sqrt(var_bg + eps) * scale + bias

`flax.linen.GroupNorm` computes the same function from a [B, ..., G, C/G] view, which XLA:CPU
reduces and differentiates slowly when C/G is small (e.g. 96 channels in 32 groups). Here the
statistics come from per-channel sums over the spatial axes ([B, C], a reduction that keeps the
minor axis), and the output is one fused multiply-add with per-(example, channel) coefficients.
Channels and groups are exchanged by products with the one-hot [G, C] membership matrix rather
than reshapes: XLA fuses a reshaped broadcast into the full-size elementwise loop and recomputes
its index arithmetic per element (2.4x slower forward and 2.5x slower gradient at 16x32x32x96
on CPU), while a dot is always materialised. Parameter names and shapes (`scale`, `bias`, [C])
equal flax's, so checkpoints are interchangeable.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
_EXACT = jax.lax.Precision.HIGHEST  # the statistics in full float32 on TPU too


class GroupNorm(nn.Module):
    """x [B, ..., C] -> [B, ..., C]; statistics in float32 whatever the input dtype."""

    num_groups: int = 32
    epsilon: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        b, c, g = x.shape[0], x.shape[-1], self.num_groups
        if c % g:
            raise ValueError(f"GroupNorm: {c} channels are not divisible into {g} groups")
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        spatial = tuple(range(1, x.ndim - 1))
        n = x.size // (b * c) * (c // g)  # elements per (example, group)
        xf = x.astype(jnp.float32)
        member = (jnp.arange(c) // (c // g) == jnp.arange(g)[:, None]).astype(jnp.float32)  # [G, C]
        to_groups = lambda v: jnp.dot(v, member.T, precision=_EXACT)  # [B, C] -> [B, G] sums  # noqa: E731
        to_channels = lambda v: jnp.dot(v, member, precision=_EXACT)  # [B, G] -> [B, C]  # noqa: E731
        s1 = to_groups(jnp.sum(xf, axis=spatial))  # [B, G]
        s2 = to_groups(jnp.sum(xf * xf, axis=spatial))
        mu = s1 / n
        var = jnp.maximum(s2 / n - mu * mu, 0.0)
        rstd = jax.lax.rsqrt(var + self.epsilon)
        a = to_channels(rstd) * scale.astype(jnp.float32)  # [B, C]
        shift = bias.astype(jnp.float32) - to_channels(mu) * a
        shape = (b,) + (1,) * len(spatial) + (c,)
        return (xf * a.reshape(shape) + shift.reshape(shape)).astype(x.dtype)
