"""ProGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation") as a progressive two-player objective.

Training runs through stages 0..n at resolutions s, 2s, ..., the image size (see
`genjax.nn.progan`). Stage 0 lasts `stable_steps`; every later stage fades in for `fade_steps`
(alpha 0 -> 1), then stabilises for `stable_steps`; the final stage lasts to the end of training:

    start_0 = 0,   start_k = stable_steps + (k - 1) (fade_steps + stable_steps)   (k >= 1)
    alpha_k(step) = clip((step - start_k) / fade_steps, 0, 1)   (k >= 1;  alpha_0 = 1)

A `ProGAN` has a static `stage`: `stage_at(step)` is the stage of a train step and
`at_stage(k)` the objective of stage k, so the training loop compiles one train step per stage
(the optional hook of `genjax.objectives.base`). alpha is computed inside the compiled step from
its traced `step`, so a stage compiles once and a resumed run continues with the right alpha.
Real images are average-pooled to the stage's resolution and, during a fade-in, blended like the
generator's output (appendix A.1):

    x_k = down^{n-k}(x),   real = (1 - alpha) * up(down(x_k)) + alpha * x_k

The paper's loss (sec. 6, appendix A.1) is WGAN-GP with a drift term keeping D(x) near 0:

    L_D = D(G(z)) - D(x) + gp_weight * (||grad D(x_hat)|| - gp_target)^2 + drift * D(x)^2
    L_G = -D(G(z))

(`loss` may name any loss of `genjax.losses.gan`). The generator's state `progress` holds the
number of train steps done (like the reference code's `lod` variable), so `sample` draws at the
alpha of the next step; samples are upsampled (nearest) to the dataset's image size.

Per-resolution settings of the reference code (tkarras/progressive_growing_of_gans, train.py,
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

The training loop reads them through the optional hooks of `genjax.objectives.base`
(`batch_sizes`, `lr_scale`, `reset_optimizer_at`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from genjax.losses import regularizers as reg
from genjax.losses.gan import RelativisticAverage, get_gan_loss
from genjax.nn.gan_layers import avg_pool, upsample_nearest
from genjax.nn.progan import ProGANDiscriminator, ProGANGenerator, fade, num_stages
from genjax.objectives import check_fields, register
from genjax.objectives.base import LossOutput, PlayerVariables, Stage, TrainingPlan
from genjax.objectives.gan import _module_kwargs

Array = jax.Array
# The paper's schedule: 800k images per fade-in and per stabilisation at minibatch 16.
FIELDS = dict(
    loss="wasserstein", z_dim=512, generator={}, discriminator={}, n_critic=1, gp_weight=10.0,
    gp_target=1.0, drift=0.001, fade_steps=50_000, stable_steps=50_000, batch_sizes={}, lr_scales={},
    reset_optimizer=True,
)
PROGRESS = "progress"


@dataclasses.dataclass(frozen=True)
class ProGAN:
    generator: ProGANGenerator
    discriminator: ProGANDiscriminator
    loss_fn: Any
    final_stage: int
    z_dim: int = 512
    n_critic: int = 1
    gp_weight: float = 10.0
    gp_target: float = 1.0
    drift: float = 0.001
    fade_steps: int = 50_000
    stable_steps: int = 50_000
    stage: int = 0
    # per stage: global batch size (None: config.data.batch_size); () when none is set
    batch_sizes: tuple[int | None, ...] = ()
    # per stage: (generator, discriminator) learning-rate factors; () when all are 1
    lr_scales: tuple[tuple[float, float], ...] = ()
    reset_optimizer: bool = True
    players: tuple[str, ...] = ("generator", "discriminator")

    @property
    def schedule(self) -> tuple[str, ...]:
        return ("discriminator",) * self.n_critic + ("generator",)

    # ---- the growth schedule --------------------------------------------------------------
    def stage_start(self, k: int) -> int:
        """First train step of stage k."""
        return 0 if k == 0 else self.stable_steps + (k - 1) * (self.fade_steps + self.stable_steps)

    def stage_at(self, step: int) -> int:
        """The stage that trains at (0-based) train step `step`."""
        k = 0
        while k < self.final_stage and step >= self.stage_start(k + 1):
            k += 1
        return k

    def at_stage(self, stage: int) -> ProGAN:
        """This objective at stage `stage` (static: one compiled train step per stage)."""
        if not 0 <= stage <= self.final_stage:
            raise ValueError(f"ProGAN stage {stage} out of range 0..{self.final_stage}")
        return dataclasses.replace(self, stage=int(stage))

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
        return step == start or (self.fade_steps > 0 and step == start + self.fade_steps)

    def plan(self, batch_size: int) -> TrainingPlan:
        """One stage per resolution (the `Planned` capability): its steps, batch size (`batch_sizes`,
        else `batch_size`), learning-rate factors and optimizer resets."""
        stages = []
        for k in range(self.final_stage + 1):
            start = self.stage_start(k)
            end = self.stage_start(k + 1) if k < self.final_stage else None
            size = self.batch_sizes[k] if self.batch_sizes and self.batch_sizes[k] is not None else batch_size
            lr = dict(zip(self.players, self.lr_scales[k])) if self.lr_scales else {}
            resets = tuple(s for s in (start, start + self.fade_steps) if self.reset_optimizer_at(s)) if k else ()
            stages.append(Stage(start, end, self.at_stage(k), size, lr, resets))
        return TrainingPlan(tuple(stages))

    def alpha(self, step: Array | int) -> Array:
        """Fade-in coefficient of this stage at train step `step` (traced), float32 []."""
        if self.stage == 0 or self.fade_steps == 0:
            return jnp.ones((), jnp.float32)
        t = (jnp.asarray(step, jnp.int32) - self.stage_start(self.stage)).astype(jnp.float32)
        return jnp.clip(t / self.fade_steps, 0.0, 1.0)

    def real_images(self, x: Array, alpha: Array) -> Array:
        """x [B, H, W, C] at the image size -> [B, r_k, r_k, C] at the stage's resolution, blended
        with its 2x coarser version while the stage fades in."""
        x_k = avg_pool(x, 2 ** (self.final_stage - self.stage))
        return x_k if self.stage == 0 else fade(upsample_nearest(avg_pool(x_k)), x_k, alpha)

    # ---- networks, used purely ------------------------------------------------------------
    def generate(self, params, z: Array, alpha: Array) -> Array:
        return self.generator.apply({"params": params["generator"]}, z, self.stage, alpha)

    def discriminate(self, params, x: Array, alpha: Array) -> Array:
        return self.discriminator.apply({"params": params["discriminator"]}, x, self.stage, alpha)

    # ---- protocol -------------------------------------------------------------------------
    def init(self, rng: Array, batch: Mapping[str, Array]) -> dict[str, PlayerVariables]:
        """Every resolution's params (the networks are initialised at the final stage)."""
        x = batch["x"]
        k_g, k_d = jax.random.split(rng)
        z = jnp.zeros((x.shape[0], self.z_dim), x.dtype)
        g_params = self.generator.init(k_g, z, self.final_stage)["params"]
        d_params = self.discriminator.init(k_d, x, self.final_stage)["params"]
        progress = {PROGRESS: {"step": jnp.zeros((), jnp.int32)}}
        return {"generator": PlayerVariables(g_params, progress),
                "discriminator": PlayerVariables(d_params, {})}

    def loss(self, player: str, params, state, batch, rng, step) -> LossOutput:
        if player == "discriminator":
            return self._d_loss(params, batch, rng, step)
        if player == "generator":
            return self._g_loss(params, batch, rng, step)
        raise ValueError(f"ProGAN has players {self.players}, got {player!r}")

    def _d_loss(self, params, batch, rng, step) -> LossOutput:
        alpha = self.alpha(step)
        real = self.real_images(batch["x"], alpha)
        k_z, k_gp = jax.random.split(rng)
        z = jax.random.normal(k_z, (real.shape[0], self.z_dim), real.dtype)
        fake = jax.lax.stop_gradient(self.generate(params, z, alpha))
        d_fn = lambda v: self.discriminate(params, v, alpha)  # noqa: E731
        d_real, d_fake = d_fn(real), d_fn(fake)
        loss = self.loss_fn.discriminator(d_real, d_fake)
        metrics = {"d_real": d_real, "d_fake": d_fake, "adv": loss}
        if self.gp_weight > 0:
            gp = reg.gradient_penalty(d_fn, real, fake, k_gp, self.gp_target)
            loss, metrics["gp"] = loss + self.gp_weight * gp, gp
        if self.drift > 0:
            drift = jnp.square(d_real)
            loss, metrics["drift"] = loss + self.drift * drift, drift
        return LossOutput(loss, metrics, {})

    def _g_loss(self, params, batch, rng, step) -> LossOutput:
        alpha = self.alpha(step)
        x = batch["x"]
        z = jax.random.normal(rng, (x.shape[0], self.z_dim), x.dtype)
        d_fake = self.discriminate(params, self.generate(params, z, alpha), alpha)
        d_real = None
        if isinstance(self.loss_fn, RelativisticAverage):
            d_real = self.discriminate(params, self.real_images(x, alpha), alpha)
        loss = self.loss_fn.generator(d_fake, d_real)
        metrics = {"d_fake": d_fake, "adv": loss, "alpha": alpha, "stage": jnp.float32(self.stage)}
        progress = {PROGRESS: {"step": jnp.asarray(step, jnp.int32) + 1}}
        return LossOutput(loss, metrics, {"generator": progress})

    def sample(self, params, state, rng, num: int, **kwargs: Any) -> Array:
        """`num` samples [num, H, W, C] of this stage at the alpha of the next train step,
        upsampled (nearest) from the stage's resolution to the image size."""
        if kwargs:
            raise ValueError(f"ProGAN.sample takes no keyword arguments, got {sorted(kwargs)}")
        alpha = self.alpha(state["generator"][PROGRESS]["step"])
        x = self.generate(params, jax.random.normal(rng, (num, self.z_dim)), alpha)
        return upsample_nearest(x, 2 ** (self.final_stage - self.stage))


@register("progan")
def make(cfg: Any, metadata: Any) -> ProGAN:
    """Builds the ProGAN objective (at stage 0) from `config.objective` (fields: see FIELDS)."""
    check_fields(cfg, set(FIELDS), "progan")
    c = {k: cfg.get(k, v) for k, v in FIELDS.items()}
    shape = tuple(metadata.shape)
    if metadata.kind != "image" or shape[0] != shape[1]:
        raise ValueError(f"objective 'progan' needs square images; {metadata.name} has {metadata.kind} "
                         f"of shape {shape}")
    try:
        _, final_stage = num_stages(shape[0])
    except ValueError as e:
        raise ValueError(f"objective 'progan': {e}; set data.image_size (e.g. 32)") from None
    for field in ("n_critic", "z_dim", "stable_steps"):
        if int(c[field]) < 1:
            raise ValueError(f"config.objective.{field} must be >= 1, got {c[field]}")
    for field in ("fade_steps", "gp_weight", "drift"):
        if c[field] < 0:
            raise ValueError(f"config.objective.{field} must be >= 0, got {c[field]}")
    if not isinstance(c["reset_optimizer"], bool):
        raise ValueError(f"config.objective.reset_optimizer must be true or false, got {c['reset_optimizer']!r}")
    g_kw = _module_kwargs(ProGANGenerator, dict(c["generator"]), "generator")
    d_kw = _module_kwargs(ProGANDiscriminator, dict(c["discriminator"]), "discriminator")
    if "in_shape" in d_kw:
        raise ValueError("config.objective.discriminator.in_shape comes from the data; remove it")
    discriminator = ProGANDiscriminator(in_shape=shape, **d_kw)
    resolutions = tuple(shape[0] >> (final_stage - k) for k in range(final_stage + 1))
    batch_sizes = _per_stage(c["batch_sizes"], "batch_sizes", resolutions, _batch_size(discriminator.mbstd_group))
    return ProGAN(
        generator=ProGANGenerator(out_shape=shape, **g_kw), discriminator=discriminator,
        loss_fn=get_gan_loss(c["loss"]), final_stage=final_stage, z_dim=int(c["z_dim"]),
        n_critic=int(c["n_critic"]), gp_weight=float(c["gp_weight"]), gp_target=float(c["gp_target"]),
        drift=float(c["drift"]), fade_steps=int(c["fade_steps"]), stable_steps=int(c["stable_steps"]),
        batch_sizes=batch_sizes if any(b is not None for b in batch_sizes) else (),
        lr_scales=_lr_scales(c["lr_scales"], resolutions), reset_optimizer=c["reset_optimizer"],
    )


def _per_stage(mapping: Any, field: str, resolutions: tuple[int, ...],
               check: Callable[[Any, str], Any], hint: str = "") -> tuple[Any, ...]:
    """{resolution (str or int): value} -> one checked value per stage (None where unset)."""
    if not hasattr(mapping, "items"):  # a dict or ConfigDict
        raise ValueError(f"config.objective.{field} must map stage resolutions to values, e.g. "
                         f"{{'{resolutions[0]}': ...}}; got {mapping!r}")
    out: list[Any] = [None] * len(resolutions)
    for key, value in mapping.items():
        res = int(key) if isinstance(key, (int, str)) and str(key).isdigit() else None
        if res not in resolutions:
            raise ValueError(f"config.objective.{field} has key {key!r}, which is not a stage resolution; "
                             f"the stages train at {', '.join(map(str, resolutions))}{hint}")
        out[resolutions.index(res)] = check(value, f"config.objective.{field}['{res}']")
    return tuple(out)


def _batch_size(mbstd_group: int) -> Callable[[Any, str], int]:
    def check(value: Any, name: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int (a global batch size), got {value!r}")
        if mbstd_group > 0 and value % min(mbstd_group, value):
            raise ValueError(f"{name}={value} is not divisible by the minibatch-std group size "
                             f"{mbstd_group} (config.objective.discriminator.mbstd_group)")
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
            raise ValueError(f"config.objective.lr_scales mixes player names and resolutions {sorted(map(str, keys))}; "
                             f"use either {{res: factor}} or {{player: {{res: factor}}}} with players {players}")
        per = [_per_stage(mapping.get(p, {}), f"lr_scales.{p}", resolutions, _lr_scale) for p in players]
    else:
        hint = f" (or name a player: {', '.join(players)})"
        per = [_per_stage(mapping, "lr_scales", resolutions, _lr_scale, hint)] * 2
    scales = tuple((1.0 if g is None else g, 1.0 if d is None else d) for g, d in zip(*per))
    return scales if any(s != (1.0, 1.0) for s in scales) else ()
