"""Autoregressive language model over token windows (a decoder-only transformer, GPT-style).

A window x_0..x_T of T + 1 = data.seq_len + 1 tokens is factorised left to right,

    log p(x_1..x_T | x_0) = sum_{t=1}^{T} log p(x_t | x_{<t}),

with p(x_t | x_{<t}) = softmax(f(x_{<t}))[x_t] from the causal transformer f
(`genjax.nn.transformer`). The per-example loss is the mean next-token cross-entropy, in nats
per token:

    L(x) = -1/T sum_t log p(x_t | x_{<t}).

As a `LikelihoodModel` it scores a window exactly (`likelihood_kind` "exact"): log p(x_1..x_T |
x_0) in nats, of the tokens themselves (`discrete`); the evaluation divides by T to report nats
and bits per character (`genjax.train.evaluate`). `sample` returns int32 token windows
[num, T + 1] continuing a prompt (default: the newline token, as nanoGPT starts), drawn with the
KV-cache sampler of `genjax.objectives.decoding` (temperature, top-k, top-p).

With a frozen VQ-VAE component (config.components.vqvae) the family is a prior over that VQ-VAE's
codes of images instead (`genjax.objectives.code_prior`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from genjax.nn.transformer import Transformer
from genjax.objectives import register
from genjax.objectives.base import LikelihoodKind, LossOutput, Objective, PlayerVariables
from genjax.objectives.code_prior import VQVAE_COMPONENT, CodePrior, code_prior
from genjax.objectives.decoding import generate, next_token_log_probs
from genjax.objectives.hparams import from_config, hparam

SAMPLE_OPTIONS = ("prompt", "temperature", "top_k", "top_p", "length")


@dataclasses.dataclass(frozen=True)
class Autoregressive:
    """The autoregressive objective: one player, "model". `vocab`: the characters of the token
    ids (None: bytes), to encode string prompts."""

    net: Transformer
    vocab: str | None = None
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)
    likelihood_kind: LikelihoodKind = "exact"
    discrete: bool = True

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        variables = self.net.init(rng, batch["x"][:, :-1])
        return {"model": PlayerVariables(variables["params"], {})}

    def token_log_probs(self, params: Mapping[str, Any], x: jax.Array, rng: jax.Array | None = None) -> jax.Array:
        """x [B, T + 1] int32 -> log p(x_t | x_{<t}) [B, T] in float32 (`next_token_log_probs`)."""
        return next_token_log_probs(self.net, params["model"], x, rng)

    def loss(
        self,
        player: str,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, jax.Array],
        rng: jax.Array,
        step: jax.Array,
    ) -> LossOutput:
        nats = -jnp.mean(self.token_log_probs(params, batch["x"], rng), axis=-1)  # [B], nats per token
        return LossOutput(nats, {"bits_per_token": nats / math.log(2.0)}, {})

    def log_likelihood(
        self, params: Mapping[str, Any], state: Mapping[str, Any], batch: Mapping[str, jax.Array], rng: jax.Array
    ) -> jax.Array:
        """log p(x_1..x_T | x_0) [B] in nats (`LikelihoodModel`)."""
        return jnp.sum(self.token_log_probs(params, batch["x"]), axis=-1)

    def encode_prompt(self, prompt: str) -> jax.Array:
        """A prompt string -> token ids [P] in the data's vocabulary."""
        if self.vocab is None:
            return jnp.asarray(list(prompt.encode("utf-8")), jnp.int32)
        unknown = sorted(set(prompt) - set(self.vocab))
        if unknown:
            raise ValueError(f"the prompt has characters {unknown} that are not in the model's vocabulary")
        return jnp.asarray([self.vocab.index(c) for c in prompt], jnp.int32)

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        """int32 tokens [num, length] (default length: the window, data.seq_len + 1). Options:
        prompt (a string in the data's vocabulary, or token ids; default a newline), temperature
        (1.0; 0: greedy), top_k (0: all tokens), top_p (1.0: all tokens), length (<= seq_len + 1)."""
        unknown = sorted(set(kwargs) - set(SAMPLE_OPTIONS))
        if unknown:
            raise ValueError(f"the autoregressive sampler takes the options {list(SAMPLE_OPTIONS)}, got {unknown}")
        length = int(kwargs.get("length") or self.net.max_len + 1)
        if not 2 <= length <= self.net.max_len + 1:
            raise ValueError(f"sample length={length} must be in [2, {self.net.max_len + 1}] (the model's context + 1)")
        prompt = kwargs.get("prompt")
        if prompt is None:
            prompt = self.encode_prompt("\n") if self.vocab is None or "\n" in self.vocab else jnp.zeros(1, jnp.int32)
        elif isinstance(prompt, str):
            prompt = self.encode_prompt(prompt)
        prompt = jnp.broadcast_to(jnp.asarray(prompt, jnp.int32).reshape(1, -1), (num, jnp.size(prompt)))
        step = lambda tokens, pos, cache: self.net.apply({"params": params["model"]}, tokens, pos, cache)  # noqa: E731
        tokens, _ = generate(
            step,
            self.net.init_cache(num),
            prompt,
            length,
            rng,
            temperature=float(kwargs.get("temperature", 1.0)),
            top_k=int(kwargs.get("top_k", 0)),
            top_p=float(kwargs.get("top_p", 1.0)),
        )
        return tokens


@dataclasses.dataclass(frozen=True)
class AutoregressiveHParams:
    """`config.objective` of the "autoregressive" family (nanoGPT's shakespeare_char defaults)."""

    num_layers: int = hparam(6, ge=1)
    num_heads: int = hparam(6, ge=1)
    dim: int = hparam(384, ge=2)  # model width; dim / num_heads must be even (RoPE)
    mlp_ratio: int = hparam(4, ge=1)
    dropout: float = hparam(0.0, ge=0, lt=1)  # on embeddings and residual branches, in training only
    remat: bool = False  # recompute each block's activations in the backward pass
    scan_layers: bool = False  # the blocks as one nn.scan over stacked params


@register("autoregressive", components=(VQVAE_COMPONENT,))
def make(cfg: Any, metadata: Any, vqvae: Objective | None = None) -> Autoregressive | CodePrior:
    """Builds the transformer from `config.objective` (fields: `AutoregressiveHParams`) and the
    text's vocabulary and window; with the frozen component `vqvae` (config.components.vqvae), the
    prior over that VQ-VAE's codes of the images (`genjax.objectives.code_prior`)."""
    hp = from_config(AutoregressiveHParams, cfg, "autoregressive")
    if hp.dim % hp.num_heads or (hp.dim // hp.num_heads) % 2:
        raise ValueError(
            f"config.objective.dim={hp.dim} must split into num_heads={hp.num_heads} heads of even size (RoPE)"
        )
    if vqvae is not None:
        return code_prior(dataclasses.asdict(hp), vqvae, metadata)
    if metadata.kind != "text":
        raise ValueError(
            f"the autoregressive objective models token windows; {metadata.name!r} holds {metadata.kind} data: "
            "use a text source, e.g. --config.data.source=text:PATH, or model VQ-VAE codes of images "
            "(config.components.vqvae)"
        )
    net = Transformer(
        vocab_size=metadata.vocab_size,
        max_len=metadata.shape[0] - 1,
        num_layers=hp.num_layers,
        num_heads=hp.num_heads,
        dim=hp.dim,
        mlp_ratio=hp.mlp_ratio,
        dropout=hp.dropout,
        remat=hp.remat,
        scan_layers=hp.scan_layers,
    )
    return Autoregressive(net, metadata.vocab)
