"""PixelCNN: an exact autoregressive likelihood over pixels (van den Oord et al. 2016, "Conditional
Image Generation with PixelCNN Decoders"; the likelihood of Salimans et al. 2017, "PixelCNN++").

An image of H x W pixels is factorised in raster order,

    log p(x | y) = sum_{i,j} log p(x_ij | x_<ij, y),

with the parameters of every factor computed at once by the gated PixelCNN (`genjax.nn.pixelcnn`),
whose output at (i, j) sees exactly the pixels before (i, j). A factor is an observation model of
`genjax.objectives.observation`:

- bernoulli: binarized data, p(x_ijc = 1) = sigmoid(logit_ijc), the channels of a pixel
  independent given x_<ij;
- logistic_mixture: 8-bit data, PixelCNN++'s mixture of K discretized logistics shared by a
  pixel's channels, channel c's mean shifted linearly by the channels before it (the coefficients
  of PixelCNN++, eq. 3): the channels of a pixel are dependent, exactly as in PixelCNN++.

The per-example loss is -log p(x | y) in nats; `bits_per_dim` divides by H W C log 2. As a
`LikelihoodModel` it is exact and discrete (probabilities of the data's levels), so `genjax eval
--metrics nll` reports it as it is. On labelled data (`conditional`, default: whether the data has
labels) the label's embedding enters every gated layer and the objective is `Conditional`.

`sample` draws the pixels in raster order as ONE compiled `lax.fori_loop` over the H W positions:
each step recomputes the network on the current image and draws pixel (i, j) (all its channels)
with the key fold_in(rng, i W + j); the batch is sharded over the mesh's batch axes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from genjax.nn.pixelcnn import PixelCNN as PixelCNNNet
from genjax.objectives import register
from genjax.objectives.labels import ClassLabels, sample_labels
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.objectives.observation import Bernoulli, Observation, make_observation
from genjax.objectives.vae import check_scored_levels
from genjax.parallel.sharding import shard_batch

PIXEL_LIKELIHOODS = ("bernoulli", "logistic_mixture")


@dataclasses.dataclass(frozen=True)
class PixelCNN:
    """The PixelCNN objective: one player, "model". `shape`: the images' [H, W, C]; `data_bits`:
    bits per value of the data, whose levels the observation must score."""

    net: Any  # a flax module: (x [B, H, W, C], labels [B] | None) -> [B, H, W, observation outputs]
    shape: tuple[int, int, int]
    observation: Observation = Bernoulli()
    data_bits: int | None = 1
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)
    # `LikelihoodModel`: the factorised likelihood itself, of the data's discrete levels
    likelihood_kind = "exact"
    discrete = True
    num_classes = None  # unconditional (the Conditional subclass makes it a field)

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        x = jnp.zeros((1, *self.shape), jnp.float32)
        variables = self.net.init(rng, x, self._labels(jnp.zeros((1,), jnp.int32)))
        return {"model": PlayerVariables(variables["params"], {})}

    def _labels(self, y: jax.Array | None) -> jax.Array | None:
        return None

    def outputs(self, params: Mapping[str, Any], x: jax.Array, labels: jax.Array | None) -> jax.Array:
        """x [B, H, W, C] -> the observation's parameters of every pixel [B, H, W, K], float32."""
        return self.net.apply({"params": params["model"]}, x, labels).astype(jnp.float32)

    def log_prob(self, params: Mapping[str, Any], batch: Mapping[str, jax.Array]) -> jax.Array:
        """log p(x | y) [B] in nats."""
        x = batch["x"].astype(jnp.float32)
        return self.observation.log_prob(self.outputs(params, x, self._labels(batch.get("y"))), x)

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
        return LossOutput(nll, {"bits_per_dim": nll / (math.prod(self.shape) * math.log(2.0))}, {})

    def log_likelihood(
        self, params: Mapping[str, Any], state: Mapping[str, Any], batch: Mapping[str, jax.Array], rng: jax.Array
    ) -> jax.Array:
        """log p(x | y) [B] in nats of the data's levels (`LikelihoodModel`)."""
        check_scored_levels(self.observation, self.data_bits)
        return self.log_prob(params, batch)

    def sample(
        self, params: Mapping[str, Any], state: Mapping[str, Any], rng: jax.Array, num: int, **kwargs: Any
    ) -> jax.Array:
        """[num, H, W, C] images drawn pixel by pixel in raster order (class-conditional models
        take label=k, else draw labels uniformly)."""
        rng_labels, rng = jax.random.split(rng)
        labels = sample_labels(rng_labels, num, self.num_classes, kwargs, "PixelCNN")
        return ancestral_sample(lambda x: self.outputs(params, x, labels), self.observation, self.shape, rng, num)


@dataclasses.dataclass(frozen=True)
class ConditionalPixelCNN(ClassLabels, PixelCNN):
    """A class-conditional PixelCNN over `num_classes` labels (`Conditional`, no guidance)."""

    num_classes: int = 10
    guidance = False
    family = "PixelCNN"


def ancestral_sample(
    outputs: Any, observation: Observation, shape: tuple[int, int, int], rng: jax.Array, num: int
) -> jax.Array:
    """x ~ prod_ij p(x_ij | x_<ij) [num, H, W, C]: one `lax.fori_loop` over the H W pixels in raster
    order; step t = i W + j evaluates `outputs` (x [num, H, W, C] -> [num, H, W, K]) on the image so
    far and draws pixel (i, j) from `observation` with the key fold_in(rng, t)."""
    height, width, channels = shape

    def step(t: jax.Array, x: jax.Array) -> jax.Array:
        i, j = t // width, t % width
        out = outputs(shard_batch(x))[:, i, j, :]  # [num, K]
        pixel = observation.sample(jax.random.fold_in(rng, t), out)  # [num, C]
        return shard_batch(x.at[:, i, j, :].set(pixel.astype(x.dtype)))

    x0 = jnp.zeros((num, height, width, channels), jnp.float32)
    return jax.lax.fori_loop(0, height * width, step, shard_batch(x0))


@dataclasses.dataclass(frozen=True)
class PixelCNNHParams:
    """`config.objective` of the "pixelcnn" family."""

    features: int = hparam(64, ge=1)  # p: channels of the vertical and horizontal stacks
    num_layers: int = hparam(8, ge=1)  # gated layers
    kernel_size: int = hparam(3, ge=1)  # k (odd): the stacks' kernels are (k//2 + 1) x k and 1 x (k//2 + 1)
    hidden: int = hparam(256, ge=1)  # channels of the output head's hidden 1x1 layer
    likelihood: str = hparam("bernoulli", choices=PIXEL_LIKELIHOODS)
    num_logistic_mix: int = hparam(10, ge=1)  # K: components of the logistic_mixture likelihood
    conditional: bool | None = None  # default: whether the data has labels


@register("pixelcnn")
def make(cfg: Any, metadata: Any) -> PixelCNN:
    """Builds the PixelCNN from `config.objective` (fields: `PixelCNNHParams`) and the data."""
    hp = from_config(PixelCNNHParams, cfg, "pixelcnn")
    if metadata.kind != "image":
        raise ValueError(f"the pixelcnn objective models images; {metadata.name!r} holds {metadata.kind} data")
    if hp.kernel_size % 2 == 0:
        raise ValueError(f"config.objective.kernel_size={hp.kernel_size} must be odd")
    conditional = bool(metadata.num_classes) if hp.conditional is None else hp.conditional
    if conditional and not metadata.num_classes:
        raise ValueError(f"config.objective.conditional=True but dataset {metadata.name!r} has no labels")
    observation = make_observation(hp.likelihood, metadata, num_logistic_mix=hp.num_logistic_mix)
    check_scored_levels(observation, metadata.bits)  # now, not at the first evaluation
    shape = tuple(int(d) for d in metadata.shape)
    num_classes = int(metadata.num_classes) if conditional else None
    net = PixelCNNNet(
        observation.outputs(shape[-1]), hp.features, hp.num_layers, hp.kernel_size, hp.hidden, num_classes
    )
    if num_classes:
        return ConditionalPixelCNN(net, shape, observation, metadata.bits, num_classes=num_classes)
    return PixelCNN(net, shape, observation, metadata.bits)
