"""WaveNet: an exact autoregressive likelihood over mu-law codes of a waveform (van den Oord et al.
2016, "WaveNet: A Generative Model for Raw Audio"), optionally conditioned on a class (a spoken
digit: the paper's global conditioning, eq. 3).

A waveform x in [-1, 1] of T samples is mu-law companded and quantized to codes q_t in [0, 256)
(`genjax.data.mu_law`) and factorised in time order,

    log P(q | y) = sum_t log softmax(f(q_<t, y))_{q_t},

with every factor computed at once by the causal network (`genjax.nn.wavenet`). The per-example
loss is -log P(q | y) in nats; `bits_per_sample` divides it by T log 2. As a `LikelihoodModel` it
is exact and discrete (the probabilities of the 256 mu-law levels of the data), and `genjax eval
--metrics nll` reports bits per sample (its `bits_per_dim`: a mono waveform has one dimension per
sample) and nats per sample.

`sample` draws the T codes as ONE compiled `lax.scan` over time with the fast-WaveNet queues
(Paine et al. 2016): step t runs every layer at one position, reading its input at t - d from its
queue, and draws q_t with the key fold_in(rng, t); the codes are decoded back to a waveform.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from genjax.data import mu_law
from genjax.nn.wavenet import WaveNet as WaveNetNet
from genjax.objectives import register
from genjax.objectives.labels import ClassLabels, sample_labels
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.parallel.sharding import shard_batch


def generate(
    net: WaveNetNet, params: Any, labels: jax.Array | None, rng: jax.Array, num: int, length: int
) -> tuple[jax.Array, jax.Array]:
    """Codes q ~ prod_t P(q_t | q_<t, y) [num, length] int32 and the logits they were drawn from
    [num, length, levels]: one `lax.scan` over time of `WaveNet.step` (the fast-WaveNet queues),
    step t drawing q_t from its logits with the key fold_in(rng, t)."""
    queues = jax.tree.map(shard_batch, net.init_queues(num))

    def step(carry, t):
        previous, queues = carry
        logits, queues = net.apply({"params": params}, t, previous, queues, labels, method=WaveNetNet.step)
        logits = shard_batch(logits.astype(jnp.float32))
        code = jax.random.categorical(jax.random.fold_in(rng, t), logits).astype(jnp.int32)
        return (code, queues), (code, logits)

    start = shard_batch(jnp.zeros((num,), jnp.int32))
    _, (codes, logits) = jax.lax.scan(step, (start, queues), jnp.arange(length))
    return codes.T, logits.transpose(1, 0, 2)


@dataclasses.dataclass(frozen=True)
class WaveNet:
    """The WaveNet objective: one player, "model". `length`: T, the samples per waveform."""

    net: WaveNetNet
    length: int
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)
    # `LikelihoodModel`: the factorised likelihood itself, of the data's mu-law levels
    likelihood_kind = "exact"
    discrete = True
    num_classes = None  # unconditional (the Conditional subclass makes it a field)

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        codes = jnp.zeros((1, self.length), jnp.int32)
        variables = self.net.init(rng, codes, self._labels(jnp.zeros((1,), jnp.int32)))
        return {"model": PlayerVariables(variables["params"], {})}

    def _labels(self, y: jax.Array | None) -> jax.Array | None:
        return None

    def log_prob(self, params: Mapping[str, Any], batch: Mapping[str, jax.Array]) -> jax.Array:
        """log P(q | y) [B] in nats of the mu-law codes q of batch["x"] [B, T, 1]."""
        codes = mu_law.encode(batch["x"][..., 0], self.net.levels - 1)
        logits = self.net.apply({"params": params["model"]}, codes, self._labels(batch.get("y")))
        log_p = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        return jnp.take_along_axis(log_p, codes[..., None], axis=-1)[..., 0].sum(axis=-1)

    def loss(
        self,
        player: str,
        params: Mapping[str, Any],
        state: Mapping[str, Any],
        batch: Mapping[str, jax.Array],
        rng: jax.Array,
        step: jax.Array,
    ) -> LossOutput:
        nll = -self.log_prob(params, batch)
        return LossOutput(nll, {"bits_per_sample": nll / (self.length * math.log(2.0))}, {})

    def log_likelihood(
        self, params: Mapping[str, Any], state: Mapping[str, Any], batch: Mapping[str, jax.Array], rng: jax.Array
    ) -> jax.Array:
        """log P(q | y) [B] in nats of the data's mu-law levels (`LikelihoodModel`)."""
        return self.log_prob(params, batch)

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        """[num, T, 1] waveforms in [-1, 1], drawn code by code with the fast-WaveNet queues
        (class-conditional models take label=k, else draw labels uniformly)."""
        rng_labels, rng = jax.random.split(rng)
        labels = sample_labels(rng_labels, num, self.num_classes, kwargs, "WaveNet")
        codes, _ = generate(self.net, params["model"], labels, rng, num, self.length)
        return mu_law.decode(codes, self.net.levels - 1)[..., None]


@dataclasses.dataclass(frozen=True)
class ConditionalWaveNet(ClassLabels, WaveNet):
    """A class-conditional WaveNet over `num_classes` labels (`Conditional`, no guidance)."""

    num_classes: int = 10
    guidance = False
    family = "WaveNet"


@dataclasses.dataclass(frozen=True)
class WaveNetHParams:
    """`config.objective` of the "wavenet" family."""

    residual_channels: int = hparam(64, ge=1)
    dilation_channels: int = hparam(64, ge=1)  # gated units per layer
    skip_channels: int = hparam(128, ge=1)  # the skip sum and the head's hidden layer
    num_layers: int = hparam(20, ge=1)
    dilation_cycle: int = hparam(10, ge=1)  # dilations 1, 2, ..., 2^(cycle - 1), repeated
    conditional: bool | None = None  # default: whether the data has labels


@register("wavenet")
def make(cfg: Any, metadata: Any) -> WaveNet:
    """Builds WaveNet from `config.objective` (fields: `WaveNetHParams`) and the data: mono
    waveforms [T, 1] in [-1, 1]."""
    hp = from_config(WaveNetHParams, cfg, "wavenet")
    shape = tuple(int(d) for d in metadata.shape)
    if metadata.kind != "audio" or len(shape) != 2 or shape[1] != 1:
        raise ValueError(
            f"the wavenet objective models mono waveforms [T, 1]; {metadata.name!r} holds {metadata.kind} data "
            f"of shape {shape} (use an audio source, e.g. audio:spoken_digit/recordings)"
        )
    conditional = bool(metadata.num_classes) if hp.conditional is None else hp.conditional
    if conditional and not metadata.num_classes:
        raise ValueError(f"config.objective.conditional=True but dataset {metadata.name!r} has no labels")
    num_classes = int(metadata.num_classes) if conditional else None
    net = WaveNetNet(
        levels=mu_law.LEVELS,
        residual_channels=hp.residual_channels,
        dilation_channels=hp.dilation_channels,
        skip_channels=hp.skip_channels,
        num_layers=hp.num_layers,
        dilation_cycle=hp.dilation_cycle,
        num_classes=num_classes,
    )
    if num_classes:
        return ConditionalWaveNet(net, shape[0], num_classes=num_classes)
    return WaveNet(net, shape[0])
