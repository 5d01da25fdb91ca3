"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks") as a two-player objective.

Player "generator" holds G: A -> B and F: B -> A; player "discriminator" holds D_A and D_B
(PatchGAN). With the least-squares adversarial loss (paper sec. 4), per direction A -> B (and
B -> A alike, with the roles of the domains swapped), as GAN terms (`genjax.losses.terms`):

    L_G(a) = LS_G(D_B(G(a))) + lambda_cyc |F(G(a)) - a|_1 + lambda_id |F(a) - a|_1
             (GeneratorLoss, Reconstruction "cycle" (eq. 2), Reconstruction "identity" (sec. 5.2))
    L_D(b) = LS_D(D_B(b), D_B(pool_B(G(a))))        (DiscriminatorLoss)

The loss is per example: the A -> B values of the batch's domain-A images, then the B -> A ones.

where pool_X is the history of generated images of Shrivastava et al. (2017): with a full
pool, each new image is returned with probability 1/2, otherwise a stored image is returned
and replaced by the new one. The pool lives in the discriminator's state (collection "pool").

Domains: `domain_b = "invert"` makes B the colour-inverted images of the same dataset
(x_B = lo + hi - x), drawn from another part of the batch so that pairs are unpaired.
`domain_b = "unpaired"` reads two datasets from `data.source = "unpaired:SRC_A|SRC_B"`, whose
examples hold an A image and an unrelated B image on the channel axis (`genjax.data.unpaired`);
every example then gives one image of each domain.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses.gan import LeastSquares
from genjax.losses.terms import DiscriminatorLoss, GeneratorLoss, Reconstruction, Term, TermInputs, apply_terms
from genjax.nn.named import conv, group_norm
from genjax.objectives import register
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.hparams import from_config, hparam

Array = jax.Array
DOMAINS = ("invert", "unpaired")


def _norm(x: Array) -> Array:  # instance norm
    return group_norm(num_groups=None, group_size=1)(x)


class ResnetGenerator(nn.Module):
    """c7s1-ch, d(2ch), R(2ch) x n_blocks, u(ch), c7s1-C with tanh (Johnson et al. 2016 layout,
    one down/up-sampling stage; upsampling by resize + conv)."""

    ch: int = 32
    n_blocks: int = 2

    @nn.compact
    def __call__(self, x: Array) -> Array:  # [B, H, W, C] -> [B, H, W, C]
        c = x.shape[-1]
        h = nn.relu(_norm(conv(self.ch, (7, 7))(x)))
        h = nn.relu(_norm(conv(2 * self.ch, (3, 3), (2, 2))(h)))
        for _ in range(self.n_blocks):
            r = nn.relu(_norm(conv(2 * self.ch, (3, 3))(h)))
            h = h + _norm(conv(2 * self.ch, (3, 3))(r))
        b, hh, ww, _ = h.shape
        h = jax.image.resize(h, (b, x.shape[1], x.shape[2], h.shape[-1]), "nearest")
        h = nn.relu(_norm(conv(self.ch, (3, 3))(h)))
        return jnp.tanh(conv(c, (7, 7))(h))


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 stride-2 convs, instance norm, leaky ReLU; logits per patch, averaged to
    one value per image [B]."""

    ch: int = 32
    layers: int = 2

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = nn.leaky_relu(conv(self.ch, (4, 4), (2, 2))(x), 0.2)
        for i in range(1, self.layers):
            h = nn.leaky_relu(_norm(conv(self.ch * 2**i, (4, 4), (2, 2))(h)), 0.2)
        return jnp.mean(conv(1, (4, 4))(h), axis=(1, 2, 3))


class Pair(nn.Module):
    """Two networks of the same kind, {"ab": ..., "ba": ...} (generators) or {"a", "b"}."""

    make: Any
    names: tuple[str, str]

    def setup(self):
        self.nets = {n: self.make() for n in self.names}

    def __call__(self, x: Array, which: str) -> Array:
        return self.nets[which](x)

    def both(self, x: Array) -> tuple[Array, Array]:
        return tuple(self.nets[n](x) for n in self.names)


def query_pool(pool: Array, count: Array, fake: Array, rng: Array) -> tuple[Array, Array, Array]:
    """Image history buffer. pool [P, ...], count [] (images stored so far) -> (images for the
    discriminator [B, ...], new pool, new count)."""
    p, b = pool.shape[0], fake.shape[0]
    k_u, k_i = jax.random.split(rng)
    slot = count + jnp.arange(b)
    filling = slot < p  # pool not full yet: store and return the new image
    swap = (~filling) & (jax.random.uniform(k_u, (b,)) < 0.5)
    idx = jnp.where(filling, slot, jax.random.permutation(k_i, p)[:b] if b <= p else 0)
    shape = (b,) + (1,) * (fake.ndim - 1)
    out = jnp.where(swap.reshape(shape), pool[idx], fake)
    write = filling | swap
    new_pool = pool.at[jnp.where(write, idx, p)].set(fake, mode="drop")
    return out, new_pool, jnp.minimum(count + b, p)


@dataclasses.dataclass(frozen=True)
class CycleGAN:
    """The two translators (player "generator"), the two discriminators, and their GAN terms:
    `g_terms` per direction (adversarial, "cycle" and "identity" reconstructions), `d_terms` per
    domain."""

    generator: Pair
    discriminator: Pair
    g_terms: tuple[Term, ...]
    d_terms: tuple[Term, ...] = (DiscriminatorLoss(loss=LeastSquares()),)
    value_range: tuple[float, float] = (-1.0, 1.0)
    pool_size: int = 50
    domain_b: str = "invert"
    players: tuple[str, ...] = ("generator", "discriminator")
    schedule: tuple[str, ...] = ("discriminator", "generator")

    def domains(self, batch) -> tuple[Array, Array]:
        """(a, b) images of the batch: "invert": a = x[:B/2], b = inverted x[B/2:] (unpaired
        halves of the batch); "unpaired": a = x[..., :C], b = x[..., C:] of x [B, H, W, 2C]."""
        x = batch["x"]
        if self.domain_b == "unpaired":
            c = x.shape[-1] // 2
            return x[..., :c], x[..., c:]
        half = x.shape[0] // 2
        lo, hi = self.value_range
        return x[:half], lo + hi - x[half : 2 * half]

    def eval_reference(self, x: Array) -> Array:
        """The real images samples (G(a)) are compared with: domain B of examples x."""
        if self.domain_b == "unpaired":
            return self.domains({"x": x})[1]
        lo, hi = self.value_range
        return lo + hi - x

    def init(self, rng, batch):
        a, _ = self.domains(batch)
        k_g, k_d = jax.random.split(rng)
        g = self.generator.init(k_g, a, method=Pair.both)
        d = self.discriminator.init(k_d, a, method=Pair.both)
        empty = jnp.zeros((self.pool_size, *a.shape[1:]), a.dtype)
        pool = {
            "a": empty,
            "b": empty,
            "real_a": empty[: a.shape[0]],
            "count_a": jnp.zeros((), jnp.int32),
            "count_b": jnp.zeros((), jnp.int32),
        }
        return {
            "generator": PlayerVariables(g["params"], {}),
            "discriminator": PlayerVariables(d["params"], {"pool": pool}),
        }

    def _g(self, params, x, which):
        return self.generator.apply({"params": params["generator"]}, x, which)

    def _d(self, params, x, which):
        return self.discriminator.apply({"params": params["discriminator"]}, x, which)

    def loss(self, player, params, state, batch, rng, step) -> LossOutput:
        a, b = self.domains(batch)
        fake_b, fake_a = self._g(params, a, "ab"), self._g(params, b, "ba")
        if player == "discriminator":
            pool = state["discriminator"]["pool"]
            k_a, k_b = jax.random.split(rng)
            fa, pool_a, n_a = query_pool(pool["a"], pool["count_a"], jax.lax.stop_gradient(fake_a), k_a)
            fb, pool_b, n_b = query_pool(pool["b"], pool["count_b"], jax.lax.stop_gradient(fake_b), k_b)
            passes = [
                TermInputs(step, d_fake=self._d(params, f, d), d_real=self._d(params, x, d))
                for x, f, d in ((a, fa, "a"), (b, fb, "b"))
            ]
            new = {
                "pool": {
                    "a": pool_a,
                    "b": pool_b,
                    "count_a": n_a,
                    "count_b": n_b,
                    "real_a": a[: pool["real_a"].shape[0]],
                }
            }
            return self._both(self.d_terms, passes, rng, {"discriminator": new})
        passes = [
            TermInputs(
                step,
                d_fake=self._d(params, fake, d),
                pairs={"cycle": (self._g(params, fake, back), x), "identity": (self._g(params, x, back), x)},
            )
            for x, fake, d, back in ((a, fake_b, "b", "ba"), (b, fake_a, "a", "ab"))
        ]
        return self._both(self.g_terms, passes, rng, {})

    @staticmethod
    def _both(terms, passes, rng, state) -> LossOutput:
        """The terms of both directions' (or domains') passes, concatenated: losses and metrics
        [B_a + B_b]."""
        outs = [apply_terms(terms, io, rng, {}, io.d_fake.shape[0])[:2] for io in passes]
        (loss_1, metrics_1), (loss_2, metrics_2) = outs
        metrics = {k: jnp.concatenate([metrics_1[k], metrics_2[k]]) for k in metrics_1}
        return LossOutput(jnp.concatenate([loss_1, loss_2]), metrics, state)

    def translate(self, params, x: Array, direction: str = "ab") -> Array:
        """G (direction "ab") or F ("ba") applied to images x [N, H, W, C]."""
        return self._g(params, x, direction)

    def sample(self, params, state, rng, num, **kwargs) -> Array:
        """G(a) for `num` of the most recent real domain-A images seen in training (kept in the
        "pool" collection); use `translate` for images of your own."""
        if kwargs:
            raise ValueError(f"CycleGAN.sample takes no keyword arguments, got {sorted(kwargs)}")
        recent = state["discriminator"]["pool"]["real_a"]
        return self._g(params, recent[jnp.arange(num) % recent.shape[0]], "ab")


@dataclasses.dataclass(frozen=True)
class CycleGANHParams:
    """`config.objective` of the "cyclegan" family."""

    ch: int = hparam(32, ge=1)  # generator channels
    n_blocks: int = hparam(2, ge=0)  # generator residual blocks
    d_ch: int = hparam(32, ge=1)  # discriminator channels
    d_layers: int = hparam(2, ge=1)
    lambda_cyc: float = hparam(10.0, ge=0)
    lambda_id: float = hparam(5.0, ge=0)
    pool_size: int = hparam(50, ge=1)
    domain_b: str = hparam("invert", choices=DOMAINS)


@register("cyclegan")
def make(cfg: Any, metadata: Any) -> CycleGAN:
    hp = from_config(CycleGANHParams, cfg, "cyclegan")
    if metadata.kind != "image":
        raise ValueError(f"objective cyclegan needs images; {metadata.name} has {metadata.kind}")
    unpaired = str(metadata.name).startswith("unpaired:")
    if (hp.domain_b == "unpaired") != unpaired:
        raise ValueError(
            f"config.objective.domain_b={hp.domain_b!r} with data.source={metadata.name!r}: "
            "domain_b='unpaired' goes with data.source='unpaired:SRC_A|SRC_B' (two datasets), "
            "domain_b='invert' with a single dataset"
        )
    return CycleGAN(
        generator=Pair(lambda: ResnetGenerator(hp.ch, hp.n_blocks), ("ab", "ba")),
        discriminator=Pair(lambda: PatchDiscriminator(hp.d_ch, hp.d_layers), ("a", "b")),
        g_terms=(
            GeneratorLoss(loss=LeastSquares()),
            Reconstruction(name="cycle", weight=hp.lambda_cyc),
            Reconstruction(name="identity", weight=hp.lambda_id),
        ),
        value_range=tuple(float(v) for v in metadata.value_range),
        pool_size=hp.pool_size,
        domain_b=hp.domain_b,
    )
