"""Importance-weighted bounds of a latent-variable model (Burda, Grosse & Salakhutdinov 2016,
"Importance Weighted Autoencoders").

With k samples z_1..z_k ~ q(z|x) and the importance weights w_i = p(x, z_i) / q(z_i|x),

    L_k(x) = log (1/k) sum_i w_i = logsumexp_i(log w_i) - log k,

a lower bound on log p(x) in expectation: E[L_1] (the ELBO) <= E[L_k] <= E[L_{k+1}] <= log p(x),
and L_k -> log p(x) as k -> infinity (their Theorem 1). Trained on, -L_k is the IWAE loss;
evaluated with large k (5000 in the paper), L_k is the importance-sampled estimate of log p(x).

Sample i draws its noise from `fold_in(rng, i)`, so the samples do not depend on how the k are
split into chunks: `importance_log_likelihood` evaluates them `chunk` at a time under
`lax.scan` with a running logsumexp, its memory bounded by the chunk, and equals the unchunked
`iwae_bound` up to float rounding.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array
# indices [n] of the samples -> their log importance weights log w [n, B]
LogWeights = Callable[[Array], Array]


def sample_noise(rng: Array, indices: Array, shape: tuple[int, ...]) -> Array:
    """Standard-normal noise [n, *shape] of the samples `indices` [n]: sample i from fold_in(rng, i)."""
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(rng, i), shape))(indices)


def iwae_bound(log_w: Array) -> Array:
    """L_k = logsumexp_i(log w_i) - log k: log weights [k, B] -> [B]."""
    return jax.nn.logsumexp(log_w, axis=0) - math.log(log_w.shape[0])


def check_samples(k: Any, chunk: Any) -> None:
    """A clear error unless k (importance samples) and chunk (samples evaluated at once) are ints >= 1."""
    for name, value in (("k", k), ("chunk", chunk)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(
                f"{name} must be an int >= 1 (k: importance samples, chunk: samples evaluated at once), got {value!r}"
            )


def importance_log_likelihood(log_weights: LogWeights, k: int, chunk: int, batch_size: int) -> Array:
    """L_k [batch_size] over k samples, `chunk` at a time: a running logsumexp over ceil(k / chunk)
    chunks of `log_weights(indices)` [chunk, B]; samples of the last chunk past k weigh zero."""
    check_samples(k, chunk)
    chunk = min(chunk, k)

    def step(acc: Array, first: Array) -> tuple[Array, None]:  # acc [B]: logsumexp so far
        indices = first + jnp.arange(chunk)
        log_w = jnp.where((indices < k)[:, None], log_weights(indices), -jnp.inf)  # [chunk, B]
        return jnp.logaddexp(acc, jax.nn.logsumexp(log_w, axis=0)), None

    firsts = jnp.arange(0, k, chunk)
    acc, _ = jax.lax.scan(step, jnp.full((batch_size,), -jnp.inf, jnp.float32), firsts)
    return acc - math.log(k)
