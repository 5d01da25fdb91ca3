"""Generative adversarial networks (Goodfellow et al. 2014) as a two-player objective.

Players "generator" (G) and "discriminator" (D). One compiled train step runs `n_critic`
discriminator updates, then one generator update (WGAN's schedule, Arjovsky et al. 2017).

    L_D = loss.discriminator(D(pack(A(x))), D(pack(A(G(z)))))
          + gp_weight * (||grad D(x_hat)|| - gp_target)^2                       (WGAN-GP)
          + r1_gamma / 2 * ||grad D(x)||^2 + r2_gamma / 2 * ||grad D(G(z))||^2  (R1 / R2, lazy)
    L_G = loss.generator(D(pack(A(G(z)))), D(pack(A(x))))
          + pl_weight * (||J_w^T y|| - a)^2                                     (path length, lazy)

With `topk_gamma` < 1 the generator's adversarial term comes from the top k of its (packed)
samples by D's score only, k / B = max(topk_gamma^floor(step / topk_every), topk_min) (top-k
training, Sinha et al. 2020).

A is DiffAugment (Zhao et al. 2020) when `diffaugment` names a policy; `pack` concatenates m
samples for the discriminator (PacGAN, Lin et al. 2018). Lazy terms run every `r1_every` /
`pl_every` steps, scaled by that interval (Karras et al. 2020). Separate learning rates (TTUR,
Heusel et al. 2017) come from `config.optim.players.<player>`; the generator EMA from
`config.train.ema_decays`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.losses import regularizers as reg
from genjax.losses.diffaugment import POLICIES, diff_augment
from genjax.losses.gan import RelativisticAverage, get_gan_loss, top_k_fraction, top_k_weights
from genjax.nn.dcgan import DCGANDiscriminator, DCGANGenerator
from genjax.nn.mlp_gan import MLPDiscriminator, MLPGenerator
from genjax.nn.sngan import SNGANDiscriminator, SNGANGenerator
from genjax.nn.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from genjax.objectives import check_fields, register
from genjax.objectives.base import LossOutput, PlayerVariables

Array = jax.Array
ARCHITECTURES = {
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "sngan": (SNGANGenerator, SNGANDiscriminator),
    "stylegan2": (StyleGAN2Generator, StyleGAN2Discriminator),
}
FIELDS = dict(
    loss="non_saturating", arch="mlp", z_dim=64, generator={}, discriminator={}, n_critic=1,
    pack=1, gp_weight=0.0, gp_target=1.0, r1_gamma=0.0, r2_gamma=0.0, r1_every=1,
    pl_weight=0.0, pl_every=4, pl_decay=0.01, diffaugment="", mixing_prob=0.0, conditional=False,
    rescale="none", topk_gamma=1.0, topk_min=0.5, topk_every=1000,
)
PL_COLLECTION = "path_length"


def pack(x: Array, m: int) -> Array:
    """PacGAN packing: [B, ...] -> [B/m, ...] with consecutive groups of m samples concatenated
    along the last (feature or channel) axis."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"objective.pack={m} must divide the batch size {x.shape[0]}")
    g = x.reshape(x.shape[0] // m, m, *x.shape[1:])
    return jnp.moveaxis(g, 1, -2).reshape(x.shape[0] // m, *x.shape[1:-1], m * x.shape[-1])


@dataclasses.dataclass(frozen=True)
class GAN:
    generator: nn.Module
    discriminator: nn.Module
    loss_fn: Any
    z_dim: int = 64
    n_critic: int = 1
    pack: int = 1
    gp_weight: float = 0.0
    gp_target: float = 1.0
    r1_gamma: float = 0.0
    r2_gamma: float = 0.0
    r1_every: int = 1
    pl_weight: float = 0.0
    pl_every: int = 4
    pl_decay: float = 0.01
    diffaugment: tuple[str, ...] = ()
    mixing_prob: float = 0.0
    topk_gamma: float = 1.0
    topk_min: float = 0.5
    topk_every: int = 1000
    conditional: bool = False
    num_classes: int | None = None
    # Affine map of the data to what the networks see, x_net = (x - shift) / scale (see
    # `rescale_affine`); samples are mapped back.
    shift: float = 0.0
    scale: float = 1.0
    players: tuple[str, ...] = ("generator", "discriminator")

    @property
    def schedule(self) -> tuple[str, ...]:
        return ("discriminator",) * self.n_critic + ("generator",)

    # ---- networks, used purely ------------------------------------------------------------
    def _labels(self, batch: Mapping[str, Array]) -> Array | None:
        return batch["y"] if self.conditional else None

    def generate(self, params, state, z, y, rng, train: bool) -> tuple[Array, dict]:
        """G(z, y) and G's updated collections (empty unless train)."""
        cols = {k: v for k, v in state.get("generator", {}).items() if k != PL_COLLECTION}
        kw = {"mixing_prob": self.mixing_prob} if isinstance(self.generator, StyleGAN2Generator) else {}
        out = self.generator.apply({"params": params["generator"], **cols}, z, y, train=train,
                                   rngs={"noise": rng}, mutable=list(cols) if train else False, **kw)
        return out if train else (out, {})

    def discriminate(self, params, state, x, y, train: bool, packed: bool = False) -> tuple[Array, dict]:
        """D(pack(x), y) [B/pack] and D's updated collections (empty unless train); `packed`
        says x is already packed."""
        cols = dict(state.get("discriminator", {}))
        xp = x if packed else pack(x, self.pack)
        out = self.discriminator.apply({"params": params["discriminator"], **cols}, xp, y,
                                       train=train, mutable=list(cols) if train else False)
        return out if train else (out, {})

    def _augment(self, x: Array, rng: Array) -> Array:
        return diff_augment(x, rng, self.diffaugment) if self.diffaugment else x

    # ---- protocol -------------------------------------------------------------------------
    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        x = batch["x"]
        y = self._labels(batch)
        k_g, k_d, k_n = jax.random.split(rng, 3)
        z = jnp.zeros((x.shape[0], self.z_dim), x.dtype)
        g_vars = self.generator.init({"params": k_g, "noise": k_n}, z, y, train=True)
        d_vars = self.discriminator.init(k_d, pack(x, self.pack), y, train=True)
        g_state = {k: v for k, v in g_vars.items() if k != "params"}
        if self.pl_weight > 0:
            g_state[PL_COLLECTION] = {"pl_mean": jnp.zeros((), jnp.float32)}
        d_state = {k: v for k, v in d_vars.items() if k != "params"}
        return {"generator": PlayerVariables(g_vars["params"], g_state),
                "discriminator": PlayerVariables(d_vars["params"], d_state)}

    def loss(self, player: str, params, state, batch, rng, step) -> LossOutput:
        if player == "discriminator":
            return self._d_loss(params, state, batch, rng, step)
        if player == "generator":
            return self._g_loss(params, state, batch, rng, step)
        raise ValueError(f"GAN has players {self.players}, got {player!r}")

    def _to_net(self, x: Array) -> Array:
        return x if (self.shift, self.scale) == (0.0, 1.0) else (x - self.shift) / self.scale

    def _d_loss(self, params, state, batch, rng, step) -> LossOutput:
        x, y = self._to_net(batch["x"]), self._labels(batch)
        b = x.shape[0]
        k_z, k_g, k_ar, k_af, k_gp = jax.random.split(rng, 5)
        z = jax.random.normal(k_z, (b, self.z_dim), x.dtype)
        fake = jax.lax.stop_gradient(self.generate(params, state, z, y, k_g, train=True)[0])
        real, fake = self._augment(x, k_ar), self._augment(fake, k_af)
        d_real, d_state = self.discriminate(params, state, real, y, train=True)
        d_fake, d_state = self.discriminate(params, {**state, "discriminator": d_state}, fake, y, True)
        loss = self.loss_fn.discriminator(d_real, d_fake)  # [B / pack]
        metrics = {"d_real": d_real, "d_fake": d_fake, "adv": loss}
        after = {**state, "discriminator": d_state}
        # Penalties differentiate w.r.t. the packed inputs the discriminator sees.
        d_fn = lambda v: self.discriminate(params, after, v, y, False, packed=True)[0]  # noqa: E731
        real_p, fake_p = pack(real, self.pack), pack(fake, self.pack)
        if self.gp_weight > 0:
            gp = reg.gradient_penalty(d_fn, real_p, fake_p, k_gp, self.gp_target)
            loss, metrics["gp"] = loss + self.gp_weight * gp, gp
        for name, gamma, data in (("r1", self.r1_gamma, real_p), ("r2", self.r2_gamma, fake_p)):
            if gamma > 0:
                pen = reg.lazy(lambda data=data: reg.r1_penalty(d_fn, data), step, self.r1_every,
                               data.shape[0])
                loss, metrics[name] = loss + 0.5 * gamma * pen, pen
        return LossOutput(self._unpack_loss(loss), metrics, {"discriminator": d_state})

    def _unpack_loss(self, loss: Array) -> Array:
        """[B / pack] -> [B]: each sample of a pack carries its pack's loss (same mean)."""
        return jnp.repeat(loss, self.pack) if self.pack > 1 else loss

    def _g_loss(self, params, state, batch, rng, step) -> LossOutput:
        x, y = self._to_net(batch["x"]), self._labels(batch)
        b = x.shape[0]
        k_z, k_g, k_af, k_ar, k_pl = jax.random.split(rng, 5)
        z = jax.random.normal(k_z, (b, self.z_dim), x.dtype)
        fake, g_state = self.generate(params, state, z, y, k_g, train=True)
        d_fake, _ = self.discriminate(params, state, self._augment(fake, k_af), y, train=True)
        d_real = None
        if isinstance(self.loss_fn, RelativisticAverage):
            d_real, _ = self.discriminate(params, state, self._augment(x, k_ar), y, train=True)
        adv = self.loss_fn.generator(d_fake, d_real)
        metrics = {"d_fake": d_fake}
        if self.topk_gamma < 1:
            metrics["topk_fraction"] = top_k_fraction(step, self.topk_gamma, self.topk_min, self.topk_every)
            adv = adv * top_k_weights(d_fake, metrics["topk_fraction"])
        loss = metrics["adv"] = self._unpack_loss(adv)
        new_state = dict(g_state)
        if self.pl_weight > 0:
            pl_mean = state["generator"][PL_COLLECTION]["pl_mean"]
            pen, pl_mean = self._path_length(params, state, z, y, k_pl, step, pl_mean)
            loss, metrics["path_length"] = loss + self.pl_weight * pen, pen
            new_state[PL_COLLECTION] = {"pl_mean": pl_mean}
        return LossOutput(loss, metrics, {"generator": new_state})

    def _path_length(self, params, state, z, y, rng, step, pl_mean):
        cols = {k: v for k, v in state["generator"].items() if k != PL_COLLECTION}
        variables = {"params": params["generator"], **cols}
        k_syn, k_y = jax.random.split(rng)
        ws = self.generator.apply(variables, z, y, False, method="map")
        g_fn = lambda w: self.generator.apply(variables, w, method="synthesize", rngs={"noise": k_syn})  # noqa: E731

        def compute():
            pen, new_mean, _ = reg.path_length_penalty(g_fn, ws, k_y, pl_mean.astype(ws.dtype), self.pl_decay)
            return self.pl_every * pen.astype(jnp.float32), new_mean.astype(jnp.float32)

        def skip():
            return jnp.zeros((z.shape[0],), jnp.float32), pl_mean.astype(jnp.float32)

        if self.pl_every <= 1:
            return compute()
        return jax.lax.cond(step % self.pl_every == 0, compute, skip)

    def sample(self, params, state, rng, num: int, labels: Array | None = None,
               truncation_psi: float = 1.0, label: int | None = None, jacobian_keep: float = 1.0,
               **kwargs: Any) -> Array:
        """`num` samples from G in eval mode; labels [num] default to 0, 1, ..., cycling the
        classes, and `label` gives every sample that class (`genjax sample --label`).

        `jacobian_keep` < 1 is Jacobian-based truncation (JBT; Tanielian et al. 2020, "Learning
        disconnected manifolds: a no GAN's land", sec. 4): ceil(num / jacobian_keep) latents are
        drawn and the `num` with the smallest ||dG(z)/dz||_F are kept, dropping the samples where
        the generator stretches its latent space to cross between disconnected modes."""
        if kwargs:
            raise ValueError(f"GAN.sample got unknown keyword(s) {sorted(kwargs)}; "
                             f"known: labels, label, truncation_psi, jacobian_keep")
        if not 0 < jacobian_keep <= 1:
            raise ValueError(f"jacobian_keep={jacobian_keep} must lie in (0, 1] (1 keeps every sample)")
        if jacobian_keep < 1 and self.conditional:
            raise ValueError("jacobian_keep < 1 needs an unconditional GAN (it would change the labels' mix)")
        if label is not None and (not self.conditional or labels is not None):
            raise ValueError("label= needs a class-conditional GAN and no labels= array")
        if label is not None and not 0 <= int(label) < self.num_classes:
            raise ValueError(f"label={label} is outside [0, {self.num_classes})")
        k_z, k_n = jax.random.split(rng)
        z = jax.random.normal(k_z, (math.ceil(num / jacobian_keep), self.z_dim))
        y = None
        if self.conditional:
            if label is not None:
                labels = jnp.full((num,), int(label), jnp.int32)
            y = jnp.arange(num) % self.num_classes if labels is None else jnp.asarray(labels)
        cols = {k: v for k, v in state.get("generator", {}).items() if k != PL_COLLECTION}
        kw = {"truncation_psi": truncation_psi} if isinstance(self.generator, StyleGAN2Generator) else {}
        g = lambda z: self.generator.apply({"params": params["generator"], **cols}, z, y, train=False,  # noqa: E731
                                           rngs={"noise": k_n}, **kw)
        x = g(z)
        if jacobian_keep < 1:
            x = x[jnp.sort(jnp.argsort(jacobian_norms(g, z))[:num])]
        return x * self.scale + self.shift


def jacobian_norms(g: Callable[[Array], Array], z: Array) -> Array:
    """||dg(z)_i / dz_i||_F per sample, exactly, for g mapping latents z [N, Z] to samples
    [N, ...] independently (eval mode): sum_k ||J_i e_k||^2, g linearised once and its linear
    map applied to each latent axis k. -> [N]"""
    _, jvp = jax.linearize(g, z)

    def add(total, k):
        column = jvp(jnp.zeros_like(z).at[:, k].set(1.0))
        return total + jnp.sum(column.reshape(z.shape[0], -1).astype(jnp.float32) ** 2, axis=1), None

    return jnp.sqrt(jax.lax.scan(add, jnp.zeros(z.shape[0], jnp.float32), jnp.arange(z.shape[1]))[0])


def _module_kwargs(cls: type, kwargs: Mapping[str, Any], section: str) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(cls)} - {"parent", "name", "out_shape", "num_classes"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"config.objective.{section} has unknown field(s) {unknown} for "
                         f"{cls.__name__}; known: {sorted(known)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


RESCALE = ("none", "range", "std")


def rescale_affine(rescale: str | bool, metadata: Any) -> tuple[float, float]:
    """(shift, scale) of x_net = (x - shift) / scale for `config.objective.rescale`, which lets
    points of any scale reach the networks at one scale:

      "none"  (or False): x as it is.
      "range" (or True):  the data's value_range (bounding box) onto [-1, 1].
      "std":              zero mean and unit variance, with the mean and the root mean square of
                          the per-axis stds over all coordinates (metadata.point_moments), so that
                          distances stay isotropic.
    """
    name = {False: "none", True: "range"}.get(rescale, rescale)
    if name not in RESCALE:
        raise ValueError(f"config.objective.rescale={rescale!r}; choose one of {RESCALE}")
    if name == "range":
        lo, hi = (float(v) for v in metadata.value_range)
        return (lo + hi) / 2, (hi - lo) / 2
    if name == "std":
        moments = getattr(metadata, "point_moments", None)
        if moments is None or not moments[1] > 0:
            raise ValueError(f"config.objective.rescale='std' needs the mean and std of points data; {metadata.name} "
                             f"has {moments!r} ({metadata.kind}): use rescale='range' or 'none'")
        return float(moments[0]), float(moments[1])
    return 0.0, 1.0


@register("gan")
def make(cfg: Any, metadata: Any) -> GAN:
    """Builds the GAN objective from `config.objective` (fields: see FIELDS) and the data."""
    check_fields(cfg, set(FIELDS), "gan")
    c = {k: cfg.get(k, v) for k, v in FIELDS.items()}
    if c["arch"] not in ARCHITECTURES:
        raise ValueError(f"config.objective.arch={c['arch']!r}; choose one of {sorted(ARCHITECTURES)}")
    if c["arch"] != "mlp" and metadata.kind != "image":
        raise ValueError(f"config.objective.arch={c['arch']!r} needs images; {metadata.name} has "
                         f"{metadata.kind}: use arch='mlp'")
    if not (0 < c["topk_gamma"] <= 1 and 0 < c["topk_min"] <= 1):
        raise ValueError(f"config.objective.topk_gamma={c['topk_gamma']} and topk_min={c['topk_min']} must lie "
                         "in (0, 1] (topk_gamma=1 turns top-k training off)")
    for field in ("n_critic", "pack", "r1_every", "pl_every", "z_dim", "topk_every"):
        if int(c[field]) < 1:
            raise ValueError(f"config.objective.{field} must be >= 1, got {c[field]}")
    policy = tuple(p.strip() for p in c["diffaugment"].split(",") if p.strip())
    if set(policy) - set(POLICIES):
        raise ValueError(f"config.objective.diffaugment={c['diffaugment']!r}: use a comma-separated "
                         f"subset of {POLICIES}")
    if policy and metadata.kind != "image":
        raise ValueError("config.objective.diffaugment applies to images only; set it to ''")
    stylegan = c["arch"] == "stylegan2"
    if not stylegan and (c["pl_weight"] > 0 or c["mixing_prob"] > 0):
        raise ValueError("config.objective.pl_weight and mixing_prob need arch='stylegan2'")
    num_classes = None
    if c["conditional"]:
        if not metadata.num_classes:
            raise ValueError(f"config.objective.conditional=True but {metadata.name} has no labels")
        if c["pack"] > 1:
            raise ValueError("config.objective.pack > 1 (PacGAN) cannot be combined with conditional=True")
        num_classes = metadata.num_classes
    shift, scale = rescale_affine(c["rescale"], metadata)
    g_cls, d_cls = ARCHITECTURES[c["arch"]]
    g_kw = _module_kwargs(g_cls, dict(c["generator"]), "generator")
    d_kw = _module_kwargs(d_cls, dict(c["discriminator"]), "discriminator")
    return GAN(
        generator=g_cls(out_shape=tuple(metadata.shape), num_classes=num_classes, **g_kw),
        discriminator=d_cls(num_classes=num_classes, **d_kw),
        loss_fn=get_gan_loss(c["loss"]),
        z_dim=int(c["z_dim"]), n_critic=int(c["n_critic"]), pack=int(c["pack"]),
        gp_weight=float(c["gp_weight"]), gp_target=float(c["gp_target"]),
        r1_gamma=float(c["r1_gamma"]), r2_gamma=float(c["r2_gamma"]), r1_every=int(c["r1_every"]),
        pl_weight=float(c["pl_weight"]), pl_every=int(c["pl_every"]), pl_decay=float(c["pl_decay"]),
        diffaugment=policy, mixing_prob=float(c["mixing_prob"]), topk_gamma=float(c["topk_gamma"]),
        topk_min=float(c["topk_min"]), topk_every=int(c["topk_every"]), conditional=bool(c["conditional"]),
        num_classes=num_classes,
        shift=shift, scale=scale,
    )
