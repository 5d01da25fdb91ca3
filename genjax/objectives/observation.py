"""Observation models p(x | z) of a decoder: how its outputs parameterise a distribution over x.

Each model says how many outputs the decoder needs per pixel of C channels (per example for
points, C = D), and from those outputs gives log p(x | z) [B] (`genjax.losses.likelihoods`), the
mean in the data range and a draw x ~ p(x | z). `levels` is the number of values per dimension
whose probabilities `log_prob` gives (a discrete model), or None for a density.

| likelihood           | outputs per pixel                                     | levels         |
|----------------------|-------------------------------------------------------|----------------|
| bernoulli            | C logits                                              | 2 (binary x)   |
| gaussian             | C means, + C log sigma when sigma is learned          | None (density) |
| discretized_logistic | C means, C log scales                                 | 2^bits         |
| logistic_mixture     | K logits, K C means, K C log scales, K C(C-1)/2 coeffs | 2^bits         |

The logistic models clamp log scales at -7 and squash the channel coefficients with tanh, as
PixelCNN++ (Salimans et al. 2017) does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from genjax.losses import likelihoods as lk

Array = jax.Array
LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic", "logistic_mixture")
MIN_LOG_SCALE = -7.0  # PixelCNN++'s clamp of the logistics' log scales


class Observation(Protocol):
    name: ClassVar[str]

    @property
    def levels(self) -> int | None: ...

    def outputs(self, channels: int) -> int: ...

    def log_prob(self, out: Array, x: Array) -> Array: ...

    def mean(self, out: Array) -> Array: ...

    def sample(self, rng: Array, out: Array) -> Array: ...


@dataclasses.dataclass(frozen=True)
class Bernoulli:
    """x in {lo, hi} (binarized data) as Bernoulli(sigmoid(logits)) of (x - lo) / (hi - lo).
    Trained on 8-bit intensities in [0, 1] this is the usual cross-entropy, not a likelihood."""

    value_range: tuple[float, float] = (-1.0, 1.0)
    name: ClassVar[str] = "bernoulli"
    levels: ClassVar[int] = 2

    def outputs(self, channels: int) -> int:
        return channels

    def log_prob(self, out: Array, x: Array) -> Array:
        lo, hi = self.value_range
        return lk.bernoulli_log_prob(out, (x - lo) / (hi - lo))  # pragma: no mutate (x is lo or hi: 0 or 1)

    def _from_unit(self, u: Array) -> Array:
        lo, hi = self.value_range
        return lo + (hi - lo) * u

    def mean(self, out: Array) -> Array:
        return self._from_unit(jax.nn.sigmoid(out))

    def sample(self, rng: Array, out: Array) -> Array:
        return self._from_unit(jax.random.bernoulli(rng, jax.nn.sigmoid(out)).astype(out.dtype))


@dataclasses.dataclass(frozen=True)
class Gaussian:
    """N(x; mean, sigma^2): sigma = obs_std, or learned per dimension when obs_std is None."""

    obs_std: float | None = 0.1
    name: ClassVar[str] = "gaussian"
    levels: ClassVar[None] = None

    def outputs(self, channels: int) -> int:
        return channels if self.obs_std is not None else 2 * channels

    def _split(self, out: Array) -> tuple[Array, Array | float]:
        if self.obs_std is not None:
            return out, math.log(self.obs_std)
        mean, log_scale = jnp.split(out, 2, axis=-1)
        return mean, log_scale

    def log_prob(self, out: Array, x: Array) -> Array:
        mean, log_scale = self._split(out)
        return lk.gaussian_log_prob(mean, log_scale, x)

    def mean(self, out: Array) -> Array:
        return self._split(out)[0]

    def sample(self, rng: Array, out: Array) -> Array:
        mean, log_scale = self._split(out)
        return mean + jnp.exp(log_scale) * jax.random.normal(
            rng, mean.shape, mean.dtype
        )  # pragma: no mutate (-N(0, 1) ~ N(0, 1))


@dataclasses.dataclass(frozen=True)
class DiscretizedLogistic:
    """One discretized logistic per dimension over the data's `num_bins` levels."""

    num_bins: int = 256
    value_range: tuple[float, float] = (-1.0, 1.0)
    name: ClassVar[str] = "discretized_logistic"

    @property
    def levels(self) -> int:
        return self.num_bins

    def outputs(self, channels: int) -> int:
        return 2 * channels

    def _split(self, out: Array) -> tuple[Array, Array]:
        mean, log_scale = jnp.split(out, 2, axis=-1)
        return mean, jnp.maximum(log_scale, MIN_LOG_SCALE)

    def log_prob(self, out: Array, x: Array) -> Array:
        return lk.discretized_logistic_log_prob(
            *self._split(out), x, num_bins=self.num_bins, value_range=self.value_range
        )

    def mean(self, out: Array) -> Array:
        return jnp.clip(self._split(out)[0], *self.value_range)

    def sample(self, rng: Array, out: Array) -> Array:
        return lk.discretized_logistic_sample(
            rng, *self._split(out), num_bins=self.num_bins, value_range=self.value_range
        )


@dataclasses.dataclass(frozen=True)
class LogisticMixture:
    """PixelCNN++'s mixture of `num_mix` discretized logistics per pixel of `channels` channels."""

    num_mix: int = 5
    channels: int = 1
    num_bins: int = 256
    value_range: tuple[float, float] = (-1.0, 1.0)
    name: ClassVar[str] = "logistic_mixture"

    @property
    def levels(self) -> int:
        return self.num_bins

    def outputs(self, channels: int) -> int:
        return self.num_mix * (1 + 2 * channels + channels * (channels - 1) // 2)

    def _split(self, out: Array) -> dict[str, Any]:
        c, k = self.channels, self.num_mix
        rest = out[..., k:].reshape(*out.shape[:-1], -1, k)  # [..., 2C + C(C-1)/2, K]
        return dict(
            logit_probs=out[..., :k],
            means=rest[..., :c, :],
            log_scales=jnp.maximum(rest[..., c : 2 * c, :], MIN_LOG_SCALE),
            coeffs=jnp.tanh(rest[..., 2 * c :, :]) if c > 1 else None,
        )

    def log_prob(self, out: Array, x: Array) -> Array:
        p = self._split(out)
        return lk.discretized_logistic_mixture_log_prob(
            p["logit_probs"], p["means"], p["log_scales"], x, coeffs=p["coeffs"], num_bins=self.num_bins,
            value_range=self.value_range,
        )  # fmt: skip

    def mean(self, out: Array) -> Array:
        """sum_k pi_k m_k with m_ck = mu_ck + sum_{j<c} coeff_cjk m_jk per component (the mean of
        the underlying continuous logistics), clipped to the data range."""
        p = self._split(out)
        rows, cols = np.tril_indices(self.channels, -1)
        m: list[Array] = []
        for ch in range(self.channels):
            m_ch = p["means"][..., ch, :]
            for i in np.flatnonzero(rows == ch):
                m_ch = m_ch + p["coeffs"][..., i, :] * m[cols[i]]
            m.append(m_ch)
        pi = jax.nn.softmax(p["logit_probs"], axis=-1)[..., None, :]
        return jnp.clip(jnp.sum(pi * jnp.stack(m, axis=-2), axis=-1), *self.value_range)

    def sample(self, rng: Array, out: Array) -> Array:
        return lk.discretized_logistic_mixture_sample(
            rng, **self._split(out), num_bins=self.num_bins, value_range=self.value_range
        )


def make_observation(
    likelihood: str, metadata: Any, *, obs_std: float | None = 0.1, num_logistic_mix: int = 5
) -> Observation:
    """The observation model `likelihood` for data described by `metadata`
    (`genjax.data.DatasetMetadata`): the discretized ones take the data's 2^bits levels."""
    value_range = tuple(float(v) for v in metadata.value_range)
    if likelihood == "bernoulli":
        return Bernoulli(value_range)
    if likelihood == "gaussian":
        return Gaussian(obs_std)
    if metadata.kind != "image" or not metadata.bits:
        raise ValueError(
            f"config.objective.likelihood={likelihood!r} scores the levels of b-bit images, but "
            f"{metadata.name} holds {'float images' if metadata.kind == 'image' else metadata.kind}; "
            "use likelihood='gaussian'"
        )
    if likelihood == "discretized_logistic":
        return DiscretizedLogistic(2**metadata.bits, value_range)
    if likelihood == "logistic_mixture":
        return LogisticMixture(num_logistic_mix, metadata.shape[-1], 2**metadata.bits, value_range)
    raise ValueError(f"config.objective.likelihood={likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
