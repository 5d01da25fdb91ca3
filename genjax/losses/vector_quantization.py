"""Vector quantization with an exponential-moving-average codebook (van den Oord, Vinyals &
Kavukcuoglu 2017, "Neural Discrete Representation Learning", sec. 3.1 and appendix A.1; Sonnet's
`VectorQuantizerEMA`), and dead-code restarts (Dhariwal et al. 2020, "Jukebox", sec. 2.3).

Encoder outputs z_e [N, D] (N = batch x positions) and a codebook e [K, D]:

    k(n)   = argmin_k |z_e,n - e_k|^2                          nearest code
    z_q,n  = z_e,n + sg(e_k(n) - z_e,n)                         straight-through estimator: the
                                                                value e_k(n), the gradient of z_e
    commit = |z_e,n - sg(e_k(n))|^2                             commitment loss (weight beta)

The codebook is no parameter: with n_k = #{n : k(n) = k} and the decay gamma it follows

    N_k <- gamma N_k + (1 - gamma) n_k
    m_k <- gamma m_k + (1 - gamma) sum_{n: k(n) = k} z_e,n
    e_k  = m_k / N~_k,   N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j   (Laplace smoothing)

A code that no encoder output chose for `restart_after` consecutive updates is dead: it restarts
at an encoder output of the batch drawn uniformly (e_k = m_k = z_e,n, N_k = 1), its counter at 0.

Codebook usage: the fraction of codes chosen in the batch, and the perplexity exp(-sum_k p_k log
p_k) of the batch's code frequencies p_k = n_k / N (K when all codes are used equally, 1 when one
code takes every output).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import entr

Array = jax.Array


class Codebook(NamedTuple):
    """The EMA codebook's state: codes e [K, D], N [K], m [K, D], and the updates since each code
    was last chosen [K] (int32)."""

    embedding: Array
    ema_count: Array
    ema_sum: Array
    unused: Array


def init_codebook(rng: Array, num_codes: int, dim: int) -> Codebook:
    """Codes from N(0, 1/D) (lecun normal scale), each counted once at its initial value (N_k = 1,
    m_k = e_k), so a code keeps its value until chosen."""
    e = jax.random.normal(rng, (num_codes, dim), jnp.float32) / jnp.sqrt(dim)
    return Codebook(e, jnp.ones((num_codes,), jnp.float32), e, jnp.zeros((num_codes,), jnp.int32))


def nearest_codes(z: Array, embedding: Array) -> Array:
    """z [N, D], embedding [K, D] -> argmin_k |z_n - e_k|^2 [N] int32."""
    d2 = jnp.sum(z**2, -1, keepdims=True) - 2 * z @ embedding.T + jnp.sum(embedding**2, -1)[None]
    return jnp.argmin(d2, axis=-1).astype(jnp.int32)


def straight_through(z: Array, z_q: Array) -> Array:
    """z_q's value with the identity gradient to z: z + sg(z_q - z)."""
    return z + jax.lax.stop_gradient(z_q - z)


def commitment_loss(z: Array, z_q: Array) -> Array:
    """|z - sg(z_q)|^2 summed over the last axis: [..., D] -> [...]."""
    return jnp.sum((z - jax.lax.stop_gradient(z_q)) ** 2, axis=-1)


def code_counts(codes: Array, num_codes: int) -> Array:
    """codes [N] -> n_k [K] (float32)."""
    return jnp.zeros((num_codes,), jnp.float32).at[codes].add(1.0)


def perplexity(codes: Array, num_codes: int) -> Array:
    """exp(-sum_k p_k log p_k) of the code frequencies p_k of codes [N] (0 log 0 = 0)."""
    p = code_counts(codes, num_codes) / codes.size
    return jnp.exp(jnp.sum(entr(p)))  # entr(p) = -p log p, entr(0) = 0


def ema_update(book: Codebook, z: Array, codes: Array, decay: float, epsilon: float) -> Codebook:
    """The codebook after one EMA step on encoder outputs z [N, D] with their codes [N] (see the
    module docstring); `unused` counts up for the codes not chosen, restarts at 0 for the others."""
    z = jax.lax.stop_gradient(z).astype(jnp.float32)
    k = book.embedding.shape[0]
    counts = code_counts(codes, k)
    sums = jnp.zeros_like(book.ema_sum).at[codes].add(z)
    ema_count = decay * book.ema_count + (1 - decay) * counts
    ema_sum = decay * book.ema_sum + (1 - decay) * sums
    total = jnp.sum(ema_count)
    smoothed = (ema_count + epsilon) / (total + k * epsilon) * total
    unused = jnp.where(counts > 0, 0, book.unused + 1)
    return Codebook(ema_sum / smoothed[:, None], ema_count, ema_sum, unused)


def restart_dead_codes(book: Codebook, z: Array, rng: Array, restart_after: int) -> tuple[Codebook, Array]:
    """(the codebook with each code unused for >= restart_after updates moved to an encoder
    output of z [N, D] drawn uniformly, with N_k = 1 and m_k = e_k, its counter at 0; the number of
    restarted codes)."""
    dead = book.unused >= restart_after  # [K]
    picks = jax.random.randint(rng, (book.embedding.shape[0],), 0, z.shape[0])
    fresh = jax.lax.stop_gradient(z).astype(jnp.float32)[picks]  # [K, D]
    embedding = jnp.where(dead[:, None], fresh, book.embedding)
    return (
        Codebook(
            embedding,
            jnp.where(dead, 1.0, book.ema_count),
            jnp.where(dead[:, None], fresh, book.ema_sum),
            jnp.where(dead, 0, book.unused),
        ),
        jnp.sum(dead),
    )
