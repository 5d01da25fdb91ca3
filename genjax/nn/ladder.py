"""The network of a hierarchical VAE with top-down inference (Sonderby et al. 2016, "Ladder
Variational Autoencoders"; Vahdat & Kautz 2020, "NVAE"), all latent groups at one resolution.

    bottom-up:  x -> ResNet encoder -> e [B, h, w, C] -> residual cells -> e_G, ..., e_1
                (e_1, the deepest, informs the top group)
    top-down:   d_1 = a learned constant [h, w, C]; for groups g = 1..G:
                  p(z_g | z_<g) = N(mu_p, sigma_p) = conv(d_g)   (N(0, I) for g = 1)
                  q(z_g | x, z_<g) = N(mu_p + dmu, sigma_p dsigma),  (dmu, log dsigma) = conv([d_g, e_g])
                  d_{g+1} = cell(d_g + conv(z_g))
                x's distribution: ResNet decoder(d_{G+1}) -> p(x | z)

The posterior is NVAE's residual normal: an offset of the prior, so that KL(q || p) per group is
1/2 (dmu^2 / sigma_p^2 + dsigma^2 - 1) - log dsigma, and the zero-initialised convolutions of
dmu and log dsigma start training at q = p. Log scales pass NVAE's soft clamp 5 tanh(s / 5).
Latents z [B, G, h, w, c] (c = `latent_channels`), h = H / 2^(L-1) of the encoder's L levels.

`backbone` "mlp" is the same network with dense layers (the MLP ladder of Sonderby et al. 2016):
the encoder flattens x into `hidden` features and the decoder ends in a dense layer to every
pixel's outputs, the cells are `DenseResBlock`s, the 3x3 convolutions of the top-down path dense
layers, and every group is a vector: h = w = 1, latents z [B, G, 1, 1, c].
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn import named
from genjax.nn.resnet_vae import ResBlock, ResNetDecoder, ResNetEncoder, check_levels, conv
from genjax.parallel import axes

Array = jax.Array


def soft_clamp(s: Array, bound: float = 5.0) -> Array:
    return bound * jnp.tanh(s / bound)


def dense(features: int, names: tuple[str | None, str | None], zero: bool = False) -> nn.Dense:
    """A dense layer whose kernel [in, out] carries the logical axis `names`; `zero`: zero-initialised."""
    init = nn.initializers.zeros_init() if zero else nn.initializers.lecun_normal()
    return named.dense(features, names, kernel_init=init)


# Kernel names: a residual block's inner layers are Megatron's column/row pair; the projections
# into the residual stream (from pixels, from z) and out of it (to p(x|z), to the Gaussian heads)
# name only that stream's features.
INTO, OUT_OF = (None, axes.EMBED), (axes.EMBED, None)


class DenseResBlock(nn.Module):
    """x [..., D] -> x + dense(silu(LN(dense(silu(LN(x)))))) [..., D], the last layer initialised at
    zero: a pre-activation residual MLP block that starts as the identity."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        d = x.shape[-1]
        h = dense(d, named.DENSE)(nn.silu(named.layer_norm()(x)))
        return x + dense(d, (axes.MLP, axes.EMBED), zero=True)(nn.silu(named.layer_norm()(h)))


class MLPEncoder(nn.Module):
    """x [B, H, W, C] -> features [B, 1, 1, hidden]: a dense layer, then `num_blocks` DenseResBlocks."""

    hidden: int = 512
    num_blocks: int = 1

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = dense(self.hidden, INTO)(x.reshape(x.shape[0], 1, 1, -1))
        for _ in range(self.num_blocks):
            h = DenseResBlock()(h)
        return h


class MLPDecoder(nn.Module):
    """features [B, 1, 1, hidden] -> [B, *out_shape]: `num_blocks` DenseResBlocks, LayerNorm and
    silu, a dense layer to every pixel's outputs."""

    out_shape: tuple[int, ...]
    num_blocks: int = 1

    @nn.compact
    def __call__(self, h: Array) -> Array:
        for _ in range(self.num_blocks):
            h = DenseResBlock()(h)
        out = dense(math.prod(self.out_shape), OUT_OF)(nn.silu(named.layer_norm()(h)))
        return out.reshape(h.shape[0], *self.out_shape)


class Groups(NamedTuple):
    """Per group, [B, G, h, w, c] each: the posterior's and prior's means and log scales, and z."""

    mu_q: Array
    log_sigma_q: Array
    mu_p: Array
    log_sigma_p: Array
    z: Array


BACKBONES = ("resnet", "mlp")


class LadderVAENet(nn.Module):
    shape: tuple[int, ...]
    num_groups: int = 2
    latent_channels: int = 4
    channels: tuple[int, ...] = (32, 64)
    num_blocks: int = 1
    out_channels: int | None = None
    backbone: str = "resnet"  # or "mlp" (module docstring)
    hidden: int = 512  # mlp: the width of the residual stream and of the blocks

    def setup(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"LadderVAENet backbone {self.backbone!r}; choose one of {BACKBONES}")
        self.h, self.w = self.latent_shape[1:3]
        g, c2 = self.num_groups, 2 * self.latent_channels  # c2: a Gaussian head's (mean, log scale)
        out_shape = (*self.shape[:-1], self.out_channels or self.shape[-1])
        if self.backbone == "mlp":
            ch, width, cell = self.hidden, axes.EMBED, DenseResBlock
            self.encoder = MLPEncoder(self.hidden, self.num_blocks)
            self.decoder = MLPDecoder(out_shape, self.num_blocks)
            self.prior = [dense(c2, OUT_OF, zero=True) for _ in range(g - 1)]
            self.posterior = [dense(c2, OUT_OF, zero=True) for _ in range(g)]
            self.z_in = [dense(ch, INTO) for _ in range(g)]
        else:
            ch, width, cell = self.channels[-1], axes.CONV_IN, ResBlock
            self.encoder = ResNetEncoder(self.channels, self.num_blocks)
            self.decoder = ResNetDecoder(self.channels, self.num_blocks)
            self.out = conv(out_shape[-1])
            self.prior = [conv(c2, zero=True) for _ in range(g - 1)]
            self.posterior = [conv(c2, zero=True) for _ in range(g)]
            self.z_in = [conv(ch) for _ in range(g)]
        self.enc_cells = [cell() for _ in range(g)]
        top_init = nn.with_logical_partitioning(nn.initializers.normal(0.02), (None, None, None, width))
        self.d_top = self.param("d_top", top_init, (1, self.h, self.w, ch))
        self.dec_cells = [cell() for _ in range(g)]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """z's shape per example, [G, h, w, c] (h = w = 1 for the mlp backbone)."""
        if self.backbone == "mlp":
            return (self.num_groups, 1, 1, self.latent_channels)
        h, w = check_levels(self.shape, len(self.channels))
        return (self.num_groups, h, w, self.latent_channels)

    def bottom_up(self, x: Array) -> list[Array]:
        """x [B, H, W, C] -> the encoder's features e_g [B, h, w, C'] per group, the top group's
        first; deterministic, so one pass serves every sample of z."""
        e, feats = self.encoder(x), []
        for cell in self.enc_cells:
            e = cell(e)
            feats.append(e)
        return feats[::-1]  # the deepest first: it informs the top group

    def _prior(self, g: int, d: Array) -> tuple[Array, Array]:
        if g == 0:
            zeros = jnp.zeros((d.shape[0], self.h, self.w, self.latent_channels), d.dtype)
            return zeros, zeros
        mu, log_sigma = jnp.split(self.prior[g - 1](d), 2, axis=-1)
        return mu, soft_clamp(log_sigma)

    def _output(self, d: Array) -> Array:
        """The last top-down features -> the parameters of p(x | z) [B, H, W, out]."""
        return self.decoder(d) if self.backbone == "mlp" else self.out(self.decoder(d))

    def _top_down(self, batch: int, feats: list[Array] | None, eps: Array | None, z_given: Array | None):
        d = jnp.broadcast_to(self.d_top, (batch, *self.d_top.shape[1:]))
        stats = []
        for g in range(self.num_groups):
            mu_p, log_sigma_p = self._prior(g, d)
            if feats is not None:
                dmu, log_dsigma = jnp.split(self.posterior[g](jnp.concatenate([d, feats[g]], -1)), 2, axis=-1)
                mu, log_sigma = mu_p + dmu, log_sigma_p + soft_clamp(log_dsigma)
            else:
                mu, log_sigma = mu_p, log_sigma_p
            z = z_given[:, g] if z_given is not None else mu + jnp.exp(log_sigma) * eps[:, g]
            stats.append((mu, log_sigma, mu_p, log_sigma_p, z))
            d = self.dec_cells[g](d + self.z_in[g](z))
        return self._output(d), Groups(*(jnp.stack(a, axis=1) for a in zip(*stats)))

    def __call__(self, x: Array, eps: Array) -> tuple[Array, Groups]:
        """x [B, H, W, C], eps [B, G, h, w, c] -> (decoder outputs [B, H, W, out], the groups of
        z ~ q(z | x) with z_g = mu_q + sigma_q eps_g)."""
        return self.infer(self.bottom_up(x), eps)

    def infer(self, feats: list[Array], eps: Array) -> tuple[Array, Groups]:
        """`__call__` from the features of `bottom_up(x)`."""
        return self._top_down(eps.shape[0], feats, eps, None)

    def posterior_mean(self, x: Array) -> Array:
        """x -> z [B, G, h, w, c], each group at its posterior mean given the groups above at theirs."""
        zeros = jnp.zeros((x.shape[0], *self.latent_shape), x.dtype)
        return self._top_down(x.shape[0], self.bottom_up(x), zeros, None)[1].z

    def generate(self, eps: Array) -> Array:
        """eps [B, G, h, w, c] -> decoder outputs of z ~ p(z), z_g = mu_p + sigma_p eps_g."""
        return self._top_down(eps.shape[0], None, eps, None)[0]

    def decode(self, z: Array) -> Array:
        """z [B, G, h, w, c] -> decoder outputs [B, H, W, out] (every group given)."""
        return self._top_down(z.shape[0], None, None, z)[0]
