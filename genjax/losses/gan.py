"""Adversarial losses: pure functions of discriminator outputs.

Every loss is a frozen dataclass with two methods of a fixed signature,

    discriminator(real [B], fake [B]) -> [B]     loss of the discriminator (critic)
    generator(fake [B], real [B] | None) -> [B]  loss of the generator

where `real` and `fake` are the raw discriminator outputs (logits, or critic values) on a batch
of real and generated examples. Example i of the result pairs real[i] with fake[i]; the core
takes the mean. Only the relativistic loss couples examples (through the batch means), and only
its generator loss reads `real` (`needs_real_for_generator`); the others get None there.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

Array = jax.Array

softplus = jax.nn.softplus  # softplus(t) = -log sigmoid(-t) = -log(1 - sigmoid(t))


class AdversarialLoss:
    """Base of the losses: their generator loss ignores D(real) unless they say otherwise."""

    needs_real_for_generator: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class Minimax(AdversarialLoss):
    """The original minimax game (Goodfellow et al. 2014, eq. 1).

    L_D = -log sigma(D(x)) - log(1 - sigma(D(G(z))))
    L_G =  log(1 - sigma(D(G(z))))          (saturates when D wins)
    """

    def discriminator(self, real: Array, fake: Array) -> Array:
        return softplus(-real) + softplus(fake)

    def generator(self, fake: Array, real: Array | None) -> Array:
        del real
        return -softplus(fake)


@dataclasses.dataclass(frozen=True)
class NonSaturating(AdversarialLoss):
    """Non-saturating GAN (Goodfellow et al. 2014, sec. 3): L_G = -log sigma(D(G(z)))."""

    def discriminator(self, real: Array, fake: Array) -> Array:
        return softplus(-real) + softplus(fake)

    def generator(self, fake: Array, real: Array | None) -> Array:
        del real
        return softplus(-fake)


@dataclasses.dataclass(frozen=True)
class Wasserstein(AdversarialLoss):
    """Wasserstein GAN (Arjovsky et al. 2017, eq. 3): L_D = D(G(z)) - D(x), L_G = -D(G(z)).

    The critic must be kept 1-Lipschitz (gradient penalty or spectral normalisation).
    """

    def discriminator(self, real: Array, fake: Array) -> Array:
        return fake - real

    def generator(self, fake: Array, real: Array | None) -> Array:
        del real
        return -fake


@dataclasses.dataclass(frozen=True)
class Hinge(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, eq. 16-17).

    L_D = max(0, 1 - D(x)) + max(0, 1 + D(G(z))),   L_G = -D(G(z)).
    """

    def discriminator(self, real: Array, fake: Array) -> Array:
        return jax.nn.relu(1.0 - real) + jax.nn.relu(1.0 + fake)

    def generator(self, fake: Array, real: Array | None) -> Array:
        del real
        return -fake


@dataclasses.dataclass(frozen=True)
class LeastSquares(AdversarialLoss):
    """Least-squares GAN (Mao et al. 2017, eq. 2) with targets a=0 (fake), b=1 (real), c=1.

    L_D = 1/2 (D(x) - b)^2 + 1/2 (D(G(z)) - a)^2,   L_G = 1/2 (D(G(z)) - c)^2.
    """

    a: float = 0.0
    b: float = 1.0
    c: float = 1.0

    def discriminator(self, real: Array, fake: Array) -> Array:
        return 0.5 * jnp.square(real - self.b) + 0.5 * jnp.square(fake - self.a)

    def generator(self, fake: Array, real: Array | None) -> Array:
        del real
        return 0.5 * jnp.square(fake - self.c)


@dataclasses.dataclass(frozen=True)
class RelativisticAverage(AdversarialLoss):
    """Relativistic average standard GAN, RaSGAN (Jolicoeur-Martineau 2018, eq. 11-12).

    With C the raw output, D~(x_r) = sigma(C(x_r) - E[C(x_f)]), D~(x_f) = sigma(C(x_f) - E[C(x_r)]):
    L_D = -log D~(x_r) - log(1 - D~(x_f)),   L_G = -log D~(x_f) - log(1 - D~(x_r)).
    The expectations are batch means.
    """

    needs_real_for_generator: ClassVar[bool] = True

    def discriminator(self, real: Array, fake: Array) -> Array:
        return softplus(-(real - fake.mean())) + softplus(fake - real.mean())

    def generator(self, fake: Array, real: Array) -> Array:
        return softplus(-(fake - real.mean())) + softplus(real - fake.mean())


GAN_LOSSES = {
    "minimax": Minimax,
    "non_saturating": NonSaturating,
    "wasserstein": Wasserstein,
    "hinge": Hinge,
    "least_squares": LeastSquares,
    "relativistic_average": RelativisticAverage,
}


def get_gan_loss(name: str) -> AdversarialLoss:
    """The loss registered under `name` (see GAN_LOSSES)."""
    if name not in GAN_LOSSES:
        raise ValueError(f"config.objective.loss={name!r} is not a GAN loss; choose one of {sorted(GAN_LOSSES)}")
    return GAN_LOSSES[name]()


def top_k_fraction(step: Array, gamma: float, minimum: float, every: int) -> Array:
    """The share of the batch that trains the generator in top-k training (Sinha et al. 2020,
    "Top-k Training of GANs", sec. 3): k / B = max(gamma^floor(step / every), minimum), `every`
    steps standing for the paper's epoch."""
    return jnp.maximum(gamma ** (jnp.asarray(step, jnp.float32) // every), minimum)


def top_k_weights(scores: Array, fraction: Array) -> Array:
    """scores [N] (the discriminator's outputs on fakes) -> weights [N]: N / k on the k =
    ceil(fraction N) highest scores, 0 elsewhere, so that the mean of weights * loss is the mean
    loss over the top k (Sinha et al. 2020: the generator's gradient comes from its most realistic
    samples only). Ties at the k-th score are all kept. k may be traced."""
    n = scores.shape[0]
    k = jnp.clip(jnp.ceil(fraction * n), 1, n).astype(jnp.int32)
    threshold = jnp.sort(scores)[n - k]  # the k-th highest
    keep = jax.lax.stop_gradient(scores >= threshold)
    return keep * (n / jnp.sum(keep))


@dataclasses.dataclass(frozen=True)
class TopK:
    """Top-k training's schedule (Sinha et al. 2020): the generator's loss on N scores keeps
    the k = ceil(fraction N) highest, fraction = max(gamma^floor(step / every), minimum)."""

    gamma: float
    minimum: float = 0.5
    every: int = 1000

    def fraction(self, step: Array) -> Array:
        return top_k_fraction(step, self.gamma, self.minimum, self.every)
