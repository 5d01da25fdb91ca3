"""Group normalization (Wu & He 2018, "Group Normalization", eq. 1-3) for channel-last tensors, as
a flax module over `genjax.nn.group_norm`:

    mu_bg = mean over (spatial, channels of group g) of x_b,  var_bg likewise
    y = act((x - mu_bg) / sqrt(var_bg + eps) * scale + bias)

Called as `GroupNorm(...)(x, add=p, scale=s, shift=t)` it also folds in what diffusion UNets put
around it: a per-(example, channel) bias added before normalizing (DDPM's time embedding) and
ADM's conditioning, `y = act(GN(x + p) (1 + s) + t)`, in one fused operation. Parameter names and
shapes (`scale`, `bias`, [C]) equal `flax.linen.GroupNorm`'s, so checkpoints are interchangeable.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from genjax.nn.group_norm import group_norm
from genjax.parallel.axes import NORM

Array = jax.Array


class GroupNorm(nn.Module):
    """x [B, ..., C] -> [B, ..., C]; statistics in float32 whatever the input dtype.

    activation: None or "silu", applied after the affine map.
    channel_axis: the logical axis name of `scale` and `bias` (genjax.parallel.axes)."""

    num_groups: int = 32
    epsilon: float = 1e-6
    activation: str | None = None
    channel_axis: str | None = NORM

    @nn.compact
    def __call__(
        self, x: Array, add: Array | None = None, scale: Array | None = None, shift: Array | None = None
    ) -> Array:
        """add, scale, shift: [B, C] or None."""
        c = x.shape[-1]
        names = (self.channel_axis,)
        gamma = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, names), (c,))
        beta = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros, names), (c,))
        if scale is not None:
            gamma, beta = gamma * (1 + scale), beta * (1 + scale)
        if shift is not None:
            beta = beta + shift
        return group_norm(x, self.num_groups, gamma, beta, add=add, activation=self.activation, eps=self.epsilon)
