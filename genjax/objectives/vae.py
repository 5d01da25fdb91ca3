"""Variational autoencoder (Kingma and Welling 2014, "Auto-Encoding Variational Bayes").

Per example, the negative ELBO with a Gaussian posterior q(z|x) = N(mu, diag(sigma^2)) and
prior p(z) = N(0, I):

    L(x) = -E_q[log p(x|z)] + beta * KL(q(z|x) || p(z)),
    KL   = 1/2 * sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2),

with one reparameterised sample z = mu + sigma * eps; with `iwae_k` = k > 1 samples, the IWAE loss
-L_k of Burda et al. 2016 (`genjax.objectives.iwae`). The KL term's weight is beta (Higgins et al.
2017, "beta-VAE"), annealed linearly from 0 over the first `kl_warmup_steps` train steps (KL
warm-up, Sonderby et al. 2016; Bowman et al. 2016): beta_t = beta * min(1, t / kl_warmup_steps).
With `free_bits` = lambda > 0 the KL term is Kingma et al. 2016's free-bits objective ("Improved
Variational Inference with Inverse Autoregressive Flow", eq. 15) with one group per latent
dimension, each dimension's KL averaged over the batch before the floor:

    sum_j max(lambda, mean_b KL_bj),   KL_bj = 1/2 (mu_bj^2 + sigma_bj^2 - 1 - log sigma_bj^2),

as the per-example term sum_j [KL_bj if mean_b KL_bj > lambda else lambda], whose batch mean is
that sum (the mean is over the micro-batch when gradients are accumulated). The encoder and decoder are MLPs (`backbone` "mlp") or a
convolutional ResNet (`backbone` "resnet", `genjax.nn.resnet_vae`). The likelihood p(x|z) is an observation
model of `genjax.objectives.observation`: bernoulli (binarized data), gaussian (fixed or learned
variance), discretized_logistic or logistic_mixture (PixelCNN++'s, over the 2^bits levels of
b-bit images).

As a `LikelihoodModel` the VAE scores examples by the importance-sampled L_k with k = `eval_k`
samples (1000 by default; `likelihood_kind` "estimate"), or by the ELBO (beta = 1, the analytic
KL) when k = 1 (`likelihood_kind` "bound"); it is `discrete` when its likelihood gives
probabilities of the data's levels (all but gaussian), and then the data must have those levels:
a bernoulli likelihood is scored on binarized data only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses import likelihoods as lk
from genjax.nn.mlp import ACTIVATIONS, MLP
from genjax.nn.resnet_vae import ResNetVAENet, check_levels
from genjax.objectives import register
from genjax.objectives.base import LikelihoodKind, LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.objectives.iwae import LogWeights, check_samples, importance_log_likelihood, iwae_bound, sample_noise
from genjax.objectives.observation import LIKELIHOODS, Bernoulli, Observation, make_observation
from genjax.parallel.sharding import shard_batch


class VAENet(nn.Module):
    """Encoder x [B, *shape] -> (mu, log_var) [B, latent]; decoder z [B, latent] -> [B, *shape]
    with the last axis of `out_channels` (default: the data's channels), the parameters of
    p(x|z) per pixel."""

    shape: tuple[int, ...]
    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)
    activation: str = "relu"
    out_channels: int | None = None

    @property
    def out_shape(self) -> tuple[int, ...]:
        return (*self.shape[:-1], self.out_channels or self.shape[-1])

    def setup(self):
        self.encoder = MLP((*self.hidden, 2 * self.latent_dim), self.activation)
        self.decoder = MLP((*reversed(self.hidden), math.prod(self.out_shape)), self.activation)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.encoder(x.reshape(x.shape[0], -1))
        mu, log_var = jnp.split(h, 2, axis=-1)
        return mu, log_var

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z).reshape(z.shape[0], *self.out_shape)

    def __call__(self, x: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        mu, log_var = self.encode(x)
        z = mu + jnp.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var


BACKBONES = ("mlp", "resnet")


def gaussian_kl_per_dim(mu: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mu, exp(log_var)) || N(0, 1)) per dimension: [B, D] -> [B, D]."""
    return 0.5 * (mu**2 + jnp.exp(log_var) - 1.0 - log_var)


def gaussian_kl(mu: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mu, exp(log_var)) || N(0, I)) summed over the last axis: [B, D] -> [B]."""
    return jnp.sum(gaussian_kl_per_dim(mu, log_var), axis=-1)


def kl_weight(step: jax.Array, beta: float, warmup_steps: int) -> jax.Array:
    """beta_t = beta * min(1, step / warmup_steps) (beta itself when warmup_steps = 0)."""
    if warmup_steps == 0:
        return jnp.asarray(beta, jnp.float32)
    return beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warmup_steps)


def free_bits_kl(kl: jax.Array, free_bits: float) -> jax.Array:
    """Per-example free-bits KL term [B] of per-dimension KLs [B, D]: its batch mean is
    sum_j max(free_bits, mean_b kl_bj) (Kingma et al. 2016, eq. 15, one group per dimension)."""
    above = jnp.mean(kl, axis=0) > free_bits  # [D]
    return jnp.sum(jnp.where(above, kl, free_bits), axis=-1)


def check_scored_levels(observation: Observation, data_bits: int | None) -> None:
    """A ValueError when a discrete likelihood's levels are not the data's 2^data_bits levels."""
    levels = observation.levels
    if levels is not None and (data_bits is None or levels != 2**data_bits):
        data = f"{2**data_bits} levels" if data_bits else "continuous values"
        raise ValueError(
            f"the {observation.name} likelihood gives probabilities of {levels} levels per value, "
            f"but the data has {data}: score binarized data (data.binarize=True) with bernoulli, "
            "8-bit data with discretized_logistic or logistic_mixture"
        )


@dataclasses.dataclass(frozen=True)
class VAE:
    """The VAE objective: one player, "model", holding encoder and decoder. `data_bits`: the
    data's bits per value (metadata.bits), which a discrete likelihood must score; `iwae_k`: the
    samples of the training loss (1: the ELBO); `eval_k`, `eval_chunk`: the importance samples
    of `log_likelihood` and how many are evaluated at once."""

    net: VAENet | ResNetVAENet
    observation: Observation = Bernoulli()
    beta: float = 1.0
    kl_warmup_steps: int = 0
    free_bits: float = 0.0
    data_bits: int | None = None
    iwae_k: int = 1
    eval_k: int = 1000
    eval_chunk: int = 100
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)

    @property
    def likelihood_kind(self) -> LikelihoodKind:
        return "bound" if self.eval_k == 1 else "estimate"

    @property
    def discrete(self) -> bool:
        return self.observation.levels is not None

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        x = batch["x"]
        eps = jnp.zeros((x.shape[0], self.net.latent_dim), x.dtype)
        variables = self.net.init(rng, x, eps)
        return {"model": PlayerVariables(variables["params"], {})}

    def elbo_terms(self, params: Mapping[str, Any], x: jax.Array, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(log p(x|z) [B] with one z ~ q(z|x), KL(q(z|x) || p(z)) per latent dimension [B, latent]),
        in float32."""
        eps = jax.random.normal(rng, (x.shape[0], self.net.latent_dim), x.dtype)
        out, mu, log_var = self.net.apply({"params": params["model"]}, x, eps)
        out, mu, log_var = (a.astype(jnp.float32) for a in (out, mu, log_var))
        return self.observation.log_prob(out, x.astype(jnp.float32)), gaussian_kl_per_dim(mu, log_var)

    def latent_stats(
        self, params: Mapping[str, Any], state: Mapping[str, Any], x: jax.Array, rng: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """(KL(q(z_j|x) || p(z_j)) [B, latent], E_q[z_j] [B, latent]) per latent dimension
        (`LatentModel`)."""
        mu, log_var = (a.astype(jnp.float32) for a in self.posterior(params, x))
        return gaussian_kl_per_dim(mu, log_var), mu

    def log_weights(self, params: Mapping[str, Any], x: jax.Array, rng: jax.Array) -> LogWeights:
        """indices [n] -> log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) [n, B], in float32, of
        z_i = mu + sigma eps_i with eps_i [B, latent] from fold_in(rng, i) (`iwae.sample_noise`);
        the batch is sharded over the mesh's batch axes when a mesh is set."""
        x = shard_batch(x).astype(jnp.float32)
        mu, log_var = (a.astype(jnp.float32) for a in self.posterior(params, x))  # [B, latent]

        def log_weight(eps: jax.Array) -> jax.Array:  # eps [B, latent] -> [B]
            z = mu + jnp.exp(0.5 * log_var) * eps
            log_px_z = self.observation.log_prob(self._decoder_outputs(params, z), x)
            log_pz = lk.gaussian_log_prob(jnp.zeros_like(z), 0.0, z)  # p(z) = N(0, I)
            log_qz = lk.gaussian_log_prob(mu, 0.5 * log_var, z)  # q(z|x) = N(mu, diag(sigma^2))
            return log_px_z + log_pz - log_qz

        return lambda indices: jax.vmap(log_weight)(sample_noise(rng, indices, mu.shape))

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
        dims = math.prod(x.shape[1:])
        if self.iwae_k > 1:
            neg_iwae = -iwae_bound(self.log_weights(params, x, rng)(jnp.arange(self.iwae_k)))
            return LossOutput(neg_iwae, {"neg_iwae": neg_iwae, "niwae_per_dim": neg_iwae / dims}, {})
        log_px_z, kl_per_dim = self.elbo_terms(params, x, rng)
        recon, kl = -log_px_z, jnp.sum(kl_per_dim, axis=-1)
        kl_term = free_bits_kl(kl_per_dim, self.free_bits) if self.free_bits > 0 else kl
        beta = kl_weight(step, self.beta, self.kl_warmup_steps)
        loss = recon + beta * kl_term
        metrics = {"recon": recon, "kl": kl, "neg_elbo": recon + kl, "nelbo_per_dim": (recon + kl) / dims}
        if self.free_bits > 0:
            metrics["kl_free_bits"] = kl_term
        if self.kl_warmup_steps > 0:
            metrics["beta"] = beta
        return LossOutput(loss, metrics, {})

    def log_likelihood(
        self,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, jax.Array],
        rng: jax.Array,
        k: int | None = None,
        chunk: int | None = None,
    ) -> jax.Array:
        """log p(x) [B] in nats, of the data's levels when `discrete` (`LikelihoodModel`): the
        importance-sampled L_k with k (default `eval_k`) samples of q(z|x), `chunk` (default
        `eval_chunk`) at a time; for k = 1 the ELBO log p(x|z) - KL with one z ~ q(z|x)."""
        k = self.eval_k if k is None else k
        chunk = self.eval_chunk if chunk is None else chunk
        check_samples(k, chunk)
        check_scored_levels(self.observation, self.data_bits)
        x = batch["x"]
        if k > 1:
            return importance_log_likelihood(self.log_weights(params, x, rng), k, chunk, x.shape[0])
        log_px_z, kl = self.elbo_terms(params, x, rng)
        return log_px_z - jnp.sum(kl, axis=-1)

    def decode(self, params: Mapping[str, Any], z: jax.Array, state: Mapping[str, Any] | None = None) -> jax.Array:
        """z [B, latent] -> the mean of p(x|z) [B, *shape], in the data range (`Autoencoder`; no state)."""
        return self.observation.mean(self._decoder_outputs(params, z))

    def _decoder_outputs(self, params: Mapping[str, Any], z: jax.Array) -> jax.Array:
        return self.net.apply({"params": params["model"]}, z, method="decode").astype(jnp.float32)

    def posterior(self, params: Mapping[str, Any], x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Mean and log-variance of q(z|x), [B, latent] each."""
        return self.net.apply({"params": params["model"]}, x, method="encode")

    def encode(self, params: Mapping[str, Any], x: jax.Array, state: Mapping[str, Any] | None = None) -> jax.Array:
        """x [B, *shape] -> the posterior mean [B, latent] (`Autoencoder`; no state)."""
        return self.posterior(params, x)[0]

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        """z ~ p(z), then the mean of p(x|z); with draw=True, x ~ p(x|z) itself."""
        draw = kwargs.pop("draw", False)
        if kwargs:
            raise ValueError(f"the VAE sampler takes only the option draw, got {sorted(kwargs)}")
        key_z, key_x = jax.random.split(rng)
        out = self._decoder_outputs(params, jax.random.normal(key_z, (num, self.net.latent_dim)))
        return self.observation.sample(key_x, out) if draw else self.observation.mean(out)


@dataclasses.dataclass(frozen=True)
class VAEHParams:
    """`config.objective` of the "vae" family."""

    latent_dim: int = hparam(16, ge=1)
    backbone: str = hparam("mlp", choices=BACKBONES)  # encoder/decoder: MLPs or a convolutional ResNet
    hidden: tuple[int, ...] = hparam((512, 256), ge=1)  # MLP widths of the encoder (reversed: decoder)
    activation: str = hparam("relu", choices=ACTIVATIONS)  # of the MLPs
    channels: tuple[int, ...] = hparam((32, 64), ge=1)  # resnet: channels per resolution level, halved between
    num_blocks: int = hparam(1, ge=1)  # resnet: residual blocks per level
    likelihood: str = hparam("bernoulli", choices=LIKELIHOODS)
    obs_std: float | None = hparam(0.1, gt=0)  # gaussian likelihood's standard deviation; None: learned
    num_logistic_mix: int = hparam(5, ge=1)  # components of the logistic_mixture likelihood
    beta: float = hparam(1.0, ge=0)  # weight of the KL term (iwae_k = 1)
    kl_warmup_steps: int = hparam(0, ge=0)  # the KL weight rises linearly from 0 to beta over these steps
    free_bits: float = hparam(0.0, ge=0)  # lambda: KL floor per latent dimension (nats, batch-averaged)
    iwae_k: int = hparam(1, ge=1)  # samples of the training loss: 1 the ELBO, k > 1 the IWAE bound L_k
    eval_k: int = hparam(1000, ge=1)  # importance samples of the evaluated log p(x); 1: the ELBO
    eval_chunk: int = hparam(100, ge=1)  # of the eval_k samples evaluated at once (memory)


@register("vae")
def make(cfg: Any, metadata: Any) -> VAE:
    """Builds the VAE from `config.objective` (fields: `VAEHParams`) and the data's shape."""
    hp = from_config(VAEHParams, cfg, "vae")
    for field, value, default in (("beta", hp.beta, 1.0), ("kl_warmup_steps", hp.kl_warmup_steps, 0),
                                  ("free_bits", hp.free_bits, 0.0)):  # fmt: skip
        if hp.iwae_k > 1 and value != default:
            raise ValueError(
                f"config.objective.{field}={value} changes the ELBO's KL term; the IWAE bound (iwae_k > 1) has none: "
                f"set {field}={default} or iwae_k=1"
            )
    observation = make_observation(hp.likelihood, metadata, obs_std=hp.obs_std, num_logistic_mix=hp.num_logistic_mix)
    shape, out_channels = tuple(metadata.shape), observation.outputs(metadata.shape[-1])
    if hp.backbone == "resnet":
        check_levels(shape, len(hp.channels))  # now, not at the first step
        net = ResNetVAENet(shape, hp.latent_dim, hp.channels, hp.num_blocks, out_channels)
    else:
        net = VAENet(shape, hp.latent_dim, hp.hidden, hp.activation, out_channels)
    return VAE(
        net, observation, hp.beta, hp.kl_warmup_steps, hp.free_bits, metadata.bits, hp.iwae_k, hp.eval_k,
        hp.eval_chunk,
    )  # fmt: skip
