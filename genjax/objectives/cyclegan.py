"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks") as a two-player objective.

Player "generator" holds G: A -> B and F: B -> A; player "discriminator" holds D_A and D_B
(PatchGAN). With the least-squares adversarial loss (paper sec. 4),

    L_G = LS_G(D_B(G(a))) + LS_G(D_A(F(b)))
          + lambda_cyc (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)               (eq. 2)
          + lambda_id  (|F(a) - a|_1 + |G(b) - b|_1)                      (sec. 5.2)
    L_D = LS_D(D_B(b), D_B(pool_B(G(a)))) + LS_D(D_A(a), D_A(pool_A(F(b))))

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
from genjax.objectives import check_fields, register
from genjax.objectives.base import LossOutput, PlayerVariables

Array = jax.Array
FIELDS = dict(ch=32, n_blocks=2, d_ch=32, d_layers=2, lambda_cyc=10.0, lambda_id=5.0,
              pool_size=50, domain_b="invert")
DOMAINS = ("invert", "unpaired")


def _norm(x: Array) -> Array:  # instance norm
    return nn.GroupNorm(num_groups=None, group_size=1)(x)


class ResnetGenerator(nn.Module):
    """c7s1-ch, d(2ch), R(2ch) x n_blocks, u(ch), c7s1-C with tanh (Johnson et al. 2016 layout,
    one down/up-sampling stage; upsampling by resize + conv)."""

    ch: int = 32
    n_blocks: int = 2

    @nn.compact
    def __call__(self, x: Array) -> Array:  # [B, H, W, C] -> [B, H, W, C]
        c = x.shape[-1]
        h = nn.relu(_norm(nn.Conv(self.ch, (7, 7))(x)))
        h = nn.relu(_norm(nn.Conv(2 * self.ch, (3, 3), (2, 2))(h)))
        for _ in range(self.n_blocks):
            r = nn.relu(_norm(nn.Conv(2 * self.ch, (3, 3))(h)))
            h = h + _norm(nn.Conv(2 * self.ch, (3, 3))(r))
        b, hh, ww, _ = h.shape
        h = jax.image.resize(h, (b, x.shape[1], x.shape[2], h.shape[-1]), "nearest")
        h = nn.relu(_norm(nn.Conv(self.ch, (3, 3))(h)))
        return jnp.tanh(nn.Conv(c, (7, 7))(h))


class PatchDiscriminator(nn.Module):
    """PatchGAN: 4x4 stride-2 convs, instance norm, leaky ReLU; logits per patch, averaged to
    one value per image [B]."""

    ch: int = 32
    layers: int = 2

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = nn.leaky_relu(nn.Conv(self.ch, (4, 4), (2, 2))(x), 0.2)
        for i in range(1, self.layers):
            h = nn.leaky_relu(_norm(nn.Conv(self.ch * 2**i, (4, 4), (2, 2))(h)), 0.2)
        return jnp.mean(nn.Conv(1, (4, 4))(h), axis=(1, 2, 3))


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
    generator: Pair
    discriminator: Pair
    value_range: tuple[float, float] = (-1.0, 1.0)
    lambda_cyc: float = 10.0
    lambda_id: float = 5.0
    pool_size: int = 50
    domain_b: str = "invert"
    players: tuple[str, ...] = ("generator", "discriminator")
    schedule: tuple[str, ...] = ("discriminator", "generator")
    adv: LeastSquares = LeastSquares()

    def domains(self, batch) -> tuple[Array, Array]:
        """(a, b) images of the batch: "invert": a = x[:B/2], b = inverted x[B/2:] (unpaired
        halves of the batch); "unpaired": a = x[..., :C], b = x[..., C:] of x [B, H, W, 2C]."""
        x = batch["x"]
        if self.domain_b == "unpaired":
            c = x.shape[-1] // 2
            return x[..., :c], x[..., c:]
        half = x.shape[0] // 2
        lo, hi = self.value_range
        return x[:half], lo + hi - x[half:2 * half]

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
        pool = {"a": empty, "b": empty, "real_a": empty[: a.shape[0]],
                "count_a": jnp.zeros((), jnp.int32), "count_b": jnp.zeros((), jnp.int32)}
        return {"generator": PlayerVariables(g["params"], {}),
                "discriminator": PlayerVariables(d["params"], {"pool": pool})}

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
            loss_a = self.adv.discriminator(self._d(params, a, "a"), self._d(params, fa, "a"))
            loss_b = self.adv.discriminator(self._d(params, b, "b"), self._d(params, fb, "b"))
            new = {"pool": {"a": pool_a, "b": pool_b, "count_a": n_a, "count_b": n_b,
                            "real_a": a[: pool["real_a"].shape[0]]}}
            loss = jnp.concatenate([loss_a, loss_b])
            return LossOutput(loss, {"d_a": loss_a, "d_b": loss_b}, {"discriminator": new})
        l1 = lambda u, v: jnp.mean(jnp.abs(u - v).reshape(u.shape[0], -1), axis=-1)  # noqa: E731
        adv_ab = self.adv.generator(self._d(params, fake_b, "b"), None)
        adv_ba = self.adv.generator(self._d(params, fake_a, "a"), None)
        cyc_a = l1(self._g(params, fake_b, "ba"), a)
        cyc_b = l1(self._g(params, fake_a, "ab"), b)
        id_a, id_b = l1(self._g(params, a, "ba"), a), l1(self._g(params, b, "ab"), b)
        loss = jnp.concatenate([adv_ab + self.lambda_cyc * cyc_a + self.lambda_id * id_a,
                                adv_ba + self.lambda_cyc * cyc_b + self.lambda_id * id_b])
        metrics = {"adv_ab": adv_ab, "adv_ba": adv_ba, "cycle": jnp.concatenate([cyc_a, cyc_b]),
                   "identity": jnp.concatenate([id_a, id_b])}
        return LossOutput(loss, metrics, {})

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


@register("cyclegan")
def make(cfg: Any, metadata: Any) -> CycleGAN:
    check_fields(cfg, set(FIELDS), "cyclegan")
    c = {k: cfg.get(k, v) for k, v in FIELDS.items()}
    if metadata.kind != "image":
        raise ValueError(f"objective cyclegan needs images; {metadata.name} has {metadata.kind}")
    if c["domain_b"] not in DOMAINS:
        raise ValueError(f"config.objective.domain_b={c['domain_b']!r}; choose one of {DOMAINS}")
    unpaired = str(metadata.name).startswith("unpaired:")
    if (c["domain_b"] == "unpaired") != unpaired:
        raise ValueError(f"config.objective.domain_b={c['domain_b']!r} with data.source={metadata.name!r}: "
                         "domain_b='unpaired' goes with data.source='unpaired:SRC_A|SRC_B' (two datasets), "
                         "domain_b='invert' with a single dataset")
    ch, nb, dch, dl = int(c["ch"]), int(c["n_blocks"]), int(c["d_ch"]), int(c["d_layers"])
    return CycleGAN(
        generator=Pair(lambda: ResnetGenerator(ch, nb), ("ab", "ba")),
        discriminator=Pair(lambda: PatchDiscriminator(dch, dl), ("a", "b")),
        value_range=tuple(float(v) for v in metadata.value_range),
        lambda_cyc=float(c["lambda_cyc"]), lambda_id=float(c["lambda_id"]),
        pool_size=int(c["pool_size"]), domain_b=c["domain_b"],
    )
