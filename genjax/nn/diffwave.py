"""DiffWave (Kong et al. 2021, "DiffWave: A Versatile Diffusion Model for Audio Synthesis"): a
denoiser of waveforms made of non-causal dilated residual 1-D convolutions (sec. 3, fig. 2).

x [B, T, 1] -> 1x1 conv to C channels, ReLU; the diffusion-step embedding (sinusoidal, then two
fully connected layers with swish, sec. 3.1/app. C) is projected per layer and added to the
layer's input; each of the N residual layers (dilation d_l = 2^(l mod dilation_cycle)) computes

    a = DilConv_{3, d_l}(h + W_t t_emb) + V y,      z = tanh(a_f) . sigmoid(a_g),
    (r, s) = W_o z,   h <- (h + r) / sqrt(2),   skip += s,

with y the label embedding of class-conditional models (index num_classes: the null label of
classifier-free guidance, Ho & Salimans 2022) and DilConv a bidirectional convolution of width 3;
the output is W_2 ReLU(W_1 skip / sqrt(N)) with W_2 zero-initialised. Every param carries logical
axis names (genjax.parallel.axes)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn import named
from genjax.nn.embeddings import LabelEmbedding, TimeEmbedding
from genjax.parallel.axes import CONV_IN, CONV_OUT, EMBED

Array = jax.Array
CONV1D = (None, CONV_IN, CONV_OUT)  # a 1-D kernel [width, in, out]


class DiffWaveLayer(nn.Module):
    """One residual layer: (h [B, T, C], step embedding [B, E], label embedding [B, E] | None) ->
    ((h + r) / sqrt(2), skip s)."""

    channels: int
    dilation: int

    @nn.compact
    def __call__(self, h: Array, t_emb: Array, y_emb: Array | None) -> tuple[Array, Array]:
        c = self.channels
        x = h + named.dense(c, (EMBED, CONV_IN), name="step_proj")(t_emb)[:, None]
        a = named.conv(
            2 * c, (3,), kernel_dilation=(self.dilation,), padding="SAME", names=CONV1D, name="dilated_conv"
        )(x)
        if y_emb is not None:
            a = a + named.dense(2 * c, (EMBED, CONV_OUT), name="label_proj")(y_emb)[:, None]
        f, g = jnp.split(a, 2, axis=-1)
        z = jnp.tanh(f) * jax.nn.sigmoid(g)
        r, s = jnp.split(named.dense(2 * c, (CONV_OUT, CONV_IN), name="out_proj")(z), 2, axis=-1)
        return (h + r) / math.sqrt(2.0), s


class DiffWave(nn.Module):
    """x [B, T, C_in], c_noise [B], labels [B] | None -> [B, T, C_in] (a diffusion backbone of
    `genjax.diffusion.networks`). The paper's base model is channels=64, num_layers=30,
    dilation_cycle=10 (receptive field 2 sum(d_l) + 1 = 6139 samples); step_dim is the width of
    the step embedding (512 in the paper)."""

    channels: int = 64
    num_layers: int = 30
    dilation_cycle: int = 10
    step_dim: int = 512
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, c_noise: Array, labels: Array | None = None, train: bool = False) -> Array:
        del train  # no dropout in DiffWave
        if x.ndim != 3:
            raise ValueError(f"DiffWave denoises waveforms [B, T, C], got shape {x.shape}")
        t_emb = TimeEmbedding(self.step_dim, 128, name="step_embed")(c_noise, x.dtype)
        t_emb = nn.silu(t_emb)
        y_emb = None
        if self.num_classes:
            if labels is None:
                labels = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
            y_emb = LabelEmbedding(self.num_classes, self.step_dim, name="label_embed")(labels).astype(x.dtype)
        h = nn.relu(named.dense(self.channels, (None, CONV_IN), name="input_proj")(x))
        skip = jnp.zeros_like(h)
        for layer in range(self.num_layers):
            dilation = 2 ** (layer % self.dilation_cycle)
            h, s = DiffWaveLayer(self.channels, dilation, name=f"layer_{layer}")(h, t_emb, y_emb)
            skip = skip + s
        out = nn.relu(
            named.dense(self.channels, (CONV_IN, CONV_OUT), name="skip_proj")(skip / math.sqrt(self.num_layers))
        )
        return named.dense(x.shape[-1], (CONV_OUT, None), nn.initializers.zeros, name="output_proj")(out)
