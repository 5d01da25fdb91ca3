"""Variational autoencoder (Kingma and Welling 2014, "Auto-Encoding Variational Bayes").

Per example, the negative ELBO with a Gaussian posterior q(z|x) = N(mu, diag(sigma^2)) and
prior p(z) = N(0, I):

    L(x) = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)),
    KL   = 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2),

with one reparameterised sample z = mu + sigma * eps. Likelihoods:
  bernoulli: x scaled to [0, 1] is the target of a Bernoulli with logits from the decoder,
             -log p = sum_i softplus(l_i) - x_i l_i  (binary cross-entropy);
  gaussian:  N(x; decoder mean, obs_std^2), -log p = sum_i (x_i - m_i)^2 / (2 s^2) + log(s sqrt(2 pi)).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.mlp import ACTIVATIONS, MLP
from genjax.objectives import register
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam

LIKELIHOODS = ("bernoulli", "gaussian")


class VAENet(nn.Module):
    """Encoder x [B, *shape] -> (mu, log_var) [B, latent]; decoder z [B, latent] -> [B, *shape]."""

    shape: tuple[int, ...]
    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)
    activation: str = "relu"

    def setup(self):
        self.encoder = MLP((*self.hidden, 2 * self.latent_dim), self.activation)
        self.decoder = MLP((*reversed(self.hidden), math.prod(self.shape)), self.activation)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.encoder(x.reshape(x.shape[0], -1))
        mu, log_var = jnp.split(h, 2, axis=-1)
        return mu, log_var

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z).reshape(z.shape[0], *self.shape)

    def __call__(self, x: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        mu, log_var = self.encode(x)
        z = mu + jnp.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var


def gaussian_kl(mu: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mu, exp(log_var)) || N(0, I)) summed over the last axis: [B, D] -> [B]."""
    return 0.5 * jnp.sum(mu**2 + jnp.exp(log_var) - 1.0 - log_var, axis=-1)


def bernoulli_nll(logits: jax.Array, target: jax.Array) -> jax.Array:
    """-log Bernoulli(target; sigmoid(logits)) summed per example: [B, ...] -> [B]."""
    nll = jax.nn.softplus(logits) - target * logits
    return jnp.sum(nll.reshape(nll.shape[0], -1), axis=-1)


def gaussian_nll(mean: jax.Array, target: jax.Array, std: float) -> jax.Array:
    """-log N(target; mean, std^2) summed per example: [B, ...] -> [B]."""
    nll = 0.5 * ((target - mean) / std) ** 2 + math.log(std * math.sqrt(2 * math.pi))
    return jnp.sum(nll.reshape(nll.shape[0], -1), axis=-1)


@dataclasses.dataclass(frozen=True)
class VAE:
    """The VAE objective: one player, "model", holding encoder and decoder."""

    net: VAENet
    value_range: tuple[float, float] = (-1.0, 1.0)
    likelihood: str = "bernoulli"
    obs_std: float = 0.1
    beta: float = 1.0
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)

    def to_unit(self, x: jax.Array) -> jax.Array:
        lo, hi = self.value_range
        return (x - lo) / (hi - lo)

    def from_unit(self, u: jax.Array) -> jax.Array:
        lo, hi = self.value_range
        return lo + (hi - lo) * u

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        x = batch["x"]
        eps = jnp.zeros((x.shape[0], self.net.latent_dim), x.dtype)
        variables = self.net.init(rng, x, eps)
        return {"model": PlayerVariables(variables["params"], {})}

    def loss(
        self,
        player: str,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, jax.Array],
        rng: jax.Array,
        step: jax.Array,
    ) -> LossOutput:
        x = batch["x"]
        eps = jax.random.normal(rng, (x.shape[0], self.net.latent_dim), x.dtype)
        out, mu, log_var = self.net.apply({"params": params["model"]}, x, eps)
        out, mu, log_var = (a.astype(jnp.float32) for a in (out, mu, log_var))
        if self.likelihood == "bernoulli":
            recon = bernoulli_nll(out, self.to_unit(x.astype(jnp.float32)))
        else:
            recon = gaussian_nll(out, x.astype(jnp.float32), self.obs_std)
        kl = gaussian_kl(mu, log_var)
        loss = recon + self.beta * kl
        dims = math.prod(x.shape[1:])
        metrics = {"recon": recon, "kl": kl, "neg_elbo": recon + kl, "nelbo_per_dim": (recon + kl) / dims}
        return LossOutput(loss, metrics, {})

    def decode(self, params: Mapping[str, Any], z: jax.Array) -> jax.Array:
        """z [B, latent] -> the mean of p(x|z) [B, *shape], in the data range (`Autoencoder`)."""
        out = self.net.apply({"params": params["model"]}, z, method=VAENet.decode)
        if self.likelihood == "bernoulli":
            return self.from_unit(jax.nn.sigmoid(out))
        return out

    def posterior(self, params: Mapping[str, Any], x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean and log-variance of q(z|x), [B, latent] each."""
        return self.net.apply({"params": params["model"]}, x, method=VAENet.encode)

    def encode(self, params: Mapping[str, Any], x: jax.Array) -> jax.Array:
        """x [B, *shape] -> the posterior mean [B, latent] (`Autoencoder`)."""
        return self.posterior(params, x)[0]

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        if kwargs:
            raise ValueError(f"the VAE sampler takes no options, got {sorted(kwargs)}")
        z = jax.random.normal(rng, (num, self.net.latent_dim))
        return self.decode(params, z)


@dataclasses.dataclass(frozen=True)
class VAEHParams:
    """`config.objective` of the "vae" family."""

    latent_dim: int = hparam(16, ge=1)
    hidden: tuple[int, ...] = hparam((512, 256), ge=1)  # MLP widths of the encoder (reversed: decoder)
    activation: str = hparam("relu", choices=ACTIVATIONS)
    likelihood: str = hparam("bernoulli", choices=LIKELIHOODS)
    obs_std: float = hparam(0.1, gt=0)  # gaussian likelihood's standard deviation
    beta: float = hparam(1.0, ge=0)  # weight of the KL term


@register("vae")
def make(cfg: Any, metadata: Any) -> VAE:
    """Builds the VAE from `config.objective` (fields: `VAEHParams`) and the data's shape."""
    hp = from_config(VAEHParams, cfg, "vae")
    net = VAENet(shape=tuple(metadata.shape), latent_dim=hp.latent_dim, hidden=hp.hidden, activation=hp.activation)
    return VAE(net, tuple(metadata.value_range), hp.likelihood, hp.obs_std, hp.beta)
