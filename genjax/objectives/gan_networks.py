"""The networks of the GAN objective (`genjax.objectives.gan`): the `Networks` interface through
which it calls G and D, `GANNetworks` for a fixed generator/discriminator pair, and the
`ARCHITECTURES` the "gan" family offers (MLP, DCGAN, SN-GAN, StyleGAN2), and
`DiscriminatorEnsemble`, K discriminators of one architecture.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import flax.linen as nn
import jax

from genjax.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from genjax.nn.mlp_gan import MLPDiscriminator, MLPGenerator
from genjax.nn.sngan import SNGANDiscriminator, SNGANGenerator
from genjax.nn.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from genjax.objectives.base import Collections

Array = jax.Array


class Networks(Protocol):
    """G and D as the GAN objective calls them. `cols` are a player's non-trainable Flax
    collections, `params` every player's params, `step` the traced train step; `train` calls
    return the player's updated collections (else {})."""

    generator: nn.Module
    discriminator: nn.Module
    sample_options: tuple[str, ...]  # keyword options of `sample`

    def init(self, rng: Array, z: Array, x: Array, y: Array | None) -> tuple[dict, dict]:
        """Flax variables of G and D from example latents [B, Z] and D inputs [N, ...]."""

    def real(self, x: Array, step: Array) -> Array:
        """Real examples as D judges them at `step`."""

    def generate(
        self, params, cols, z: Array, y: Array | None, rng: Array | None, step: Array, train: bool
    ) -> tuple[Array, Collections]:
        """G(z, y) [B, ...] and G's collections."""

    def discriminate(
        self, params, cols, x: Array, y: Array | None, step: Array, train: bool
    ) -> tuple[Array, Collections]:
        """D(x, y) [N] and D's collections."""

    def sample(self, params, cols, z: Array, y: Array | None, rng: Array | None, **options: Any) -> Array:
        """G(z, y) [B, ...] in eval mode, at the data's shape."""

    def metrics(self, step: Array) -> dict[str, Array]:
        """Metrics of the networks' schedule, logged with the generator's."""

    def style(self, params, cols) -> tuple[Callable | None, Callable | None]:
        """(mapping, synthesis) of a style-based G (see `TermInputs`), else (None, None)."""


@dataclasses.dataclass(frozen=True)
class GANNetworks:
    """G(z, y, train) and D(x, y, train) of a GAN architecture (labels y only when
    conditional); `style_based` G's (StyleGAN2) also have `map` / `synthesize` methods, mix
    styles with probability `mixing_prob` in training and sample with `truncation_psi`."""

    generator: nn.Module
    discriminator: nn.Module
    style_based: bool = False
    mixing_prob: float = 0.0

    @property
    def sample_options(self) -> tuple[str, ...]:
        return ("truncation_psi",) if self.style_based else ()

    def init(self, rng, z, x, y):
        k_g, k_d, k_n = jax.random.split(rng, 3)
        return (
            self.generator.init({"params": k_g, "noise": k_n}, z, y, train=True),
            self.discriminator.init(k_d, x, y, train=True),
        )

    def real(self, x, step):
        return x

    def generate(self, params, cols, z, y, rng, step, train):
        kw = {"mixing_prob": self.mixing_prob} if self.style_based else {}
        out = self.generator.apply(
            {"params": params["generator"], **cols},
            z,
            y,
            train=train,
            rngs={"noise": rng},
            mutable=list(cols) if train else False,
            **kw,
        )
        return out if train else (out, {})

    def discriminate(self, params, cols, x, y, step, train):
        out = self.discriminator.apply(
            {"params": params["discriminator"], **cols}, x, y, train=train, mutable=list(cols) if train else False
        )
        return out if train else (out, {})

    def sample(self, params, cols, z, y, rng, **options):
        return self.generator.apply(
            {"params": params["generator"], **cols}, z, y, train=False, rngs={"noise": rng}, **options
        )

    def metrics(self, step):
        return {}

    def style(self, params, cols):
        if not self.style_based:
            return None, None
        variables = {"params": params["generator"], **cols}

        def mapping(z, y):
            return self.generator.apply(variables, z, y, False, method="map")

        def synthesis(w, rng):
            return self.generator.apply(variables, w, method="synthesize", rngs={"noise": rng})

        return mapping, synthesis


class DiscriminatorEnsemble(nn.Module):
    """K discriminators of one architecture with their own params and collections (Durugkar et
    al. 2017, "Generative Multi-Adversarial Networks"): D_k(x, y) for k < K -> [K, N]. The
    members' variables stack on a new leading axis (not sharded)."""

    member: nn.Module
    num: int = 2

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, train: bool = False) -> Array:
        call = nn.vmap(
            lambda d, x, y: d(x, y, train=train),
            variable_axes={True: 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num,
            metadata_params={nn.PARTITION_NAME: None},
        )
        return call(self.member, x, y)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A generator and discriminator pair of modules; `images_only`: they need image data;
    `style_based`: G has StyleGAN2's mapping and synthesis (style mixing, path length,
    truncation)."""

    generator: type[nn.Module]
    discriminator: type[nn.Module]
    images_only: bool = True
    style_based: bool = False


ARCHITECTURES = {
    "mlp": Architecture(MLPGenerator, MLPDiscriminator, images_only=False),
    "dcgan": Architecture(DCGANGenerator, DCGANDiscriminator),
    "sngan": Architecture(SNGANGenerator, SNGANDiscriminator),
    "stylegan2": Architecture(StyleGAN2Generator, StyleGAN2Discriminator, style_based=True),
}
