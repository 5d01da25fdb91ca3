"""Sampling from a run and evaluating it: sample metrics against real data, and likelihoods.

Likelihoods (`LikelihoodModel`): held-out examples are scored in batches and reported once, here,
from the dataset's metadata (`genjax.metrics.likelihood.bits_per_dim`):
- images of b-bit data, L = 2^b levels per value (metadata.bits: 8 for 8-bit pixels, 1 for
  binarized data, data.binarize), read as the levels themselves (never the pipeline's
  dequantized values, data.dequantize):
  a discrete model (a Bernoulli likelihood of binarized data, a discretized logistic of 8-bit
  data) gives -log P(x) of the levels exactly: bpd = nll / (D ln 2);
  a continuous density is evaluated on uniformly dequantized data x' = lo + (hi - lo)(p + u) / L,
  u ~ U(0, 1)^D, p the level of each value, so that E_u[log p(x')] + D log((hi - lo) / L) is a lower
  bound on log P(p) (Theis et al. 2016, "A note on the evaluation of generative models", sec. 3.1);
  both report bits_per_dim and nll, -log P(x) of the levels in nats per example (bpd D ln 2);
- text (windows of T + 1 tokens, the first one given): nll in nats per character (per predicted
  token), -log p(x_1..x_T | x_0) / T, the unit of the training loss, and bits_per_dim in bits per
  character, nll / ln 2;
- audio scored by a discrete model (WaveNet's mu-law levels): bits_per_dim in bits per sample of
  the waveform, -log2 P(q) / T, and nll in nats per sample;
- points and other continuous data: the negative log-likelihood in nats per example.
An `IntegratedLikelihood` (diffusion's ODE) also gives `<name>_ode_err`: the mean over examples of
its integration error estimate in the same unit, apart from the sampling error `<name>_stderr`.
The latents of a `LatentModel` (`latent_kl`): the KL per latent unit and the active units over
eval examples (`genjax.metrics.latents`). An `Autoencoder`'s reconstructions (`reconstruction`):
MSE, PSNR and, for discrete codes, the codebook's perplexity (`genjax.train.autoencode`).
Held-out binarized data are binarized once, the same way for every run (`genjax.data.pipeline`).
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data as data_lib
from genjax.metrics.latents import latent_summary
from genjax.metrics.likelihood import bits_per_dim
from genjax.objectives.base import IntegratedLikelihood, LatentModel, LikelihoodModel, PairedDomains
from genjax.parallel import replicated, to_host
from genjax.train.autoencode import evaluate_reconstruction

LIKELIHOOD_METRICS = ("bits_per_dim", "nll")  # both score eval examples: evaluate_likelihood
LATENT_METRICS = ("latent_kl",)  # the posterior of eval examples: evaluate_latents
DISENTANGLEMENT_METRICS = ("mig", "dci")  # posterior means against known factors: evaluate_disentanglement
RECONSTRUCTION_METRICS = ("reconstruction",)  # decode(encode(x)) of eval examples: evaluate_reconstruction


def _progress(run: Any, starts: range, desc: str, per: int):
    """`starts` with a tqdm bar counted in examples when the run shows progress (the command line's
    sample and eval set `run.show_progress`) and there is more than one chunk."""
    if not getattr(run, "show_progress", False) or len(starts) < 2:
        return starts
    from tqdm.auto import tqdm

    return tqdm(starts, desc=desc, unit="chunk", postfix=f"{per} each", dynamic_ncols=True, leave=False)


def compiled(run: Any, key: tuple, make: Callable[[], Callable]) -> Callable:
    """The jitted function `make()` of `run`'s current objective for `key` (what it computes and its
    static options), built once per run: sampling or scoring again (every `eval_every` steps,
    every chunk) reuses the traced and compiled program (jit's own cache then keys the shapes)."""
    cache = getattr(run, "jitted", None)  # None: a stand-in run (tests) without the cache
    if cache is None:
        return make()
    full_key = (id(run.objective), repr(key))
    if full_key not in cache:
        cache[full_key] = make()
    return cache[full_key]


def sample(
    run: Any, num: int, seed: int, *, ema_index: int | None = 0, average_ema: bool = False, **kwargs: Any
) -> np.ndarray:
    """`num` samples of `run` (a `genjax.train.build.Run`) from its (EMA) params as a host array
    in the data range; `kwargs` go to the objective's sampler.

    At most `config.sample.batch_size` samples are drawn at once, by one compiled sampler: chunk
    i uses the key fold_in(PRNGKey(seed), i) (the whole draw uses PRNGKey(seed) when it fits one
    chunk), and the last chunk is drawn full and cut. The host array is allocated after the
    first chunk, so a `num` too large for host memory fails then (MemoryError). The compiled
    sampler is kept for the run (`compiled`). `average_ema` averages the x0-predictions of every
    EMA's params inside the sampler (diffusion's `ensemble`) instead of using one."""
    if not isinstance(num, int) or num < 1:
        raise ValueError(f"the number of samples must be an int >= 1, got {num!r}")
    chunk = min(num, run.config.sample.batch_size)
    objective = run.objective
    if average_ema:
        if "ensemble" not in inspect.signature(objective.sample).parameters or len(run.state.ema) < 1:
            raise ValueError(
                "averaging the EMAs' denoisers needs a diffusion run with config.train.ema_decays set, "
                f"got {type(objective).__name__} with {len(run.state.ema)} EMA(s)"
            )
        params = tuple(run.state.ema)
        draw = lambda p, s, k: objective.sample(p[0], s, k, chunk, ensemble=p[1:], **kwargs)  # noqa: E731
    else:
        params = run.state.sampling_params(ema_index)
        draw = lambda p, s, k: objective.sample(p, s, k, chunk, **kwargs)  # noqa: E731
    fn = compiled(
        run,
        ("sample", chunk, average_ema, kwargs),
        lambda: jax.jit(draw, out_shardings=replicated(run.mesh)),
    )
    key = jax.random.PRNGKey(seed)
    with jax.set_mesh(run.mesh):  # samplers may shard their batch over (data, fsdp)
        if chunk == num:
            return to_host(fn(params, run.state.model_state, key))
        out = None
        for i, start in enumerate(_progress(run, range(0, num, chunk), "sample", chunk)):
            x = to_host(fn(params, run.state.model_state, jax.random.fold_in(key, i)))
            if out is None:  # the whole host array at once: too large for host memory fails now
                out = np.empty((num, *x.shape[1:]), x.dtype)
            out[start : start + chunk] = x[: num - start]
    return out


def evaluate(
    run: Any,
    names: list[str],
    num: int,
    seed: int,
    *,
    ema_index: int | None = 0,
    metric_seed: int | None = None,
    likelihood_options: Mapping[str, Any] | None = None,
    **sample_kwargs: Any,
) -> dict[str, float]:
    """Metrics `names` of `num` samples (drawn with `seed`) against as many real examples of the
    eval split (`eval_reference` of them for `PairedDomains` families); the metrics' own randomness
    uses `metric_seed` (default `seed`). "bits_per_dim" and "nll" score `num` eval examples instead
    (`evaluate_likelihood` with `likelihood_options`, which reports both for images)."""
    from genjax import metrics as metrics_lib

    if not isinstance(num, int) or num < 1:
        raise ValueError(f"the number of evaluation samples must be an int >= 1, got {num!r}")
    cfg = run.config
    results = {}
    if likelihood_options and not any(n in LIKELIHOOD_METRICS for n in names):
        raise ValueError(
            f"likelihood options {sorted(likelihood_options)} apply to the metrics {' and '.join(LIKELIHOOD_METRICS)} "
            f"only, and none is asked ({', '.join(names)})"
        )
    if any(n in LIKELIHOOD_METRICS for n in names):
        results |= evaluate_likelihood(run, num, seed, ema_index=ema_index, **(likelihood_options or {}))
        names = [n for n in names if n not in LIKELIHOOD_METRICS]
    if "latent_kl" in names:
        results |= evaluate_latents(run, num, seed, ema_index=ema_index)
        names = [n for n in names if n not in LATENT_METRICS]
    if any(n in DISENTANGLEMENT_METRICS for n in names):
        results |= evaluate_disentanglement(run, [n for n in names if n in DISENTANGLEMENT_METRICS], num, seed)
        names = [n for n in names if n not in DISENTANGLEMENT_METRICS]
    if "reconstruction" in names:
        results |= evaluate_reconstruction(run, num, ema_index=ema_index)
        names = [n for n in names if n not in RECONSTRUCTION_METRICS]
    if names:
        fake = sample(run, num, seed, ema_index=ema_index, **{**dict(cfg.sample.kwargs), **sample_kwargs})
        real = data_lib.load_examples(cfg.data, num, split=cfg.eval.split or cfg.data.eval_split)["x"]
        if isinstance(run.objective, PairedDomains):
            real = np.asarray(run.objective.eval_reference(real))
        results |= metrics_lib.compute(
            names,
            fake,
            real,
            metadata=run.metadata,
            rng_seed=seed if metric_seed is None else metric_seed,
            **dict(cfg.eval.kwargs),
        )
    return {k: float(v) for k, v in results.items()}


def _posteriors(run: Any, x: np.ndarray, seed: int, ema_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(KL per latent unit [N, Z], posterior means [N, Z]) of a `LatentModel` run on examples x."""
    objective = run.objective
    if not isinstance(objective, LatentModel):
        raise ValueError(
            f"latent metrics need a posterior over latent units; the {run.config.objective.name!r} objective "
            "defines no latent_stats (the vae and hvae families do)"
        )
    params, batch = run.state.sampling_params(ema_index), run.config.data.batch_size
    fn = compiled(run, ("latent_stats",), lambda: jax.jit(objective.latent_stats))
    kls, means = [], []
    for start in _progress(run, range(0, len(x), batch), "encode", batch):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), start)
        with jax.set_mesh(run.mesh):
            kl, mean = fn(params, run.state.model_state, jnp.asarray(x[start : start + batch]), key)
        kls.append(np.asarray(kl))
        means.append(np.asarray(mean))
    return np.concatenate(kls), np.concatenate(means)


def evaluate_latents(run: Any, num: int, seed: int, *, ema_index: int | None = 0) -> dict[str, float]:
    """`latent_summary` of the posteriors of `num` eval examples of a `LatentModel` `run`: the KL
    per latent unit ("latent_kl/<j>", and their sum "latent_kl", nats) and the active units
    ("active_units": Burda et al.'s Cov_x(E_q[z_j]) > 0.01; "active_units_kl": KL_j > 0.01)."""
    cfg = run.config
    x = data_lib.load_examples(cfg.data, num, split=cfg.eval.split or cfg.data.eval_split)["x"]
    return latent_summary(*_posteriors(run, x, seed, ema_index))


def evaluate_disentanglement(
    run: Any, names: list[str], num: int, seed: int, *, ema_index: int | None = 0
) -> dict[str, float]:
    """MIG and/or DCI (`genjax.metrics.disentanglement`) of the posterior means of a `LatentModel`
    run trained on data with known factors (builtin:shapes): MIG and DCI's predictors use the first
    `num` training examples, DCI's informativeness is their accuracy on the eval split."""
    from genjax.data import shapes
    from genjax.metrics import disentanglement

    cfg = run.config
    if cfg.data.source != "builtin:shapes":
        raise ValueError(f"{names} need data with known generative factors (builtin:shapes), not {cfg.data.source!r}")
    splits = (cfg.data.split, cfg.eval.split or cfg.data.eval_split)
    test_num = min(num, len(shapes.factors(splits[1])))
    codes, factors = [], []
    for split, n in zip(splits, (num, test_num)):
        x = data_lib.load_examples(cfg.data, n, split=split)["x"]
        codes.append(_posteriors(run, x, seed, ema_index)[1])
        factors.append(shapes.factors(split)[:n])
    out = {}
    if "mig" in names:
        out |= disentanglement.mig(codes[0], factors[0])
    if "dci" in names:
        out |= disentanglement.dci(codes[0], factors[0], codes[1], factors[1], seed=seed)
    return out


def dequantize(x: np.ndarray | jax.Array, u: jax.Array, value_range: tuple[float, float], levels: int) -> jax.Array:
    """Values x on the grid lo + (hi - lo) p / (L - 1), p in {0..L-1} -> lo + (hi - lo)(p + u) / L."""
    lo, hi = value_range
    p = jnp.round((jnp.asarray(x) - lo) / (hi - lo) * (levels - 1))
    return lo + (hi - lo) * (p + u) / levels


def _check_options(score: Callable[..., Any], options: Mapping[str, Any], family: str) -> None:
    """A clear error for a likelihood option that `score` (a log_likelihood) does not take."""
    params = inspect.signature(score).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    keywords = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY or (p.default is not p.empty)]
    unknown = sorted(set(options) - set(keywords))
    if unknown:
        raise ValueError(
            f"the {family!r} family's log_likelihood takes no option {', '.join(unknown)}; "
            f"it takes {', '.join(keywords) or 'none'}"
        )


def evaluate_likelihood(
    run: Any, num: int, seed: int, *, ema_index: int | None = 0, **options: Any
) -> dict[str, float]:
    """{"bits_per_dim", "nll"} and their standard errors ("*_stderr") for b-bit images, text (per
    character) and audio under a discrete model (per sample), {"nll", "nll_stderr"} otherwise
    (nats per example), and "<name>_ode_err" for an `IntegratedLikelihood`, over `num` eval
    examples of `run` in batches of config.data.batch_size; `options` go to the objective's
    log_likelihood (the VAEs': k, chunk; diffusion's: t_min, rtol, atol, solver, steps,
    exact_trace, max_steps), an option it does not take is a ValueError. See the module docstring
    for the conventions."""
    objective = run.objective
    if not isinstance(objective, LikelihoodModel):
        raise ValueError(
            f"bits_per_dim and nll need a likelihood model; the {run.config.objective.name!r} objective "
            f"defines no log_likelihood (diffusion and the VAE do)"
        )
    integrated = isinstance(objective, IntegratedLikelihood)
    score = objective.log_likelihood_and_error if integrated else objective.log_likelihood
    _check_options(score, options, run.config.objective.name)  # before loading any data
    cfg, meta = run.config, run.metadata
    data_cfg = cfg.data.copy_and_resolve_references()
    data_cfg.dequantize = False  # the levels: a density's data are dequantized below
    data = data_lib.load_examples(data_cfg, num, split=cfg.eval.split or cfg.data.eval_split)
    params = run.state.sampling_params(ema_index)
    fn = compiled(
        run, ("log_likelihood", integrated, options), lambda: jax.jit(lambda p, s, b, k: score(p, s, b, k, **options))
    )
    levels = 2**meta.bits if meta.kind == "image" and meta.bits else None
    add_noise = levels is not None and not objective.discrete
    log_px, errors = [], []
    for start in _progress(run, range(0, num, cfg.data.batch_size), "score", cfg.data.batch_size):
        batch = {k: jnp.asarray(v[start : start + cfg.data.batch_size]) for k, v in data.items() if k in ("x", "y")}
        key_noise, key_ll = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), start))
        if add_noise:
            batch["x"] = dequantize(
                batch["x"], jax.random.uniform(key_noise, batch["x"].shape), meta.value_range, levels
            )
        with jax.set_mesh(run.mesh):  # the objective may shard the batch over (data, fsdp)
            out = fn(params, run.state.model_state, batch, key_ll)
            if integrated:
                out, error = out
                errors.append(np.asarray(error, np.float64))
            log_px.append(np.asarray(out, np.float64))
    nll = -np.concatenate(log_px)
    values = {"nll": nll}
    if meta.kind == "text":
        per_char = nll / (meta.shape[0] - 1)
        values = {"bits_per_dim": per_char / math.log(2.0), "nll": per_char}
    elif meta.kind == "audio" and objective.discrete:  # -log P of the mu-law levels, per sample
        per_sample = bits_per_dim(nll, meta.shape, discrete=True)
        values = {"bits_per_dim": per_sample, "nll": per_sample * math.log(2.0)}
    elif levels is not None:
        bpd = bits_per_dim(nll, meta.shape, discrete=objective.discrete, value_range=meta.value_range, num_bins=levels)
        values = {"bits_per_dim": bpd, "nll": bpd * math.prod(meta.shape) * math.log(2.0)}
    results = {}
    for name, per_example in values.items():
        results |= {name: float(per_example.mean()), f"{name}_stderr": float(per_example.std() / math.sqrt(len(nll)))}
    if integrated:  # in the unit of the first metric: bits per dimension for images
        unit = 1 / (math.prod(meta.shape) * math.log(2)) if levels is not None else 1.0
        results[f"{next(iter(values))}_ode_err"] = float(np.concatenate(errors).mean() * unit)
    return results
