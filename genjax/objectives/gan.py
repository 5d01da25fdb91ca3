"""Generative adversarial networks (Goodfellow et al. 2014) as a two-player objective.

Players "generator" (G) and "discriminator" (D). One compiled train step runs `n_critic`
discriminator updates, then one generator update (WGAN's schedule, Arjovsky et al. 2017). Each
player's loss is a list of weighted terms (`genjax.losses.terms`), added in order:

    L_D = sum_t w_t v_t(D(T(x)), D(T(G(z))), ...)   e.g. the adversarial loss, WGAN-GP, R1, R2, drift
    L_G = sum_t w_t v_t(D(T(G(z))), ...)            e.g. the adversarial loss (top-k), path length

With K = `num_discriminators` > 1 (Durugkar et al. 2017, "Generative Multi-Adversarial
Networks"), D is an ensemble of K discriminators D_k and each player's loss weighs the losses
against each: L = sum_k w_k L(D_k), w_k = 1/K ("mean") or w = one-hot of a k drawn uniformly in
each loss evaluation ("random"; the D update then trains only D_k).

where T is D's tuple of input transforms (`genjax.losses.transforms`: DiffAugment, Zhao et al.
2020; PacGAN packing, Lin et al. 2018) with fresh draws for the real and the generated batch.
The networks (`Networks`, in `genjax.objectives.gan_networks`) decide how G and D are called:
`GANNetworks` for the architectures of `ARCHITECTURES` (StyleGAN2 is one of them),
`genjax.objectives.progan.ProGANNetworks` for progressive growing. Separate learning rates (TTUR, Heusel et al. 2017) come from
`config.optim.players.<player>`; the generator EMA from `config.train.ema_decays`.

Randomness: each loss (and sample) call splits its key into the named keys of `streams`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from genjax.losses.diffaugment import POLICIES
from genjax.losses.gan import GAN_LOSSES, TopK, get_gan_loss
from genjax.losses.terms import (
    DiscriminatorLoss,
    GeneratorLoss,
    GradientPenalty,
    PathLength,
    R1,
    R2,
    Term,
    TermInputs,
    apply_terms,
)
from genjax.losses.transforms import DiffAugment, Pack
from genjax.objectives import register
from genjax.objectives.base import LossOutput, PlayerVariables
from genjax.objectives.gan_networks import ARCHITECTURES, DiscriminatorEnsemble, GANNetworks, Networks
from genjax.objectives.hparams import from_config, hparam, module_kwargs

Array = jax.Array
Transform = Callable[[Array, Array], Array]


class Streams(NamedTuple):
    """The keys each call splits from its key, by name and in order: the i-th name's key is
    split(rng, n)[i], a single name takes the key itself (`split_keys`). z: latents; noise: G's
    noise inputs; real, fake: D's input transforms on each batch; terms: the loss terms."""

    discriminator: tuple[str, ...] = ("z", "noise", "real", "fake", "terms")
    generator: tuple[str, ...] = ("z", "noise", "fake", "real", "terms")
    sample: tuple[str, ...] = ("z", "noise")


def split_keys(rng: Array, names: tuple[str, ...]) -> dict[str, Array]:
    """{name: key} for `names` (see `Streams`)."""
    if len(names) == 1:
        return {names[0]: rng}
    return dict(zip(names, jax.random.split(rng, len(names))))


@dataclasses.dataclass(frozen=True)
class GAN:
    """The GAN objective: networks, each player's terms, D's input transforms.

    Non-trainable state: a player's collections hold its networks' (batch statistics, ...) and
    its stateful terms' states under the terms' names (path length's `path_length`)."""

    nets: Networks
    d_terms: tuple[Term, ...]
    g_terms: tuple[Term, ...]
    z_dim: int = 64
    n_critic: int = 1
    d_inputs: tuple[Transform, ...] = ()
    conditional: bool = False
    num_classes: int | None = None
    # Affine map of the data to what the networks see, x_net = (x - shift) / scale (see
    # `rescale_affine`); samples are mapped back.
    shift: float = 0.0
    scale: float = 1.0
    streams: Streams = Streams()
    players: tuple[str, ...] = ("generator", "discriminator")
    # K discriminators (`DiscriminatorEnsemble`, outputs [K, N]) and how their losses combine.
    num_discriminators: int = 1
    discriminator_choice: str = "mean"

    @property
    def schedule(self) -> tuple[str, ...]:
        return ("discriminator",) * self.n_critic + ("generator",)

    def _to_net(self, x: Array) -> Array:
        return x if (self.shift, self.scale) == (0.0, 1.0) else (x - self.shift) / self.scale

    def _real(self, batch: Mapping[str, Array], step: Array) -> tuple[Array, Array | None]:
        """Real examples as the networks see them at `step`, and their labels (conditional)."""
        return self.nets.real(self._to_net(batch["x"]), step), batch["y"] if self.conditional else None

    def _d_input(self, x: Array, rng: Array | None) -> Array:
        for transform in self.d_inputs:
            x = transform(x, rng)
        return x

    def _apply_terms(self, terms, io: TermInputs, rng, terms_state, size: int) -> tuple[Array, dict, dict]:
        """`apply_terms`, or with K discriminators sum_k w_k apply_terms(terms of D_k) (the terms
        must be stateless then; their metrics are weighted alike)."""
        if self.num_discriminators == 1:
            return apply_terms(terms, io, rng, terms_state, size)
        w = self.discriminator_weights(rng)
        losses, metrics = [], []
        for k in range(self.num_discriminators):
            io_k = dataclasses.replace(
                io,
                d_fake=io.d_fake[k],
                d_real=None if io.d_real is None else io.d_real[k],
                critic=None if io.critic is None else (lambda v, k=k: io.critic(v)[k]),
            )
            loss_k, metrics_k, _ = apply_terms(terms, io_k, rng, terms_state, size)
            losses.append(loss_k)
            metrics.append(metrics_k)
        weigh = lambda *v: sum(w[k] * v_k for k, v_k in enumerate(v))  # noqa: E731
        return weigh(*losses), jax.tree.map(weigh, *metrics), {}

    def discriminator_weights(self, rng: Array) -> Array:
        """w [K]: 1/K each ("mean"), or the one-hot of a k drawn uniformly ("random") from a key
        folded out of the loss's `rng` (the loss's own streams stay as they are)."""
        k = self.num_discriminators
        if self.discriminator_choice == "mean":
            return jnp.full((k,), 1.0 / k)
        return jax.nn.one_hot(jax.random.randint(jax.random.fold_in(rng, k), (), 0, k), k)

    def _player_state(self, player: str, state) -> tuple[dict, dict]:
        """(the networks' collections, the terms' states) of `player`."""
        names = {t.name for t in (self.d_terms if player == "discriminator" else self.g_terms)}
        cols = state.get(player, {})
        return ({k: v for k, v in cols.items() if k not in names}, {k: v for k, v in cols.items() if k in names})

    def generator_variables(self, params, state) -> dict:
        """G's variables, {"params": ..., collection: ...}, to apply G's methods in eval mode (a
        style-based G's `map` and `synthesize`); G's outputs are in the networks' range (`shift`,
        `scale` map them to the data's)."""
        return {"params": params["generator"], **self._player_state("generator", state)[0]}

    # ---- protocol -------------------------------------------------------------------------
    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        x = batch["x"]
        z = jnp.zeros((x.shape[0], self.z_dim), x.dtype)
        y = batch["y"] if self.conditional else None
        out = {}
        for player, variables, terms in zip(
            ("generator", "discriminator"),
            self.nets.init(rng, z, self._d_input(x, rng), y),
            (self.g_terms, self.d_terms),
        ):
            states = {t.name: s for t in terms if (s := t.init_state())}
            cols = {k: v for k, v in variables.items() if k != "params"}
            out[player] = PlayerVariables(variables["params"], {**cols, **states})
        return out

    def loss(self, player: str, params, state, batch, rng, step) -> LossOutput:
        if player == "discriminator":
            return self._d_loss(params, state, batch, rng, step)
        if player == "generator":
            return self._g_loss(params, state, batch, rng, step)
        raise ValueError(f"GAN has players {self.players}, got {player!r}")

    def _d_loss(self, params, state, batch, rng, step) -> LossOutput:
        """D's terms; N = B / pack examples reach D."""
        k = split_keys(rng, self.streams.discriminator)
        real, y = self._real(batch, step)  # [B, ...], [B] or None
        g_cols, _ = self._player_state("generator", state)
        d_cols, d_terms_state = self._player_state("discriminator", state)
        z = jax.random.normal(k["z"], (real.shape[0], self.z_dim), real.dtype)
        fake = jax.lax.stop_gradient(self.nets.generate(params, g_cols, z, y, k.get("noise"), step, True)[0])
        real_in, fake_in = self._d_input(real, k.get("real")), self._d_input(fake, k.get("fake"))  # [N, ...]
        d_real, d_cols = self.nets.discriminate(params, d_cols, real_in, y, step, True)  # [N]
        d_fake, d_cols = self.nets.discriminate(params, d_cols, fake_in, y, step, True)
        critic = lambda v: self.nets.discriminate(params, d_cols, v, y, step, False)[0]  # noqa: E731
        io = TermInputs(step, d_fake=d_fake, d_real=d_real, real=real_in, fake=fake_in, critic=critic)
        loss, metrics, d_terms_state = self._apply_terms(self.d_terms, io, k.get("terms"), d_terms_state, real.shape[0])
        if self.num_discriminators > 1:
            d_real, d_fake = d_real.mean(0), d_fake.mean(0)
        return LossOutput(
            loss, {"d_real": d_real, "d_fake": d_fake, **metrics}, {"discriminator": {**d_cols, **d_terms_state}}
        )

    def _g_loss(self, params, state, batch, rng, step) -> LossOutput:
        k = split_keys(rng, self.streams.generator)
        real, y = self._real(batch, step)
        g_cols, g_terms_state = self._player_state("generator", state)
        d_cols, _ = self._player_state("discriminator", state)
        z = jax.random.normal(k["z"], (real.shape[0], self.z_dim), real.dtype)
        fake, new_cols = self.nets.generate(params, g_cols, z, y, k.get("noise"), step, True)  # [B, ...]
        d_fake, _ = self.nets.discriminate(params, d_cols, self._d_input(fake, k.get("fake")), y, step, True)
        d_real = None
        if any(t.needs_real for t in self.g_terms):
            d_real, _ = self.nets.discriminate(params, d_cols, self._d_input(real, k.get("real")), y, step, True)
        mapping, synthesis = self.nets.style(params, g_cols)
        io = TermInputs(step, d_fake=d_fake, d_real=d_real, latents=(z, y), mapping=mapping, synthesis=synthesis)
        loss, metrics, g_terms_state = self._apply_terms(self.g_terms, io, k.get("terms"), g_terms_state, real.shape[0])
        if self.num_discriminators > 1:
            d_fake = d_fake.mean(0)
        return LossOutput(
            loss, {"d_fake": d_fake, **metrics, **self.nets.metrics(step)}, {"generator": {**new_cols, **g_terms_state}}
        )

    def sample(
        self,
        params,
        state,
        rng,
        num: int,
        labels: Array | None = None,
        label: int | None = None,
        jacobian_keep: float = 1.0,
        **options: Any,
    ) -> Array:
        """`num` samples from G in eval mode; labels [num] default to 0, 1, ..., cycling the
        classes, and `label` gives every sample that class (`genjax sample --label`); `options`
        go to the networks (`truncation_psi` of StyleGAN2).

        `jacobian_keep` < 1 is Jacobian-based truncation (JBT; Tanielian et al. 2020, "Learning
        disconnected manifolds: a no GAN's land", sec. 4): ceil(num / jacobian_keep) latents are
        drawn and the `num` with the smallest ||dG(z)/dz||_F are kept, dropping the samples where
        the generator stretches its latent space to cross between disconnected modes."""
        unknown = sorted(set(options) - set(self.nets.sample_options))
        if unknown:
            raise ValueError(
                f"GAN.sample got unknown keyword(s) {unknown}; known: labels, label, "
                f"jacobian_keep{''.join(', ' + o for o in self.nets.sample_options)}"
            )
        if not 0 < jacobian_keep <= 1:
            raise ValueError(f"jacobian_keep={jacobian_keep} must lie in (0, 1] (1 keeps every sample)")
        if jacobian_keep < 1 and self.conditional:
            raise ValueError("jacobian_keep < 1 needs an unconditional GAN (it would change the labels' mix)")
        if label is not None and (not self.conditional or labels is not None):
            raise ValueError("label= needs a class-conditional GAN and no labels= array")
        if label is not None and not 0 <= int(label) < self.num_classes:
            raise ValueError(f"label={label} is outside [0, {self.num_classes})")
        k = split_keys(rng, self.streams.sample)
        z = jax.random.normal(k["z"], (math.ceil(num / jacobian_keep), self.z_dim))
        y = None
        if self.conditional:
            if label is not None:
                labels = jnp.full((num,), int(label), jnp.int32)
            y = jnp.arange(num) % self.num_classes if labels is None else jnp.asarray(labels)
        cols, _ = self._player_state("generator", state)
        g = lambda z: self.nets.sample(params, cols, z, y, k.get("noise"), **options)  # noqa: E731
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


# ---- the "gan" family: hyper-parameters, factory ---------------------------------------------
@dataclasses.dataclass(frozen=True)
class GANHParams:
    """`config.objective` of the "gan" family (docs/gans.md describes each field)."""

    loss: str = hparam("non_saturating", choices=GAN_LOSSES)
    arch: str = hparam("mlp", choices=ARCHITECTURES)
    z_dim: int = hparam(64, ge=1)
    generator: dict[str, Any] = hparam({})  # keyword arguments of the architecture's G
    discriminator: dict[str, Any] = hparam({})  # ... and of its D
    n_critic: int = hparam(1, ge=1)
    pack: int = hparam(1, ge=1)  # PacGAN: samples per discriminator input
    gp_weight: float = hparam(0.0, ge=0)
    gp_target: float = 1.0
    r1_gamma: float = hparam(0.0, ge=0)
    r2_gamma: float = hparam(0.0, ge=0)
    r1_every: int = hparam(1, ge=1)  # lazy interval of R1 and R2
    pl_weight: float = hparam(0.0, ge=0)
    pl_every: int = hparam(4, ge=1)
    pl_decay: float = hparam(0.01, ge=0, le=1)
    diffaugment: str = ""  # comma-separated DiffAugment policy, e.g. "color,translation,cutout"
    mixing_prob: float = hparam(0.0, ge=0, le=1)
    conditional: bool = False
    rescale: str | bool = hparam("none", choices=("none", "range", "std", False, True))
    topk_gamma: float = hparam(1.0, gt=0, le=1)  # 1: no top-k training
    topk_min: float = hparam(0.5, gt=0, le=1)
    topk_every: int = hparam(1000, ge=1)
    num_discriminators: int = hparam(1, ge=1)  # K: an ensemble of discriminators (GMAN)
    discriminator_choice: str = hparam("mean", choices=("mean", "random"))  # how their losses combine

    def __post_init__(self):
        if set(self.policy) - set(POLICIES):
            raise ValueError(
                f"config.objective.diffaugment={self.diffaugment!r}: use a comma-separated subset of {POLICIES}"
            )
        if not ARCHITECTURES[self.arch].style_based and (self.pl_weight > 0 or self.mixing_prob > 0):
            raise ValueError("config.objective.pl_weight and mixing_prob need a style-based arch ('stylegan2')")
        if self.conditional and self.pack > 1:
            raise ValueError("config.objective.pack > 1 (PacGAN) cannot be combined with conditional=True")
        if self.num_discriminators > 1 and self.pl_weight > 0:
            raise ValueError(
                "config.objective.num_discriminators > 1 repeats the generator's terms per discriminator; "
                "path length (pl_weight > 0) keeps a running state: set one of them back"
            )

    @property
    def policy(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.diffaugment.split(",") if p.strip())

    def terms(self) -> tuple[tuple[Term, ...], tuple[Term, ...]]:
        """(discriminator terms, generator terms) in the order they are added."""
        loss = get_gan_loss(self.loss)
        top_k = TopK(self.topk_gamma, self.topk_min, self.topk_every) if self.topk_gamma < 1 else None
        d_terms = [DiscriminatorLoss(loss=loss)]
        if self.gp_weight > 0:
            d_terms.append(GradientPenalty(weight=self.gp_weight, target=self.gp_target))
        if self.r1_gamma > 0:
            d_terms.append(R1(weight=0.5 * self.r1_gamma, every=self.r1_every))
        if self.r2_gamma > 0:
            d_terms.append(R2(weight=0.5 * self.r2_gamma, every=self.r1_every))
        g_terms = [GeneratorLoss(loss=loss, top_k=top_k)]
        if self.pl_weight > 0:
            g_terms.append(PathLength(weight=self.pl_weight, every=self.pl_every, decay=self.pl_decay))
        return tuple(d_terms), tuple(g_terms)


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
    if name == "range":
        lo, hi = (float(v) for v in metadata.value_range)
        return (lo + hi) / 2, (hi - lo) / 2
    if name == "std":
        moments = getattr(metadata, "point_moments", None)
        if moments is None or not moments[1] > 0:
            raise ValueError(
                f"config.objective.rescale='std' needs the mean and std of points data; {metadata.name} "
                f"has {moments!r} ({metadata.kind}): use rescale='range' or 'none'"
            )
        return float(moments[0]), float(moments[1])
    return 0.0, 1.0


@register("gan")
def make(cfg: Any, metadata: Any) -> GAN:
    """Builds the GAN objective from `config.objective` (fields: `GANHParams`) and the data."""
    hp = from_config(GANHParams, cfg, "gan")
    arch = ARCHITECTURES[hp.arch]
    if arch.images_only and metadata.kind != "image":
        raise ValueError(
            f"config.objective.arch={hp.arch!r} needs images; {metadata.name} has {metadata.kind}: use arch='mlp'"
        )
    if hp.policy and metadata.kind != "image":
        raise ValueError("config.objective.diffaugment applies to images only; set it to ''")
    if hp.conditional and not metadata.num_classes:
        raise ValueError(f"config.objective.conditional=True but {metadata.name} has no labels")
    num_classes = metadata.num_classes if hp.conditional else None
    shift, scale = rescale_affine(hp.rescale, metadata)
    reserved = frozenset({"out_shape", "num_classes"})
    g_kw = module_kwargs(arch.generator, hp.generator, "generator", reserved)
    d_kw = module_kwargs(arch.discriminator, hp.discriminator, "discriminator", reserved)
    discriminator = arch.discriminator(num_classes=num_classes, **d_kw)
    if hp.num_discriminators > 1:
        discriminator = DiscriminatorEnsemble(discriminator, hp.num_discriminators)
    nets = GANNetworks(
        arch.generator(out_shape=tuple(metadata.shape), num_classes=num_classes, **g_kw),
        discriminator,
        arch.style_based,
        hp.mixing_prob,
    )
    d_terms, g_terms = hp.terms()
    d_inputs = ((DiffAugment(hp.policy),) if hp.policy else ()) + ((Pack(hp.pack),) if hp.pack > 1 else ())
    return GAN(
        nets,
        d_terms,
        g_terms,
        z_dim=hp.z_dim,
        n_critic=hp.n_critic,
        d_inputs=d_inputs,
        conditional=hp.conditional,
        num_classes=num_classes,
        shift=shift,
        scale=scale,
        num_discriminators=hp.num_discriminators,
        discriminator_choice=hp.discriminator_choice,
    )
