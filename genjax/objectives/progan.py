"""ProGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation"): the GAN objective (`genjax.objectives.gan.GAN`) with growing networks, trained
through a plan of one stage per resolution.

Training runs through stages 0..n at resolutions s, 2s, ..., the image size (see
`genjax.nn.progan`). Stage 0 lasts `stable_steps`; every later stage fades in for `fade_steps`
(alpha 0 -> 1), then stabilises for `stable_steps`; the final stage lasts to the end of training:

    start_0 = 0,   start_k = stable_steps + (k - 1) (fade_steps + stable_steps)   (k >= 1)
    alpha_k(step) = clip((step - start_k) / fade_steps, 0, 1)   (k >= 1;  alpha_0 = 1)

`ProGANNetworks` at a static `stage` are the GAN's networks: alpha is computed inside the
compiled step from its traced `step`, so a stage compiles once and a resumed run continues with
the right alpha. Real images are average-pooled to the stage's resolution and, during a
fade-in, blended like the generator's output (appendix A.1):

    x_k = down^{n-k}(x),   real = (1 - alpha) * up(down(x_k)) + alpha * x_k

The paper's loss (sec. 6, appendix A.1) is WGAN-GP with a drift term keeping D(x) near 0, the
GAN terms `DiscriminatorLoss`, `GradientPenalty`, `Drift` and `GeneratorLoss`:

    L_D = D(G(z)) - D(x) + gp_weight * (||grad D(x_hat)|| - gp_target)^2 + drift * D(x)^2
    L_G = -D(G(z))

(`loss` may name any loss of `genjax.losses.gan`). The generator's state `progress` holds the
number of train steps done (like the reference code's `lod` variable), so `sample` draws at the
alpha of the next step; samples are upsampled (nearest) to the dataset's image size.

`ProGAN.plan(batch_size)` is the `TrainingPlan` (`genjax.objectives.base`): per stage its steps,
its objective (`at_stage(k)`), batch size, learning-rate factors and optimizer resets, from the
per-resolution settings of the reference code (tkarras/progressive_growing_of_gans, train.py,
TrainingSchedule), keyed by a stage's resolution as a string, e.g. {"4": 128, "32": 64} (int keys
work from Python; `--config.objective.batch_sizes.32=64` sets one entry and
`--config.objective.batch_sizes='{"32": 64}'` replaces the whole mapping). The values of a
resolution apply to its whole stage, from the first step of its fade-in, as in the reference:

    batch_sizes    {res: global batch}   minibatch_dict; unset resolutions use data.batch_size
                                         (minibatch_base).
    lr_scales      {res: factor}, or {"generator": {res: factor}, "discriminator": {...}}:
                   multiplies the player's optimizer updates, i.e. its learning rate
                   (config.optim.lr / optim.players.<p>.lr with its schedule), at that stage:
                   G_lrate_dict[res] = lr * factor. Unset: 1.
    reset_optimizer  reset_opt_for_new_lod (default true): every optimizer state restarts
                   (`tx.init`) when the reference's floor(lod) or ceil(lod) changes: before the
                   first step of each stage k >= 1 (its fade-in, at alpha 0; the reference's floor
                   moves one minibatch later, at alpha > 0) and before the first step at alpha = 1
                   (the lod is an integer again). Not on resuming in between.

The training loop reads only `plan()`; the methods it is built from (`stage_at`, `at_stage`,
`stage_start`, `lr_scale`, `reset_optimizer_at`) stay public for tests and inspection.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar

import jax
import jax.numpy as jnp

from genjax.losses.gan import GAN_LOSSES, get_gan_loss
from genjax.losses.terms import DiscriminatorLoss, Drift, GeneratorLoss, GradientPenalty
from genjax.nn.gan_layers import avg_pool, upsample_nearest
from genjax.nn.progan import ProGANDiscriminator, ProGANGenerator, fade, num_stages
from genjax.objectives import register
from genjax.objectives.base import Stage, TrainingPlan
from genjax.objectives.gan import GAN, Streams
from genjax.objectives.hparams import from_config, hparam, module_kwargs

Array = jax.Array
PROGRESS = "progress"
# The keys of the original ProGAN objective: D splits its key into (z, terms), G and sample use
# theirs for z.
STREAMS = Streams(discriminator=("z", "terms"), generator=("z",), sample=("z",))


@dataclasses.dataclass(frozen=True)
class Growth:
    """The growth schedule: stages 0..final_stage (see the module docstring)."""

    final_stage: int
    fade_steps: int = 50_000
    stable_steps: int = 50_000

    def start(self, k: int) -> int:
        """First train step of stage k."""
        return 0 if k == 0 else self.stable_steps + (k - 1) * (self.fade_steps + self.stable_steps)

    def stage_at(self, step: int) -> int:
        """The stage that trains at (0-based) train step `step`."""
        k = 0
        while k < self.final_stage and step >= self.start(k + 1):
            k += 1
        return k


@dataclasses.dataclass(frozen=True)
class ProGANNetworks:
    """The growing G(z) and D(x) at a static stage, as `genjax.objectives.gan.Networks`."""

    generator: ProGANGenerator
    discriminator: ProGANDiscriminator
    growth: Growth
    stage: int = 0
    sample_options: ClassVar[tuple[str, ...]] = ()

    def at_stage(self, stage: int) -> ProGANNetworks:
        if not 0 <= stage <= self.growth.final_stage:
            raise ValueError(f"ProGAN stage {stage} out of range 0..{self.growth.final_stage}")
        return dataclasses.replace(self, stage=int(stage))

    def alpha(self, step: Array | int) -> Array:
        """Fade-in coefficient of this stage at train step `step` (traced), float32 []."""
        if self.stage == 0 or self.growth.fade_steps == 0:
            return jnp.ones((), jnp.float32)
        t = (jnp.asarray(step, jnp.int32) - self.growth.start(self.stage)).astype(jnp.float32)
        return jnp.clip(t / self.growth.fade_steps, 0.0, 1.0)

    def real_images(self, x: Array, alpha: Array) -> Array:
        """x [B, H, W, C] at the image size -> [B, r_k, r_k, C] at the stage's resolution, blended
        with its 2x coarser version while the stage fades in."""
        x_k = avg_pool(x, 2 ** (self.growth.final_stage - self.stage))
        return x_k if self.stage == 0 else fade(upsample_nearest(avg_pool(x_k)), x_k, alpha)

    def init(self, rng, z, x, y):
        """Every resolution's params (the networks are initialised at the final stage)."""
        k_g, k_d = jax.random.split(rng)
        g_params = self.generator.init(k_g, z, self.growth.final_stage)["params"]
        d_params = self.discriminator.init(k_d, x, self.growth.final_stage)["params"]
        return {"params": g_params, PROGRESS: {"step": jnp.zeros((), jnp.int32)}}, {"params": d_params}

    def real(self, x, step):
        return self.real_images(x, self.alpha(step))

    def generate(self, params, cols, z, y, rng, step, train):
        """G(z) and, in training, the progress after this step."""
        x = self.generator.apply({"params": params["generator"]}, z, self.stage, self.alpha(step))
        return x, {PROGRESS: {"step": jnp.asarray(step, jnp.int32) + 1}} if train else {}

    def discriminate(self, params, cols, x, y, step, train):
        return self.discriminator.apply({"params": params["discriminator"]}, x, self.stage, self.alpha(step)), {}

    def sample(self, params, cols, z, y, rng):
        """[N, H, W, C] at the alpha of the next train step, upsampled (nearest) from the stage's
        resolution to the image size."""
        x, _ = self.generate(params, cols, z, y, rng, cols[PROGRESS]["step"], False)
        return upsample_nearest(x, 2 ** (self.growth.final_stage - self.stage))

    def metrics(self, step):
        return {"alpha": self.alpha(step), "stage": jnp.float32(self.stage)}

    def style(self, params, cols):
        return None, None


@dataclasses.dataclass(frozen=True)
class ProGAN(GAN):
    """The GAN with `ProGANNetworks` and its training plan.

    batch_sizes: per stage, the global batch size (None: config.data.batch_size); () when none
    is set. lr_scales: per stage, (generator, discriminator) learning-rate factors; () when all
    are 1. reset_optimizer: restart the optimizers when a fade-in starts and when it ends."""

    batch_sizes: tuple[int | None, ...] = ()
    lr_scales: tuple[tuple[float, float], ...] = ()
    reset_optimizer: bool = True
    streams: Streams = STREAMS

    @property
    def stage(self) -> int:
        return self.nets.stage

    @property
    def final_stage(self) -> int:
        return self.nets.growth.final_stage

    def stage_start(self, k: int) -> int:
        """First train step of stage k."""
        return self.nets.growth.start(k)

    def stage_at(self, step: int) -> int:
        """The stage that trains at (0-based) train step `step`."""
        return self.nets.growth.stage_at(step)

    def at_stage(self, stage: int) -> ProGAN:
        """This objective at stage `stage` (static: one compiled train step per stage)."""
        return dataclasses.replace(self, nets=self.nets.at_stage(stage))

    def lr_scale(self, player: str) -> float:
        """Factor on `player`'s learning rate at this stage (`lr_scales`)."""
        return self.lr_scales[self.stage][self.players.index(player)] if self.lr_scales else 1.0

    def reset_optimizer_at(self, step: int) -> bool:
        """Whether every optimizer state restarts before train step `step`: the first step of a
        stage k >= 1 and its first step at alpha = 1 (see the module docstring)."""
        k = self.stage_at(step)
        if not self.reset_optimizer or k == 0:
            return False
        start = self.stage_start(k)
        return step == start or (self.nets.growth.fade_steps > 0 and step == start + self.nets.growth.fade_steps)

    def plan(self, batch_size: int) -> TrainingPlan:
        """One stage per resolution (the `Planned` capability): its steps, batch size (`batch_sizes`,
        else `batch_size`), learning-rate factors and optimizer resets."""
        stages = []
        for k in range(self.final_stage + 1):
            start = self.stage_start(k)
            end = self.stage_start(k + 1) if k < self.final_stage else None
            size = self.batch_sizes[k] if self.batch_sizes and self.batch_sizes[k] is not None else batch_size
            lr = dict(zip(self.players, self.lr_scales[k])) if self.lr_scales else {}
            resets = (
                tuple(s for s in (start, start + self.nets.growth.fade_steps) if self.reset_optimizer_at(s))
                if k
                else ()
            )
            stages.append(Stage(start, end, self.at_stage(k), size, lr, resets))
        return TrainingPlan(tuple(stages))


@dataclasses.dataclass(frozen=True)
class ProGANHParams:
    """`config.objective` of the "progan" family; the paper's schedule: 800k images per fade-in
    and per stabilisation at minibatch 16."""

    loss: str = hparam("wasserstein", choices=GAN_LOSSES)
    z_dim: int = hparam(512, ge=1)
    generator: dict[str, Any] = hparam({})  # channel_base, channel_max
    discriminator: dict[str, Any] = hparam({})  # channel_base, channel_max, mbstd_group
    n_critic: int = hparam(1, ge=1)
    gp_weight: float = hparam(10.0, ge=0)
    gp_target: float = 1.0
    drift: float = hparam(0.001, ge=0)
    fade_steps: int = hparam(50_000, ge=0)
    stable_steps: int = hparam(50_000, ge=1)
    batch_sizes: dict[str, Any] = hparam({})  # {resolution: global batch}
    lr_scales: dict[str, Any] = hparam({})  # {resolution: factor} or {player: {resolution: factor}}
    reset_optimizer: bool = True


@register("progan")
def make(cfg: Any, metadata: Any) -> ProGAN:
    """Builds the ProGAN objective (at stage 0) from `config.objective` (fields: `ProGANHParams`)."""
    hp = from_config(ProGANHParams, cfg, "progan")
    shape = tuple(metadata.shape)
    if metadata.kind != "image" or shape[0] != shape[1]:
        raise ValueError(
            f"objective 'progan' needs square images; {metadata.name} has {metadata.kind} of shape {shape}"
        )
    try:
        _, final_stage = num_stages(shape[0])
    except ValueError as e:
        raise ValueError(f"objective 'progan': {e}; set data.image_size (e.g. 32)") from None
    g_kw = module_kwargs(ProGANGenerator, hp.generator, "generator", frozenset({"out_shape"}))
    d_kw = module_kwargs(ProGANDiscriminator, hp.discriminator, "discriminator", frozenset({"in_shape"}))
    discriminator = ProGANDiscriminator(in_shape=shape, **d_kw)
    resolutions = tuple(shape[0] >> (final_stage - k) for k in range(final_stage + 1))
    batch_sizes = _per_stage(hp.batch_sizes, "batch_sizes", resolutions, _batch_size(discriminator.mbstd_group))
    nets = ProGANNetworks(
        ProGANGenerator(out_shape=shape, **g_kw), discriminator, Growth(final_stage, hp.fade_steps, hp.stable_steps)
    )
    loss = get_gan_loss(hp.loss)
    d_terms = (
        DiscriminatorLoss(loss=loss),
        *([GradientPenalty(weight=hp.gp_weight, target=hp.gp_target)] if hp.gp_weight > 0 else []),
        *([Drift(weight=hp.drift)] if hp.drift > 0 else []),
    )
    return ProGAN(
        nets,
        d_terms,
        (GeneratorLoss(loss=loss),),
        z_dim=hp.z_dim,
        n_critic=hp.n_critic,
        batch_sizes=batch_sizes if any(b is not None for b in batch_sizes) else (),
        lr_scales=_lr_scales(hp.lr_scales, resolutions),
        reset_optimizer=hp.reset_optimizer,
    )


def _per_stage(
    mapping: Any, field: str, resolutions: tuple[int, ...], check: Callable[[Any, str], Any], hint: str = ""
) -> tuple[Any, ...]:
    """{resolution (str or int): value} -> one checked value per stage (None where unset)."""
    if not hasattr(mapping, "items"):  # a dict or ConfigDict
        raise ValueError(
            f"config.objective.{field} must map stage resolutions to values, e.g. "
            f"{{'{resolutions[0]}': ...}}; got {mapping!r}"
        )
    out: list[Any] = [None] * len(resolutions)
    for key, value in mapping.items():
        res = int(key) if isinstance(key, (int, str)) and str(key).isdigit() else None
        if res not in resolutions:
            raise ValueError(
                f"config.objective.{field} has key {key!r}, which is not a stage resolution; "
                f"the stages train at {', '.join(map(str, resolutions))}{hint}"
            )
        out[resolutions.index(res)] = check(value, f"config.objective.{field}['{res}']")
    return tuple(out)


def _batch_size(mbstd_group: int) -> Callable[[Any, str], int]:
    def check(value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int (a global batch size), got {value!r}")
        if mbstd_group > 0 and value % min(mbstd_group, value):
            raise ValueError(
                f"{name}={value} is not divisible by the minibatch-std group size "
                f"{mbstd_group} (config.objective.discriminator.mbstd_group)"
            )
        return value

    return check


def _lr_scale(value: Any, name: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number (a learning-rate factor), got {value!r}")
    return float(value)


def _lr_scales(mapping: Any, resolutions: tuple[int, ...]) -> tuple[tuple[float, float], ...]:
    """Shared {res: factor} or {player: {res: factor}} -> per stage (generator, discriminator)."""
    players = ("generator", "discriminator")
    keys = set(mapping.keys()) if hasattr(mapping, "keys") else set()
    if keys & set(players):
        if keys - set(players):
            raise ValueError(
                f"config.objective.lr_scales mixes player names and resolutions {sorted(map(str, keys))}; "
                f"use either {{res: factor}} or {{player: {{res: factor}}}} with players {players}"
            )
        per = [_per_stage(mapping.get(p, {}), f"lr_scales.{p}", resolutions, _lr_scale) for p in players]
    else:
        hint = f" (or name a player: {', '.join(players)})"
        per = [_per_stage(mapping, "lr_scales", resolutions, _lr_scale, hint)] * 2
    scales = tuple((1.0 if g is None else g, 1.0 if d is None else d) for g, d in zip(*per))
    return scales if any(s != (1.0, 1.0) for s in scales) else ()
