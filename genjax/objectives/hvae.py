"""Hierarchical VAE with top-down inference (Sonderby et al. 2016, "Ladder Variational
Autoencoders"; Vahdat & Kautz 2020, "NVAE: A Deep Hierarchical Variational Autoencoder"), its
network `genjax.nn.ladder.LadderVAENet` (convolutional, `backbone` "resnet", or dense, "mlp").

G latent groups z = (z_1, ..., z_G), generated top-down, p(z) = prod_g p(z_g | z_<g), p(z_1) =
N(0, I), and inferred in the same order, q(z | x) = prod_g q(z_g | x, z_<g), where q is NVAE's
residual normal N(mu_p + dmu, sigma_p dsigma) around the prior. Per example, the negative ELBO

    L(x) = -log p(x | z) + beta sum_g KL(q(z_g | x, z_<g) || p(z_g | z_<g)),   z ~ q(z | x),

with one reparameterised sample and each group's KL in closed form between the two diagonal
Gaussians (at the sampled z_<g):

    KL(N(m1, s1) || N(m2, s2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2   per unit.

Metrics: `recon`, `kl` (the sum over groups), `kl_group<g>`, `neg_elbo`, `nelbo_per_dim`. KL
warm-up (`kl_warmup_steps`) as in the VAE. As a `LikelihoodModel` it scores examples by the
importance-sampled L_k (`genjax.objectives.iwae`) with the log weights

    log w = log p(x | z) + sum_g [log p(z_g | z_<g) - log q(z_g | x, z_<g)],   z ~ q(z | x),

and by the ELBO when eval_k = 1. As an `Autoencoder`, encode gives z [B, G, h, w, c] with each
group at its posterior mean given the groups above at theirs, and decode the mean of p(x | z).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from genjax.losses import likelihoods as lk
from genjax.nn.ladder import BACKBONES, Groups, LadderVAENet
from genjax.nn.resnet_vae import check_levels
from genjax.objectives import register
from genjax.objectives.base import LikelihoodKind, LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.objectives.iwae import LogWeights, check_samples, importance_log_likelihood, sample_noise
from genjax.objectives.observation import LIKELIHOODS, Observation, make_observation
from genjax.objectives.vae import check_scored_levels, kl_weight
from genjax.parallel.sharding import shard_batch

Array = jax.Array


def gaussian_kl_between(mu_q: Array, log_sigma_q: Array, mu_p: Array, log_sigma_p: Array) -> Array:
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) per element (closed form)."""
    var_ratio = jnp.exp(2 * (log_sigma_q - log_sigma_p))
    return log_sigma_p - log_sigma_q + 0.5 * (var_ratio + (mu_q - mu_p) ** 2 * jnp.exp(-2 * log_sigma_p)) - 0.5


def _sum_units(a: Array) -> Array:
    """[B, G, h, w, c] -> [B, G]: summed over each group's units."""
    return jnp.sum(a, axis=(2, 3, 4))


@dataclasses.dataclass(frozen=True)
class HVAE:
    """One player, "model". `data_bits`, `eval_k`, `eval_chunk` as in the VAE."""

    net: LadderVAENet
    observation: Observation
    beta: float = 1.0
    kl_warmup_steps: int = 0
    data_bits: int | None = None
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

    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        x = batch["x"]
        variables = self.net.init(rng, x, jnp.zeros((x.shape[0], *self.net.latent_shape), x.dtype))
        return {"model": PlayerVariables(variables["params"], {})}

    def features(self, params: Mapping[str, Any], x: Array) -> list[Array]:
        """x's bottom-up features, one [B, h, w, C'] per group (`LadderVAENet.bottom_up`)."""
        return self.net.apply({"params": params["model"]}, x, method="bottom_up")

    def forward(
        self, params: Mapping[str, Any], x: Array, eps: Array, feats: list[Array] | None = None
    ) -> tuple[Array, Groups]:
        """(log p(x | z) [B], the groups [B, G, h, w, c] of z = mu_q + sigma_q eps), in float32;
        `feats`: x's bottom-up features (`LadderVAENet.bottom_up`) when computed already."""
        feats = self.features(params, x) if feats is None else feats
        out, groups = self.net.apply({"params": params["model"]}, feats, eps, method="infer")
        groups = Groups(*(a.astype(jnp.float32) for a in groups))
        return self.observation.log_prob(out.astype(jnp.float32), x.astype(jnp.float32)), groups

    def group_kl(self, groups: Groups) -> Array:
        """KL(q(z_g | x, z_<g) || p(z_g | z_<g)) per unit [B, G, h, w, c]."""
        return gaussian_kl_between(groups.mu_q, groups.log_sigma_q, groups.mu_p, groups.log_sigma_p)

    def loss(
        self,
        player: str,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, Array],
        rng: Array,
        step: Array,
    ) -> LossOutput:
        x = batch["x"]
        eps = jax.random.normal(rng, (x.shape[0], *self.net.latent_shape), x.dtype)
        log_px_z, groups = self.forward(params, x, eps)
        kl_groups = _sum_units(self.group_kl(groups))  # [B, G]
        recon, kl = -log_px_z, jnp.sum(kl_groups, axis=-1)
        loss = recon + kl_weight(step, self.beta, self.kl_warmup_steps) * kl
        dims = math.prod(x.shape[1:])
        metrics = {"recon": recon, "kl": kl, "neg_elbo": recon + kl, "nelbo_per_dim": (recon + kl) / dims}
        metrics |= {f"kl_group{g}": kl_groups[:, g] for g in range(self.net.num_groups)}
        return LossOutput(loss, metrics, {})

    def log_weights(self, params: Mapping[str, Any], x: Array, rng: Array) -> LogWeights:
        """indices [n] -> log w_i [n, B] (module docstring) of z_i ~ q(z | x) with the noise of
        fold_in(rng, i) (`iwae.sample_noise`), in float32."""
        x = shard_batch(x).astype(jnp.float32)
        feats = self.features(params, x)  # once for all the samples

        def log_weight(eps: Array) -> Array:  # eps [B, G, h, w, c] -> [B]
            log_px_z, g = self.forward(params, x, eps, feats)
            log_p = lk.gaussian_log_prob(g.mu_p, g.log_sigma_p, g.z)
            log_q = lk.gaussian_log_prob(g.mu_q, g.log_sigma_q, g.z)
            return log_px_z + log_p - log_q

        shape = (x.shape[0], *self.net.latent_shape)
        return lambda indices: jax.vmap(log_weight)(sample_noise(rng, indices, shape))

    def log_likelihood(
        self,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, Array],
        rng: Array,
        k: int | None = None,
        chunk: int | None = None,
    ) -> Array:
        """log p(x) [B] in nats (`LikelihoodModel`): L_k with k (default `eval_k`) importance
        samples, `chunk` (default `eval_chunk`) at a time; for k = 1 the ELBO with analytic KLs."""
        k = self.eval_k if k is None else k
        chunk = self.eval_chunk if chunk is None else chunk
        check_samples(k, chunk)
        check_scored_levels(self.observation, self.data_bits)
        x = batch["x"]
        if k > 1:
            return importance_log_likelihood(self.log_weights(params, x, rng), k, chunk, x.shape[0])
        eps = jax.random.normal(rng, (x.shape[0], *self.net.latent_shape), jnp.float32)
        log_px_z, groups = self.forward(params, x, eps)
        return log_px_z - jnp.sum(self.group_kl(groups), axis=(1, 2, 3, 4))

    def latent_stats(self, params: Mapping[str, Any], state: Mapping[str, Any], x: Array, rng: Array):
        """(KL [B, G c], posterior mean [B, G c]) per unit (group, channel): KL summed and mean
        averaged over positions, given one sample of the groups above (`LatentModel`)."""
        eps = jax.random.normal(rng, (x.shape[0], *self.net.latent_shape), jnp.float32)
        _, groups = self.forward(params, x, eps)
        kl = jnp.sum(self.group_kl(groups), axis=(2, 3))  # [B, G, c]
        return kl.reshape(x.shape[0], -1), jnp.mean(groups.mu_q, axis=(2, 3)).reshape(x.shape[0], -1)

    def encode(self, params: Mapping[str, Any], x: Array, state: Mapping[str, Any] | None = None) -> Array:
        """x -> z [B, G, h, w, c] at the posterior means, top-down (`Autoencoder`; no state)."""
        return self.net.apply({"params": params["model"]}, x, method="posterior_mean").astype(jnp.float32)

    def decode(self, params: Mapping[str, Any], z: Array, state: Mapping[str, Any] | None = None) -> Array:
        """z [B, G, h, w, c] -> the mean of p(x | z), in the data range (`Autoencoder`)."""
        return self.observation.mean(
            self.net.apply({"params": params["model"]}, z, method="decode").astype(jnp.float32)
        )

    def sample(self, params: Mapping[str, Any], state: Mapping[str, Any], rng: Array, num: int, **kwargs: Any) -> Array:
        """z ~ p(z) top-down, then the mean of p(x | z); with draw=True, x ~ p(x | z) itself."""
        draw = kwargs.pop("draw", False)
        if kwargs:
            raise ValueError(f"the HVAE sampler takes only the option draw, got {sorted(kwargs)}")
        key_z, key_x = jax.random.split(rng)
        eps = jax.random.normal(key_z, (num, *self.net.latent_shape))
        out = self.net.apply({"params": params["model"]}, eps, method="generate").astype(jnp.float32)
        return self.observation.sample(key_x, out) if draw else self.observation.mean(out)


@dataclasses.dataclass(frozen=True)
class HVAEHParams:
    """`config.objective` of the "hvae" family."""

    num_groups: int = hparam(3, ge=2)  # G, latent groups, top-down
    latent_channels: int = hparam(8, ge=1)  # c, channels of each group's latent map (mlp: its units)
    backbone: str = hparam("resnet", choices=BACKBONES)  # convolutional, or dense with vector groups
    channels: tuple[int, ...] = hparam((32, 64, 128), ge=1)  # resnet: channels per level, halved between
    hidden: int = hparam(512, ge=1)  # mlp: the width of the dense layers
    num_blocks: int = hparam(2, ge=1)  # residual blocks of the encoder and decoder (resnet: per level)
    likelihood: str = hparam("bernoulli", choices=LIKELIHOODS)
    obs_std: float | None = hparam(0.1, gt=0)  # gaussian likelihood's standard deviation; None: learned
    num_logistic_mix: int = hparam(5, ge=1)  # components of the logistic_mixture likelihood
    beta: float = hparam(1.0, ge=0)  # weight of the KL terms
    kl_warmup_steps: int = hparam(0, ge=0)  # the KL weight rises linearly from 0 to beta over these steps
    eval_k: int = hparam(1000, ge=1)  # importance samples of the evaluated log p(x); 1: the ELBO
    eval_chunk: int = hparam(100, ge=1)  # of the eval_k samples evaluated at once (memory)


@register("hvae")
def make(cfg: Any, metadata: Any) -> HVAE:
    """Builds the hierarchical VAE from `config.objective` (fields: `HVAEHParams`) and the data."""
    hp = from_config(HVAEHParams, cfg, "hvae")
    shape = tuple(metadata.shape)
    if hp.backbone == "resnet":
        check_levels(shape, len(hp.channels))  # now, not at the first step
    observation = make_observation(hp.likelihood, metadata, obs_std=hp.obs_std, num_logistic_mix=hp.num_logistic_mix)
    net = LadderVAENet(
        shape, hp.num_groups, hp.latent_channels, hp.channels, hp.num_blocks, observation.outputs(shape[-1]),
        hp.backbone, hp.hidden,
    )  # fmt: skip
    return HVAE(net, observation, hp.beta, hp.kl_warmup_steps, metadata.bits, hp.eval_k, hp.eval_chunk)
