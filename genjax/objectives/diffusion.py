"""Diffusion models as one objective: DDPM, DDIM, Improved DDPM, score-SDE (VP/VE), EDM and
DPM-Solver++ share the denoising loss and differ in process, parameterization, weighting and
sampler (see genjax/diffusion). Optionally class-conditional with classifier-free guidance, and
optionally latent: the data are encoded by a trained autoencoder run and decoded after sampling
(Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models").

config.objective fields:
  process         ddpm | vp | ve | edm, and that process's fields (schedule, num_steps, beta_start,
                  beta_end, beta_min, beta_max, sigma_min, sigma_max, rho, p_mean, p_std, eps_train,
                  eps_sample); `DiffusionHParams` declares every field with its type and range
  parameterization eps | x0 | v | edm;  weighting none | min_snr | edm;  min_snr_gamma; sigma_data
  backbone        unet | dit | mlp | diffwave;  net: the backbone's fields (ch, ch_mult, ...);
                  default: unet for images, diffwave for audio [T, 1], mlp for vectors
  p_uncond        label dropout for classifier-free guidance (class-conditional when the dataset
                  has labels and p_uncond > 0 or conditional=True)
  sampler, sample_steps, eta, guidance_scale: sampling defaults (Objective.sample kwargs override)
  latent_scale    latent diffusion (config.components.autoencoder names a trained autoencoder
                  run, e.g. a VAE): the diffused variable is latent_scale * its posterior mean
  likelihood_t_min, likelihood_rtol, likelihood_atol: the likelihood ODE's start (default: the
                  process's lowest training time) and error control (genjax.diffusion.likelihood)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import meta

from genjax.diffusion import guidance, likelihood, losses, parameterization, samplers, schedules
from genjax.diffusion.networks import make_backbone
from genjax.objectives import register
from genjax.objectives.base import Autoencoder, LossOutput, Objective, PlayerVariables
from genjax.objectives.hparams import from_config, hparam
from genjax.parallel.sharding import shard_batch

PROCESS_FIELDS = (
    "schedule",
    "num_steps",
    "beta_start",
    "beta_end",
    "beta_min",
    "beta_max",
    "sigma_min",
    "sigma_max",
    "rho",
    "p_mean",
    "p_std",
    "eps_train",
    "eps_sample",
)


@dataclasses.dataclass(frozen=True)
class DiffusionHParams:
    """`config.objective` of the "diffusion" family (docs/diffusion.md describes each field).

    The process fields (`PROCESS_FIELDS`) are the process dataclass's own: unset (None), they
    keep its defaults; a field the chosen process lacks is an error."""

    process: str = hparam("ddpm", choices=schedules.PROCESSES)
    schedule: str | None = None
    num_steps: int | None = hparam(None, ge=1)
    beta_start: float | None = hparam(None, gt=0, lt=1)
    beta_end: float | None = hparam(None, gt=0, lt=1)
    beta_min: float | None = hparam(None, ge=0)
    beta_max: float | None = hparam(None, gt=0)
    sigma_min: float | None = hparam(None, gt=0)
    sigma_max: float | None = hparam(None, gt=0)
    rho: float | None = hparam(None, gt=0)
    p_mean: float | None = None
    p_std: float | None = hparam(None, gt=0)
    eps_train: float | None = hparam(None, ge=0, lt=1)
    eps_sample: float | None = hparam(None, ge=0, lt=1)
    parameterization: str = hparam("eps", choices=parameterization.PARAMETERIZATIONS)
    weighting: str = hparam("none", choices=losses.WEIGHTINGS)
    min_snr_gamma: float = hparam(5.0, gt=0)
    sigma_data: float = hparam(0.5, gt=0)
    backbone: str | None = None  # default: "unet" for images, "diffwave" for audio, "mlp" for points
    net: dict[str, Any] = hparam({})  # keyword arguments of the backbone
    p_uncond: float = hparam(0.1, ge=0, lt=1)  # label dropout of classifier-free guidance
    conditional: bool | None = None  # default: whether the data has labels
    sampler: str = hparam("ddim", choices=samplers.SAMPLERS)
    sample_steps: int = hparam(50, ge=1)
    eta: float | None = hparam(None, ge=0)  # DDIM's eta (also a sampler option)
    guidance_scale: float = hparam(1.0, ge=0)
    sampler_options: dict[str, Any] = hparam({})
    latent_scale: float = hparam(1.0, gt=0)  # latent diffusion: z is scaled by it
    likelihood_t_min: float | None = hparam(None, ge=0)  # default: the process's `t_range[0]`
    likelihood_rtol: float = hparam(1e-5, gt=0)
    likelihood_atol: float = hparam(1e-5, gt=0)

    def make_process(self) -> schedules.Process:
        fields = {k: getattr(self, k) for k in PROCESS_FIELDS if getattr(self, k) is not None}
        return schedules.make_process(self.process, **fields)


AUTOENCODER = "autoencoder"  # the component name of latent diffusion's autoencoder


@dataclasses.dataclass(frozen=True)
class Latent:
    """The frozen autoencoder of latent diffusion: z = scale * encode(x), x = decode(z / scale).
    Its variables are the train state's `state["autoencoder"]` (`genjax.train.components`)."""

    autoencoder: Autoencoder
    scale: float
    shape: tuple[int, ...]  # of z, per example

    def encode(self, state: Mapping[str, Any], x: jax.Array) -> jax.Array:
        component = state[AUTOENCODER]
        return self.autoencoder.encode(component["params"], x, component["state"]) * self.scale

    def decode(self, state: Mapping[str, Any], z: jax.Array) -> jax.Array:
        component = state[AUTOENCODER]
        return self.autoencoder.decode(component["params"], z / self.scale, component["state"])


@dataclasses.dataclass(frozen=True)
class Diffusion:
    net: nn.Module
    process: Any
    shape: tuple[int, ...]  # per example, of the diffused variable (image or latent)
    parameterization: str = "eps"
    weighting: str = "none"
    min_snr_gamma: float = 5.0
    sigma_data: float = 0.5
    num_classes: int | None = None
    p_uncond: float = 0.1
    sampler: str = "ddim"
    sample_steps: int = 50
    sampler_options: tuple[tuple[str, Any], ...] = ()
    guidance_scale: float = 1.0
    latent: Latent | None = None
    likelihood_t_min: float | None = None
    likelihood_rtol: float = 1e-5
    likelihood_atol: float = 1e-5
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)
    # `LikelihoodModel`: the probability-flow ODE's log-density (Hutchinson's trace: an estimate)
    likelihood_kind = "estimate"
    discrete = False
    # `Conditional`: classifier-free guidance (Ho and Salimans 2022)
    guidance = True

    def init(self, rng: jax.Array, batch: Mapping[str, jax.Array]) -> dict[str, PlayerVariables]:
        x = jnp.zeros((1, *self.shape), jnp.float32)
        labels = jnp.zeros((1,), jnp.int32) if self.num_classes else None
        variables = self.net.init({"params": rng, "dropout": rng}, x, jnp.ones((1,)), labels)
        params = variables.pop("params")
        return {"model": PlayerVariables(params, dict(variables))}

    def _net(self, params, labels, rng=None):
        train = rng is not None
        rngs = {"dropout": rng} if train else {}
        return lambda x, c: self.net.apply({"params": params}, x, c, labels, train, rngs=rngs)

    def loss(self, player, params, state, batch, rng, step) -> LossOutput:
        x0 = batch["x"]
        if self.latent is not None:
            x0 = jax.lax.stop_gradient(self.latent.encode(state, x0)).astype(x0.dtype)
        rng_loss, rng_drop, rng_labels = jax.random.split(rng, 3)
        labels = None
        if self.num_classes:
            labels = guidance.drop_labels(rng_labels, batch["y"], self.p_uncond, self.num_classes)
        loss, metrics = losses.denoising_loss(
            self._net(params["model"], labels, rng_drop),
            self.process,
            self.parameterization,
            x0,
            rng_loss,
            self.weighting,
            self.sigma_data,
            self.min_snr_gamma,
        )
        return LossOutput(loss, metrics, {})

    def denoiser(self, params, labels=None, guidance_scale: float = 1.0) -> samplers.Denoiser:
        """D(y, t) in the EDM view for `samplers`: x0 prediction at x_t = alpha(t) y."""

        def cond(y, t, lab):
            t_b = jnp.full((y.shape[0],), t, jnp.float32)
            alpha = self.process.alpha_sigma(t_b)[0].reshape((-1,) + (1,) * (y.ndim - 1))
            return parameterization.denoise(
                self._net(params["model"], lab), self.parameterization, self.process, alpha * y, t_b, self.sigma_data
            )

        if not self.num_classes:
            return lambda y, t: cond(y, t, None)
        if labels is None:
            labels = jnp.full((1,), self.num_classes, jnp.int32)
            return lambda y, t: cond(y, t, jnp.broadcast_to(labels, (y.shape[0],)))
        return guidance.guided(cond, labels, guidance_scale, self.num_classes)

    def sample_labels(self, rng: jax.Array, num: int) -> jax.Array:
        """[num] labels drawn uniformly from the classes (`Conditional`)."""
        return jax.random.randint(rng, (num,), 0, self.num_classes or 1)

    def log_likelihood(self, params, state, batch, rng, **options) -> jax.Array:
        """log p(x) [B] in nats (`log_likelihood_and_error`'s first half)."""
        return self.log_likelihood_and_error(params, state, batch, rng, **options)[0]

    def log_likelihood_and_error(
        self,
        params,
        state,
        batch,
        rng,
        *,
        t_min: float | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        solver: str = "dopri5",
        steps: int | None = None,
        exact_trace: bool = False,
        max_steps: int = 1000,
    ) -> tuple[jax.Array, jax.Array]:
        """(log p(x) [B], its integration error estimate [B]) in nats of the batch's images under the
        probability-flow ODE from t_min (`genjax.diffusion.likelihood.log_likelihood`; t_min, rtol
        and atol default to the `likelihood_*` hyper-parameters; Hutchinson's trace unless
        exact_trace), conditioned on batch["y"] for class-conditional models; the batch is sharded
        like `sample`'s. Not defined for latent diffusion, whose density is over latents."""
        if self.latent is not None:
            raise ValueError(
                "bits/dim of a latent diffusion model would be over latents, not images; "
                "evaluate the pixel-space model instead"
            )
        labels = batch["y"] if self.num_classes else None
        denoise = self.denoiser(params, labels)
        denoise_sharded = lambda y, t: shard_batch(denoise(shard_batch(y), t))  # noqa: E731
        out = likelihood.log_likelihood(
            denoise_sharded,
            self.process,
            batch["x"],
            rng,
            t_min=self.likelihood_t_min if t_min is None else t_min,
            exact_trace=exact_trace,
            solver=solver,
            rtol=self.likelihood_rtol if rtol is None else rtol,
            atol=self.likelihood_atol if atol is None else atol,
            steps=steps,
            max_steps=max_steps,
        )
        return out.log_p, out.error

    def sample(
        self,
        params,
        state,
        rng,
        num,
        *,
        sampler: str | None = None,
        steps: int | None = None,
        timesteps: Sequence[float] | None = None,
        guidance_scale: float | None = None,
        label: int | None = None,
        ensemble: Sequence[Any] = (),
        **options,
    ) -> jax.Array:
        """`num` samples; label=None draws labels uniformly (class-conditional models) and
        guidance_scale=1 is the plain conditional model. `timesteps` (noisiest first) replaces the
        `steps` default times. `ensemble`: further param sets (other checkpoints or EMA decays) whose
        x0-predictions are averaged with those of `params` at every step
        (`samplers.averaged_denoiser`). The batch is sharded over the mesh's batch axes when a mesh is set
        (`jax.set_mesh`)."""
        sampler = sampler or self.sampler
        if timesteps is not None:
            steps = len(samplers.check_timesteps(self.process, timesteps, steps))
        steps = int(steps or self.sample_steps)
        if "eta" in options and sampler != "ddim":
            raise ValueError(f"eta applies to the ddim sampler only, not to {sampler!r}")
        if not self.num_classes and (label is not None or guidance_scale is not None):
            raise ValueError(
                "label and guidance_scale apply to class-conditional models; this one is unconditional "
                "(objective.conditional=true on labelled data makes one)"
            )
        defaults = {k: v for k, v in self.sampler_options if k != "eta" or sampler == "ddim"}
        options = {**defaults, **options}
        samplers.check_sampler(sampler, steps, options)
        scale = self.guidance_scale if guidance_scale is None else float(guidance_scale)
        rng_labels, rng = jax.random.split(rng)
        labels = None
        if self.num_classes:
            if label is not None and not 0 <= int(label) < self.num_classes:
                raise ValueError(f"label={label} is outside [0, {self.num_classes})")
            labels = (
                jnp.full((num,), int(label), jnp.int32) if label is not None else self.sample_labels(rng_labels, num)
            )
        denoise = samplers.averaged_denoiser([self.denoiser(p, labels, scale) for p in (params, *ensemble)])
        denoise_sharded = lambda y, t: shard_batch(denoise(shard_batch(y), t))
        x = samplers.sample(
            sampler, denoise_sharded, self.process, rng, (num, *self.shape), steps, timesteps=timesteps, **options
        )
        return self.latent.decode(state, x) if self.latent is not None else x


def _latent(autoencoder: Objective, scale: float, metadata: Any) -> Latent:
    """Latent diffusion over the frozen autoencoder component (config.components.autoencoder)."""
    if not isinstance(autoencoder, Autoencoder):
        raise ValueError(
            f"config.components.autoencoder holds a {type(autoencoder).__name__} run; latent "
            "diffusion needs an autoencoder (e.g. a run of the vae objective)"
        )
    if scale <= 0:
        raise ValueError(f"config.objective.latent_scale={scale} must be > 0")
    x = jnp.zeros((1, *metadata.shape), jnp.float32)
    variables = lambda k: meta.unbox(autoencoder.init(k, {"x": x}))  # noqa: E731
    z = jax.eval_shape(
        lambda k: autoencoder.encode(
            {p: v.params for p, v in variables(k).items()}, x, {p: dict(v.state) for p, v in variables(k).items()}
        ),
        jax.random.PRNGKey(0),
    )
    return Latent(autoencoder, scale, tuple(z.shape[1:]))


def default_backbone(kind: str, shape: tuple[int, ...]) -> str:
    """The denoiser of data of `kind` with per-example `shape`: the UNet for [H, W, C] images and
    latents, DiffWave for audio [T, C], the MLP for vectors."""
    if kind == "audio":
        return "diffwave"
    return "unet" if len(shape) == 3 else "mlp"


@register("diffusion", components=(AUTOENCODER,))
def make(cfg: Any, metadata: Any, autoencoder: Objective | None = None) -> Diffusion:
    """Builds the diffusion objective from `config.objective` (fields: `DiffusionHParams`), the
    data and, for latent diffusion, the frozen autoencoder component."""
    hp = from_config(DiffusionHParams, cfg, "diffusion")
    process = hp.make_process()
    likelihood.check_t_min(process, hp.likelihood_t_min)
    conditional = bool(metadata.num_classes) if hp.conditional is None else hp.conditional
    if conditional and not metadata.num_classes:
        raise ValueError(f"config.objective.conditional=True but dataset {metadata.name!r} has no labels")
    num_classes = int(metadata.num_classes) if conditional else None
    latent = None
    shape = tuple(metadata.shape)
    if autoencoder is not None:
        latent = _latent(autoencoder, hp.latent_scale, metadata)
        shape = latent.shape
    backbone = hp.backbone or default_backbone(metadata.kind if latent is None else "latent", shape)
    net = make_backbone(backbone, num_classes, hp.net)
    options = dict(hp.sampler_options)
    if hp.eta is not None:
        options["eta"] = hp.eta
    samplers.check_sampler(
        hp.sampler, hp.sample_steps, {k: v for k, v in options.items() if k != "eta" or hp.sampler == "ddim"}
    )
    return Diffusion(
        net=net,
        process=process,
        shape=shape,
        parameterization=hp.parameterization,
        weighting=hp.weighting,
        min_snr_gamma=hp.min_snr_gamma,
        sigma_data=hp.sigma_data,
        num_classes=num_classes,
        p_uncond=hp.p_uncond,
        sampler=hp.sampler,
        sample_steps=hp.sample_steps,
        sampler_options=tuple(sorted(options.items())),
        guidance_scale=hp.guidance_scale,
        latent=latent,
        likelihood_t_min=hp.likelihood_t_min,
        likelihood_rtol=hp.likelihood_rtol,
        likelihood_atol=hp.likelihood_atol,
    )
