"""A transformer prior over the codes of a frozen VQ-VAE (van den Oord et al. 2017, sec. 3.2: "we
fit a prior, p(z), over these latents so that we can sample from it").

The frozen VQ-VAE (the component `vqvae` of the `autoregressive` family, `genjax.train.components`)
maps an image x to the codes z = q(x) [h, w] of its encoder outputs (`VQVAE.encode_codes`). They
are read in raster order after a start token s = K (one more than the K codes), and the causal
transformer of `genjax.nn.transformer` models them,

    log p(z) = sum_{t=1}^{h w} log p(z_t | s, z_{<t}),

with the per-example loss the mean cross-entropy in nats per code, -1/(h w) log p(z). Only the
transformer trains; the VQ-VAE's variables are the train state's `state["vqvae"]`. `sample`
draws h w codes after the start token with the KV-cache sampler of `genjax.objectives.decoding`
(the start token itself is never drawn) and decodes them with the VQ-VAE (`decode_codes`).
This scores codes, not images, so the prior is no `LikelihoodModel` of x.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from flax.core import meta

from genjax.nn.transformer import Transformer
from genjax.objectives.base import LossOutput, Objective, PlayerVariables
from genjax.objectives.decoding import generate, next_token_log_probs
from genjax.objectives.vqvae import VQVAE

VQVAE_COMPONENT = "vqvae"  # the component name of the prior's VQ-VAE
SAMPLE_OPTIONS = ("temperature", "top_k", "top_p")


@dataclasses.dataclass(frozen=True)
class CodePrior:
    """One player, "model": the transformer over `num_codes` + 1 tokens (codes and the start
    token) with a context of h w; `vqvae` the frozen VQ-VAE objective, `code_shape` its (h, w)."""

    net: Transformer
    vqvae: VQVAE
    num_codes: int
    code_shape: tuple[int, int]
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)

    @property
    def start_token(self) -> int:
        return self.num_codes

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        variables = self.net.init(rng, jnp.zeros((1, math.prod(self.code_shape)), jnp.int32))
        return {"model": PlayerVariables(variables["params"], {})}

    def tokens(self, state: Mapping[str, Any], x: jax.Array) -> jax.Array:
        """x [B, H, W, C] -> [B, 1 + h w] int32: the start token, then the image's codes in raster order."""
        vq = state[VQVAE_COMPONENT]
        codes = self.vqvae.encode_codes(vq["params"], vq["state"], x).reshape(x.shape[0], -1)
        return jnp.concatenate([jnp.full((x.shape[0], 1), self.start_token, jnp.int32), codes], axis=1)

    def code_log_probs(self, params: Mapping[str, Any], tokens: jax.Array, rng: jax.Array | None = None) -> jax.Array:
        """tokens [B, 1 + h w] -> log p(z_t | s, z_{<t}) [B, h w]; with `rng`, in training mode."""
        return next_token_log_probs(self.net, params["model"], tokens, rng)

    def loss(
        self,
        player: str,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, jax.Array],
        rng: jax.Array,
        step: jax.Array,
    ) -> LossOutput:
        nats = -jnp.mean(self.code_log_probs(params, self.tokens(state, batch["x"]), rng), axis=-1)  # [B]
        return LossOutput(nats, {"bits_per_code": nats / math.log(2.0)}, {})

    def sample_codes(self, params: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any) -> jax.Array:
        """codes [num, h, w] int32 drawn from the prior after the start token (options:
        temperature, top_k, top_p, as the text sampler's)."""
        unknown = sorted(set(kwargs) - set(SAMPLE_OPTIONS))
        if unknown:
            raise ValueError(f"the code prior's sampler takes the options {list(SAMPLE_OPTIONS)}, got {unknown}")

        def step(tokens: jax.Array, pos: jax.Array, cache: dict) -> tuple[jax.Array, dict]:
            logits, cache = self.net.apply({"params": params["model"]}, tokens, pos, cache)
            return logits.at[..., self.start_token].set(-jnp.inf), cache  # codes only

        prompt = jnp.full((num, 1), self.start_token, jnp.int32)
        tokens, _ = generate(
            step,
            self.net.init_cache(num),
            prompt,
            1 + math.prod(self.code_shape),
            rng,
            temperature=float(kwargs.get("temperature", 1.0)),
            top_k=int(kwargs.get("top_k", 0)),
            top_p=float(kwargs.get("top_p", 1.0)),
        )
        return tokens[:, 1:].reshape(num, *self.code_shape)

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        """Images [num, H, W, C]: codes from `sample_codes`, decoded by the frozen VQ-VAE."""
        vq = state[VQVAE_COMPONENT]
        return self.vqvae.decode_codes(vq["params"], vq["state"], self.sample_codes(params, rng, num, **kwargs))


def code_prior(net_kwargs: Mapping[str, Any], vqvae: Objective, metadata: Any) -> CodePrior:
    """The prior over the codes of `vqvae` on images of `metadata`, a transformer of `net_kwargs`
    (the `Transformer` fields other than vocab_size and max_len)."""
    if not isinstance(vqvae, VQVAE):
        raise ValueError(
            f"config.components.{VQVAE_COMPONENT} holds a {type(vqvae).__name__} run; the code prior needs a "
            "VQ-VAE run (the vqvae objective, e.g. genjax train --config mnist_vqvae)"
        )
    if metadata.kind != "image":
        raise ValueError(f"a prior over VQ-VAE codes models images; {metadata.name!r} holds {metadata.kind} data")
    x = jnp.zeros((1, *metadata.shape), jnp.float32)

    def codes(key: jax.Array) -> jax.Array:
        variables = meta.unbox(vqvae.init(key, {"x": x}))
        params = {p: v.params for p, v in variables.items()}
        return vqvae.encode_codes(params, {p: dict(v.state) for p, v in variables.items()}, x)

    code_shape = tuple(jax.eval_shape(codes, jax.random.PRNGKey(0)).shape[1:])
    net = Transformer(vocab_size=vqvae.num_codes + 1, max_len=math.prod(code_shape), **net_kwargs)
    return CodePrior(net, vqvae, vqvae.num_codes, code_shape)
