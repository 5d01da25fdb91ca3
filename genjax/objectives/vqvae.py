"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning")
with an EMA codebook and dead-code restarts (`genjax.losses.vector_quantization`).

A ResNet encoder maps x [B, H, W, C] to z_e [B, h, w, D]; each position takes its nearest of K
codes, z_q = e_k; the decoder gives p(x|z_q) (an observation model of
`genjax.objectives.observation`). Per example, the loss

    L(x) = -log p(x|z_q) + beta sum_{positions} |z_e - sg(z_q)|^2      (beta = 0.25)

trains encoder and decoder through the straight-through estimator; the codebook is not trained by
gradients but follows the encoder outputs by exponential moving averages (decay gamma, Laplace
smoothing epsilon; the paper's appendix A.1), held as the non-trainable state
`state["model"]["vq"]` and returned updated in `LossOutput.state`. Codes that no position chose
for `restart_after` steps restart at encoder outputs of the batch. Metrics: `recon`,
`commitment`, `perplexity` (exp of the entropy of the batch's code frequencies), `usage` (the
fraction of codes chosen in the batch), `restarts`.

As an `Autoencoder`, `encode` gives the continuous z_e and `decode` quantizes z to the nearest codes
before decoding, so decode(encode(x)) is the reconstruction; `encode_codes` / `decode_codes` give
and take the discrete codes [B, h, w] (int32), for an autoregressive prior over them. Without a
trained prior, `sample` draws each position's code independently from the codebook's EMA usage
frequencies N_k / sum_j N_j.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from genjax.losses import vector_quantization as vq
from genjax.nn.resnet_vae import VQVAENet, check_levels
from genjax.objectives import register
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.objectives.observation import LIKELIHOODS, Observation, make_observation

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class VQVAE:
    """One player, "model" (encoder and decoder); its state {"vq": `vq.Codebook`} is the codebook."""

    net: VQVAENet
    observation: Observation
    num_codes: int = 512
    commitment_cost: float = 0.25
    decay: float = 0.99
    epsilon: float = 1e-5
    restart_after: int = 100
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)

    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        key_net, key_book = jax.random.split(rng)
        variables = self.net.init(key_net, batch["x"])
        book = vq.init_codebook(key_book, self.num_codes, self.net.embedding_dim)
        return {"model": PlayerVariables(variables["params"], {"vq": book._asdict()})}

    def _book(self, state: Mapping[str, Any] | None) -> vq.Codebook:
        if state is None or "vq" not in state.get("model", {}):
            raise ValueError("the VQ-VAE's codebook is in its state: pass state (e.g. run.state.model_state)")
        return vq.Codebook(**state["model"]["vq"])

    def _apply(self, params: Mapping[str, Any], *args: Any, method: str) -> Array:
        return self.net.apply({"params": params["model"]}, *args, method=method).astype(jnp.float32)

    def quantize(self, z: Array, book: vq.Codebook) -> tuple[Array, Array]:
        """z [B, h, w, D] -> (codes [B, h, w] int32, their embeddings [B, h, w, D])."""
        codes = vq.nearest_codes(z.reshape(-1, z.shape[-1]), book.embedding).reshape(z.shape[:-1])
        return codes, book.embedding[codes]

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
        book = self._book(state)
        z_e = self._apply(params, x, method="encode")  # [B, h, w, D]
        codes, z_q = self.quantize(z_e, book)
        out = self._apply(params, vq.straight_through(z_e, z_q).astype(x.dtype), method="decode")
        recon = -self.observation.log_prob(out, x.astype(jnp.float32))
        commitment = jnp.sum(vq.commitment_loss(z_e, z_q), axis=(1, 2))  # [B]
        flat_z, flat_codes = z_e.reshape(-1, z_e.shape[-1]), codes.reshape(-1)
        new_book = vq.ema_update(book, flat_z, flat_codes, self.decay, self.epsilon)
        new_book, restarts = vq.restart_dead_codes(new_book, flat_z, rng, self.restart_after)
        metrics = {
            "recon": recon,
            "commitment": commitment,
            "perplexity": vq.perplexity(flat_codes, self.num_codes),
            "usage": jnp.mean(vq.code_counts(flat_codes, self.num_codes) > 0),
            "restarts": restarts.astype(jnp.float32),
        }
        return LossOutput(recon + self.commitment_cost * commitment, metrics, {"model": {"vq": new_book._asdict()}})

    def encode(self, params: Mapping[str, Any], x: Array, state: Mapping[str, Any] | None = None) -> Array:
        """x [B, H, W, C] -> the encoder's continuous output z_e [B, h, w, D] (`Autoencoder`)."""
        return self._apply(params, x, method="encode")

    def decode(self, params: Mapping[str, Any], z: Array, state: Mapping[str, Any] | None = None) -> Array:
        """z [B, h, w, D] -> the mean of p(x|z_q) of its nearest codes z_q, in the data range."""
        return self.observation.mean(self._apply(params, self.quantize(z, self._book(state))[1], method="decode"))

    def encode_codes(self, params: Mapping[str, Any], state: Mapping[str, Any], x: Array) -> Array:
        """x [B, H, W, C] -> the codes [B, h, w] (int32) of its encoder outputs."""
        return self.quantize(self.encode(params, x), self._book(state))[0]

    def decode_codes(self, params: Mapping[str, Any], state: Mapping[str, Any], codes: Array) -> Array:
        """codes [B, h, w] (int32) -> the mean of p(x|e_codes) [B, H, W, C], in the data range."""
        z_q = self._book(state).embedding[codes]
        return self.observation.mean(self._apply(params, z_q, method="decode"))

    def sample(self, params: Mapping[str, Any], state: Mapping[str, Any], rng: Array, num: int, **kwargs: Any) -> Array:
        """Codes drawn per position from the EMA usage frequencies, decoded (no trained prior)."""
        if kwargs:
            raise ValueError(f"the VQ-VAE sampler takes no options, got {sorted(kwargs)}")
        book = self._book(state)
        h, w = check_levels(self.net.shape, len(self.net.channels))
        logits = jnp.log(book.ema_count / jnp.sum(book.ema_count))
        codes = jax.random.categorical(rng, logits, shape=(num, h, w)).astype(jnp.int32)
        return self.decode_codes(params, state, codes)


@dataclasses.dataclass(frozen=True)
class VQVAEHParams:
    """`config.objective` of the "vqvae" family."""

    num_codes: int = hparam(512, ge=2)  # K, the codebook's size
    embedding_dim: int = hparam(64, ge=1)  # D, of each code
    channels: tuple[int, ...] = hparam((32, 64, 128), ge=1)  # ResNet channels per level, halved between
    num_blocks: int = hparam(2, ge=1)  # residual blocks per level
    likelihood: str = hparam("bernoulli", choices=LIKELIHOODS)
    obs_std: float | None = hparam(0.1, gt=0)  # gaussian likelihood's standard deviation; None: learned
    num_logistic_mix: int = hparam(5, ge=1)  # components of the logistic_mixture likelihood
    commitment_cost: float = hparam(0.25, ge=0)  # beta
    decay: float = hparam(0.99, gt=0, lt=1)  # gamma of the codebook's moving averages
    epsilon: float = hparam(1e-5, gt=0)  # Laplace smoothing of the code counts
    restart_after: int = hparam(100, ge=1)  # steps a code may go unused before it restarts


@register("vqvae")
def make(cfg: Any, metadata: Any) -> VQVAE:
    """Builds the VQ-VAE from `config.objective` (fields: `VQVAEHParams`) and the data's shape."""
    hp = from_config(VQVAEHParams, cfg, "vqvae")
    shape = tuple(metadata.shape)
    if metadata.kind != "image":
        raise ValueError(f"the vqvae objective takes images; {metadata.name} holds {metadata.kind}")
    check_levels(shape, len(hp.channels))
    observation = make_observation(hp.likelihood, metadata, obs_std=hp.obs_std, num_logistic_mix=hp.num_logistic_mix)
    net = VQVAENet(shape, hp.embedding_dim, hp.channels, hp.num_blocks, observation.outputs(shape[-1]))
    return VQVAE(net, observation, hp.num_codes, hp.commitment_cost, hp.decay, hp.epsilon, hp.restart_after)
