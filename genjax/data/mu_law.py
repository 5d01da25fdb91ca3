"""mu-law companding of waveforms (ITU-T G.711; as used by WaveNet, van den Oord et al. 2016,
sec. 2.2): a waveform x in [-1, 1] is compressed by

    F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu),

and F(x) in [-1, 1] is quantized to mu + 1 = 256 levels, q = floor((F(x) + 1) / 2 * mu + 0.5).
Decoding maps a level q back to y = 2 q / mu - 1 and inverts F:

    x = sign(y) ((1 + mu)^|y| - 1) / mu.

Both follow torchaudio's `mu_law_encoding` / `mu_law_decoding`, so codes match it level for level.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MU = 255
LEVELS = MU + 1  # the classes of WaveNet's softmax

Array = jax.Array


def compress(x: Array, mu: int = MU) -> Array:
    """F(x) [...] in [-1, 1] of a waveform x [...] (clipped to [-1, 1] first)."""
    x = jnp.clip(jnp.asarray(x, jnp.float32), -1.0, 1.0)
    return jnp.sign(x) * jnp.log1p(mu * jnp.abs(x)) / jnp.log1p(float(mu))


def expand(y: Array, mu: int = MU) -> Array:
    """F^-1(y) [...] in [-1, 1] of y [...] in [-1, 1]."""
    y = jnp.asarray(y, jnp.float32)
    return jnp.sign(y) * jnp.expm1(jnp.abs(y) * jnp.log1p(float(mu))) / mu


def encode(x: Array, mu: int = MU) -> Array:
    """Waveform x [...] in [-1, 1] -> int32 codes [...] in [0, mu]."""
    return jnp.floor((compress(x, mu) + 1.0) / 2.0 * mu + 0.5).astype(jnp.int32)


def decode(q: Array, mu: int = MU) -> Array:
    """int codes q [...] in [0, mu] -> float32 waveform [...] in [-1, 1]."""
    return expand(2.0 * jnp.asarray(q, jnp.float32) / mu - 1.0, mu)
