"""WaveNet (van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio") over mu-law codes,
with the fast generation of Paine et al. 2016 ("Fast Wavenet Generation Algorithm").

The network maps codes x [B, T] in [0, levels) to logits [B, T, levels] of p(x_t | x_<t, y): the
output at t depends exactly on x_{t-R} .. x_{t-1}, R = `receptive_field`. The codes are embedded
(a one-hot times a matrix) and shifted right by one step, then

- a causal convolution of width 2: c_t = W_0 e_{t-1} + W_1 e_t (e_t: the shifted embedding at t);
- `num_layers` residual layers, layer l with dilation d_l = 2^(l mod dilation_cycle) (sec. 2.1):
      z = tanh(W_f * h + V_f y) . sigmoid(W_g * h + V_g y)      (eq. 2; eq. 3 with a label y)
      skip += W_s z,   h <- h + W_r z                            (sec. 2.4, fig. 4)
  where W * h is the causal width-2 convolution dilated by d_l, (W * h)_t = W_0 h_{t-d} + W_1 h_t;
- the head: ReLU, 1x1 conv, ReLU, 1x1 conv to the `levels` logits of the softmax (sec. 2.2).

Every convolution has width 2, so at generation time a layer needs its input at t and t - d only:
`step` takes those inputs from one queue per layer, a ring buffer of its last d inputs (Paine et al.,
sec. 3), and costs one position per layer instead of the R positions of the receptive field.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn import named
from genjax.parallel.axes import CONV_IN, CONV_OUT

Array = jax.Array
Queues = tuple[Array, ...]  # [B, d, C] ring buffers: the causal conv's (d = 1), then each layer's


def shift(h: Array, d: int) -> Array:
    """[B, T, C] -> the same with step t holding step t - d (zeros for t < d)."""
    return jnp.pad(h, ((0, 0), (d, 0), (0, 0)))[:, : h.shape[1]]


class CausalConv(nn.Module):
    """The width-2 causal convolution (h_past = h_{t-d}, h = h_t) -> W_0 h_past + W_1 h + b."""

    features: int
    names: tuple = (None, CONV_IN, CONV_OUT)

    @nn.compact
    def __call__(self, h_past: Array, h: Array) -> Array:
        kernel = self.param(
            "kernel", named.named(nn.initializers.lecun_normal(), self.names), (2, h.shape[-1], self.features)
        )
        bias = self.param("bias", named.named(nn.initializers.zeros, self.names[-1:]), (self.features,))
        return h_past @ kernel[0] + h @ kernel[1] + bias


class ResidualLayer(nn.Module):
    """One gated residual layer: (h_{t-d}, h_t, label embedding [B, 2 C_dil] | None) ->
    (h_t + W_r z_t, W_s z_t), on [B, T, C] or, one step at a time, [B, C]."""

    residual_channels: int
    dilation_channels: int
    skip_channels: int

    @nn.compact
    def __call__(self, h_past: Array, h: Array, cond: Array | None) -> tuple[Array, Array]:
        a = CausalConv(2 * self.dilation_channels, name="dilated")(h_past, h)
        if cond is not None:
            a = a + (cond[:, None] if a.ndim == 3 else cond)
        f, g = jnp.split(a, 2, axis=-1)
        z = jnp.tanh(f) * jax.nn.sigmoid(g)
        residual = named.dense(self.residual_channels, (CONV_OUT, CONV_IN), name="residual")(z)
        skip = named.dense(self.skip_channels, (CONV_OUT, CONV_IN), name="skip")(z)
        return h + residual, skip


class WaveNet(nn.Module):
    """codes [B, T] int (and labels [B] when `num_classes`) -> logits [B, T, levels] of
    p(x_t | x_<t, y).

    residual_channels: C, the residual stream; dilation_channels: the gated units per layer;
    skip_channels: the skip sum and the head's hidden 1x1 layer; num_layers: residual layers with
    dilations 1, 2, ..., 2^(dilation_cycle - 1), repeated."""

    levels: int = 256
    residual_channels: int = 64
    dilation_channels: int = 64
    skip_channels: int = 128
    num_layers: int = 20
    dilation_cycle: int = 10
    num_classes: int | None = None

    def setup(self):
        self.embed = named.embed(self.levels, self.residual_channels)
        self.causal = CausalConv(self.residual_channels)
        self.layers = [
            ResidualLayer(self.residual_channels, self.dilation_channels, self.skip_channels)
            for _ in range(self.num_layers)
        ]
        if self.num_classes:
            self.label_embeds = [named.embed(self.num_classes, 2 * self.dilation_channels) for _ in self.dilations]
        self.head_hidden = named.dense(self.skip_channels, (CONV_IN, CONV_OUT))
        self.head_out = named.dense(self.levels, (CONV_OUT, None))

    @property
    def dilations(self) -> Sequence[int]:
        return tuple(2 ** (layer % self.dilation_cycle) for layer in range(self.num_layers))

    @property
    def receptive_field(self) -> int:
        """R: the logits at t are a function of x_{t-R} .. x_{t-1}."""
        return 2 + sum(self.dilations)

    def _conds(self, labels: Array | None) -> list[Array | None]:
        if not self.num_classes:
            return [None] * self.num_layers
        if labels is None:
            raise ValueError("this WaveNet is class-conditional: pass labels [B]")
        return [embed(labels) for embed in self.label_embeds]

    def _head(self, skips: list[Array]) -> Array:
        out = nn.relu(self.head_hidden(nn.relu(sum(skips))))
        return self.head_out(out)

    def __call__(self, codes: Array, labels: Array | None = None) -> Array:
        e = shift(self.embed(codes), 1)  # e_t embeds x_{t-1}: the output at t sees only x_<t
        h = self.causal(shift(e, 1), e)
        skips = []
        for layer, d, cond in zip(self.layers, self.dilations, self._conds(labels)):
            h, skip = layer(shift(h, d), h, cond)
            skips.append(skip)
        return self._head(skips)

    def init_queues(self, batch: int, dtype: jnp.dtype = jnp.float32) -> Queues:
        """Empty ring buffers (the zeros the full pass pads with) of the causal conv and the layers."""
        return tuple(jnp.zeros((batch, d, self.residual_channels), dtype) for d in (1, *self.dilations))

    def step(self, t: Array, previous: Array, queues: Queues, labels: Array | None = None) -> tuple[Array, Queues]:
        """One generation step: (t, x_{t-1} [B] int (any code at t = 0: it is masked), the queues
        after step t - 1) -> (logits [B, levels] of p(x_t | x_<t, y), the queues after step t).

        Queue k holds the last d_k inputs of its layer; slot t mod d_k holds the input at t - d_k,
        which this step reads and then overwrites with the input at t."""
        e = self.embed(previous) * (t > 0)  # the shifted embedding: zeros at t = 0
        new_queues = []

        def pop_push(queue: Array, h: Array) -> Array:
            slot = t % queue.shape[1]
            new_queues.append(jax.lax.dynamic_update_index_in_dim(queue, h, slot, axis=1))
            return jax.lax.dynamic_index_in_dim(queue, slot, axis=1, keepdims=False)

        h = self.causal(pop_push(queues[0], e), e)
        skips = []
        for layer, queue, cond in zip(self.layers, queues[1:], self._conds(labels)):
            h, skip = layer(pop_push(queue, h), h, cond)
            skips.append(skip)
        return self._head(skips), tuple(new_queues)
