"""Model-based evaluation: bits per dimension of held-out data under a run's likelihood.

Objectives that define `log_likelihood(params, state, batch, rng) -> [B] nats` (diffusion, by the
probability-flow ODE) are evaluated on `num` examples of the eval split. Image data get uniform
dequantisation noise of one bin width, w = (hi - lo) / 256, so that
E_u[log p(x + u)] + D log w is a lower bound on the log-probability of x's 8-bit bin (Theis et al.
2016, "A note on the evaluation of generative models", sec. 3.1), reported as bits/dim. 2D point
data have no bins: they get the negative log-likelihood in nats per example.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data as data_lib
from genjax.metrics.likelihood import bits_per_dim

METRICS = ("bits_per_dim",)


def evaluate_likelihood(run: Any, num: int, seed: int, *, ema_index: int | None = 0,
                        **options: Any) -> dict[str, float]:
    """{"bits_per_dim", "bits_per_dim_stderr"} for images, {"nll", "nll_stderr"} for points, over
    `num` eval examples of `run` (a `genjax.train.Run`), in batches of config.data.batch_size;
    `options` go to the objective's log_likelihood (e.g. steps, exact_trace)."""
    objective = run.objective
    if not hasattr(objective, "log_likelihood"):
        raise ValueError(f"bits_per_dim needs a likelihood model; the {run.config.objective.name!r} objective "
                         f"defines no log_likelihood (diffusion does)")
    cfg, meta = run.config, run.metadata
    data = data_lib.load_examples(cfg.data, num, split=cfg.eval.split or cfg.data.eval_split)
    params = run.state.sampling_params(ema_index)
    fn = jax.jit(lambda p, s, b, k: objective.log_likelihood(p, s, b, k, **options))
    lo, hi = meta.value_range
    images = meta.kind == "image"
    log_px = []
    for start in range(0, num, cfg.data.batch_size):
        batch = {k: jnp.asarray(v[start:start + cfg.data.batch_size]) for k, v in data.items() if k in ("x", "y")}
        key_noise, key_ll = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), start))
        if images:
            batch["x"] = batch["x"] + (jax.random.uniform(key_noise, batch["x"].shape) - 0.5) * (hi - lo) / 256
        with jax.set_mesh(run.mesh):  # the objective may shard the batch over (data, fsdp)
            log_px.append(np.asarray(fn(params, run.state.model_state, batch, key_ll), np.float64))
    nll = -np.concatenate(log_px)
    values = bits_per_dim(nll, meta.shape, value_range=(lo, hi)) if images else nll
    name = "bits_per_dim" if images else "nll"
    return {name: float(values.mean()), f"{name}_stderr": float(values.std() / math.sqrt(len(values)))}
