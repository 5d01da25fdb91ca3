"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders").

The network maps an image x [B, H, W, C] to per-pixel outputs [B, H, W, out] such that the output
at pixel (i, j) depends exactly on the pixels strictly before (i, j) in raster order (all their
channels): the parameters of p(x_ij | x_<ij). Two stacks of causal convolutions, without the
blind spot of the original PixelCNN (sec. 2.2):

- the vertical stack sees whole rows above: a k//2 + 1 by k convolution over rows i - k//2 .. i
  of its input, whose first layer reads the image shifted down by one row (rows < i only);
- the horizontal stack sees the current row to the left: a 1 by k//2 + 1 convolution over columns
  j - k//2 .. j, whose first layer reads the image shifted right by one column (columns < j), plus
  a 1x1 projection of the vertical stack's pre-activations at the same pixel.

(Shifting the input instead of masking the kernels gives the same dependency pattern as the
paper's masked convolutions.) Each layer is gated, with the class embedding h of the label added
to both stacks' pre-activations (eq. 4):

    y = tanh(W_f * x + V_f h) . sigmoid(W_g * x + V_g h),

and the horizontal stack is residual after its first layer: h_{l+1} = h_l + W_1x1 y_l. The
output head is ReLU, 1x1 conv, ReLU, 1x1 conv on the horizontal stack (PixelCNN, sec. 2).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn import named

Array = jax.Array


def shift_down(x: Array) -> Array:
    """[B, H, W, C] -> the same with row i holding row i - 1 (zeros in row 0)."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def shift_right(x: Array) -> Array:
    """[B, H, W, C] -> the same with column j holding column j - 1 (zeros in column 0)."""
    return jnp.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


def gate(a: Array) -> Array:
    """[..., 2p] pre-activations -> tanh(a_f) * sigmoid(a_g) [..., p]."""
    f, g = jnp.split(a, 2, axis=-1)
    return jnp.tanh(f) * jax.nn.sigmoid(g)


class GatedLayer(nn.Module):
    """One gated layer of both stacks: (v [B, H, W, *], h [B, H, W, *], label embedding
    [B, 4p] or None) -> (v', h') [B, H, W, p] each. `first`: the layer reading the image (shifted
    inputs, no residual)."""

    features: int
    kernel_size: int = 3
    first: bool = False

    @nn.compact
    def __call__(self, v: Array, h: Array, cond: Array | None) -> tuple[Array, Array]:
        p, k = self.features, self.kernel_size
        if self.first:
            v, h = shift_down(v), shift_right(h)
        v_pre = named.conv(2 * p, (k // 2 + 1, k), padding=((k // 2, 0), (k // 2, k // 2)), name="vertical")(v)
        h_pre = named.conv(2 * p, (1, k // 2 + 1), padding=((0, 0), (k // 2, 0)), name="horizontal")(h)
        h_pre = h_pre + named.conv(2 * p, (1, 1), name="vertical_to_horizontal")(v_pre)
        if cond is not None:
            cond_v, cond_h = jnp.split(cond[:, None, None, :], 2, axis=-1)
            v_pre, h_pre = v_pre + cond_v, h_pre + cond_h
        h_out = named.conv(p, (1, 1), name="horizontal_out")(gate(h_pre))
        return gate(v_pre), h_out if self.first else h + h_out


class PixelCNN(nn.Module):
    """Gated PixelCNN: x [B, H, W, C] (and labels [B] int32 when `num_classes`) -> [B, H, W,
    out_channels], output (i, j) a function of the pixels strictly before (i, j) in raster order.

    features: p, the channels of both stacks; num_layers: gated layers; kernel_size: k (odd);
    hidden: channels of the output head's hidden 1x1 layer."""

    out_channels: int
    features: int = 64
    num_layers: int = 8
    kernel_size: int = 3
    hidden: int = 256
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, labels: Array | None = None) -> Array:
        cond = None
        if self.num_classes:
            if labels is None:
                raise ValueError("this PixelCNN is class-conditional: pass labels [B]")
            cond = named.embed(self.num_classes, 4 * self.features, name="label_embedding")(labels)
        v, h = x, x
        for layer in range(self.num_layers):
            v, h = GatedLayer(self.features, self.kernel_size, first=layer == 0, name=f"layer_{layer}")(v, h, cond)
        out = named.conv(self.hidden, (1, 1), name="head_hidden")(nn.relu(h))
        return named.conv(self.out_channels, (1, 1), name="head_out")(nn.relu(out))
