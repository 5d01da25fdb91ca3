"""Reconstructions and latent interpolations of an `Autoencoder` run: the grids written beside the
sample grids (`genjax.train.actions.write_samples`).

- Reconstructions: eval examples x and decode(encode(x)) (the posterior mean, then the mean of
  p(x|z)), rows of inputs each followed by the row of their reconstructions.
- Interpolations: pairs of encoded eval examples (z_a, z_b), each row decode(slerp(z_a, z_b, t))
  for t evenly spaced in [0, 1]. Spherical interpolation (Shoemake 1985; White 2016, "Sampling
  Generative Networks") keeps the norm of a Gaussian latent near the typical set's radius, where
  the linear midpoint of two N(0, I) samples falls inside it:

      slerp(z_a, z_b, t) = sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b,
      cos w = <z_a, z_b> / (|z_a| |z_b|),

  over each example's flattened latent, the linear interpolation when w is near 0.
- The eval metric `reconstruction` (`evaluate_reconstruction`): decode(encode(x)) of eval
  examples scored by MSE and PSNR, and for families with discrete codes (`encode_codes`, the
  VQ-VAE) the codebook's perplexity and usage over every code of those examples.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from genjax import data as data_lib
from genjax.data.sources import open_source
from genjax.diffusion.editing import mse_psnr
from genjax.losses import vector_quantization as vq
from genjax.objectives.base import Autoencoder

Array = jax.Array


def slerp(z_a: Array, z_b: Array, t: Array) -> Array:
    """z_a, z_b [B, ...], t [T] -> [B, T, ...]: the spherical interpolation of each pair."""
    a, b = z_a.reshape(z_a.shape[0], -1), z_b.reshape(z_b.shape[0], -1)
    cos = jnp.sum(a * b, -1) / (jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1) + 1e-12)
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))[:, None, None]  # [B, 1, 1]
    t = t[None, :, None]
    small = omega < 1e-4
    sin = jnp.where(small, 1.0, jnp.sin(omega))
    w_a = jnp.where(small, 1.0 - t, jnp.sin((1.0 - t) * omega) / sin)
    w_b = jnp.where(small, t, jnp.sin(t * omega) / sin)
    out = w_a * a[:, None] + w_b * b[:, None]
    return out.reshape(z_a.shape[0], t.shape[1], *z_a.shape[1:])


def _split(run: Any) -> str:
    return run.config.eval.split or data_lib.eval_split(run.config.data)


def num_eval_examples(run: Any) -> int:
    """The size of the run's eval split, which the grids draw their examples from."""
    return len(open_source(run.config.data, _split(run)))


def _eval_images(run: Any, num: int) -> np.ndarray:
    return data_lib.load_examples(run.config.data, num, split=_split(run))["x"]


def reconstruction_rows(run: Any, num: int, ncol: int, *, ema_index: int | None = 0) -> np.ndarray:
    """[2 num, ...]: rows of `ncol` eval examples, each followed by the row of their
    reconstructions; `num` is a multiple of `ncol`."""
    objective, params, state = run.objective, run.state.sampling_params(ema_index), run.state.model_state
    x = _eval_images(run, num)
    with jax.set_mesh(run.mesh):
        reconstruct = jax.jit(lambda p, s, x: objective.decode(p, objective.encode(p, x, s), s))
        x_hat = reconstruct(params, state, jnp.asarray(x))
    x_hat = np.asarray(x_hat).astype(x.dtype)
    rows = np.stack([x.reshape(-1, ncol, *x.shape[1:]), x_hat.reshape(-1, ncol, *x.shape[1:])], axis=1)
    return rows.reshape(2 * num, *x.shape[1:])


def interpolation_rows(run: Any, pairs: int, steps: int, *, ema_index: int | None = 0) -> np.ndarray:
    """[pairs * steps, ...]: per pair of eval examples (2i, 2i + 1), the decoded slerp of their
    latents at `steps` points from the first (t = 0) to the second (t = 1)."""
    objective, params, state = run.objective, run.state.sampling_params(ema_index), run.state.model_state
    x = jnp.asarray(_eval_images(run, 2 * pairs))

    def decode_path(p: Any, s: Any, x: Array) -> Array:
        z = objective.encode(p, x, s)
        path = slerp(z[0::2], z[1::2], jnp.linspace(0.0, 1.0, steps))  # [pairs, steps, ...]
        return objective.decode(p, path.reshape(pairs * steps, *z.shape[1:]), s)

    with jax.set_mesh(run.mesh):
        return np.asarray(jax.jit(decode_path)(params, state, x))


def traversal_rows(run: Any, steps: int, *, limit: float = 3.0, max_rows: int = 10, ema_index: int | None = 0):
    """[rows * steps, ...] or None: latent traversals (Higgins et al. 2017, "beta-VAE", fig. 7) of a
    vector-latent `LatentModel`: the first eval example's latent with one unit at a time swept over
    `steps` values in [-limit, limit] (prior standard deviations), decoded. A row per unit, the units
    with the largest KL over 64 eval examples first (the ones that carry information); None when
    the latents are not vectors [B, Z] (spatial or hierarchical)."""
    objective, params, state = run.objective, run.state.sampling_params(ema_index), run.state.model_state
    x = jnp.asarray(_eval_images(run, min(64, num_eval_examples(run))))
    with jax.set_mesh(run.mesh):
        z = jax.jit(objective.encode)(params, x[:1], state)
        kl, _ = jax.jit(objective.latent_stats)(params, state, x, jax.random.PRNGKey(0))
    if z.ndim != 2 or kl.shape[1] != z.shape[1]:
        return None
    units = np.argsort(-np.asarray(kl).mean(0))[:max_rows]  # [R]
    swept = jax.nn.one_hot(units, z.shape[1])[:, None, :]  # [R, 1, Z]: the unit of each row
    values = jnp.linspace(-limit, limit, steps)[None, :, None]  # [1, steps, 1]
    paths = z[0] * (1.0 - swept) + values * swept  # [R, steps, Z]
    with jax.set_mesh(run.mesh):
        return np.asarray(jax.jit(objective.decode)(params, paths.reshape(-1, z.shape[1]), state))


def evaluate_reconstruction(run: Any, num: int, *, ema_index: int | None = 0) -> dict[str, float]:
    """decode(encode(x)) of `num` eval examples of an `Autoencoder` run, in batches of
    config.data.batch_size, against x in the data range [lo, hi]:

        recon_mse   = mean_n mean_d (x_nd - x_hat_nd)^2            (and its standard error over n)
        recon_psnr  = mean_n 10 log10((hi - lo)^2 / mse_n)  dB      (and its standard error)

    and for code models (`encode_codes`): code_perplexity = exp(-sum_k p_k log p_k) of the code
    frequencies p_k over all positions of the examples (van den Oord et al. 2017; its maximum is
    the number of codes) and code_usage, the fraction of codes used at least once."""
    objective = run.objective
    if not isinstance(objective, Autoencoder):
        raise ValueError(
            f"reconstruction needs an encoder and a decoder; the {run.config.objective.name!r} objective has no "
            "encode/decode (the vae, hvae and vqvae families do)"
        )
    params, state, batch = run.state.sampling_params(ema_index), run.state.model_state, run.config.data.batch_size
    x = _eval_images(run, num)
    code_model = hasattr(objective, "encode_codes")

    def reconstruct(p: Any, s: Any, x: Array) -> tuple[Array, Array | None]:
        if code_model:  # decode(encode(x)) through the codes, encoding once
            codes = objective.encode_codes(p, s, x)
            return objective.decode_codes(p, s, codes), codes
        return objective.decode(p, objective.encode(p, x, s), s), None

    with jax.set_mesh(run.mesh):
        fn = jax.jit(reconstruct)
        outs = [fn(params, state, jnp.asarray(x[i : i + batch])) for i in range(0, len(x), batch)]
    mse, psnr = mse_psnr(x, np.concatenate([np.asarray(x_hat) for x_hat, _ in outs]), run.metadata.value_range)
    out = {}
    for name, v in (("recon_mse", mse), ("recon_psnr", psnr)):
        out |= {name: float(v.mean()), f"{name}_stderr": float(v.std() / np.sqrt(len(v)))}
    if code_model:
        codes = jnp.concatenate([c.ravel() for _, c in outs])
        out |= {
            "code_perplexity": float(vq.perplexity(codes, objective.num_codes)),
            "code_usage": float(jnp.mean(vq.code_counts(codes, objective.num_codes) > 0)),
        }
    return out
