"""Token sampling from an autoregressive model with a KV cache, compiled as one `lax.scan`.

Per new token, the next-token distribution is softmax(logits / temperature), restricted to
- top-k: the k most probable tokens (Fan et al. 2018, "Hierarchical Neural Story Generation");
- top-p (nucleus): the smallest set of most probable tokens whose probability reaches p
  (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration"), after top-k;
and renormalised; temperature 0 takes the argmax (greedy decoding).

A prompt [B, P] is prefilled in one forward pass that fills the cache at positions 0..P-1; every
further step feeds the last token at the next position, so each token costs one query against the
cache instead of a forward pass over the whole prefix. `next_token_log_probs` scores a sequence
under the same model (teacher forcing), for the families' losses and likelihoods.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from genjax.nn.transformer import Transformer

Array = jax.Array
# (tokens [B, T], pos, cache) -> (logits [B, T, V], cache)
StepFn = Callable[[Array, Array, dict], tuple[Array, dict]]


def top_k_filter(logits: Array, k: int) -> Array:
    """logits [..., V] with every entry below the k-th largest set to -inf (k = 0: unchanged).
    Ties with the k-th largest are kept."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = jax.lax.top_k(logits, k)[0][..., -1:]
    return jnp.where(logits < kth, -jnp.inf, logits)


def top_p_filter(logits: Array, p: float) -> Array:
    """logits [..., V] restricted to the nucleus: sorted by probability, token i is kept when the
    probability of the tokens before it is < p (so the most probable token always is); ties with
    the last kept token are kept; p >= 1: unchanged."""
    if p >= 1.0:
        return logits
    sorted_logits = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    kept = jnp.sum(jnp.cumsum(probs, axis=-1) - probs < p, axis=-1, keepdims=True)  # a prefix, >= 1
    threshold = jnp.take_along_axis(sorted_logits, kept - 1, axis=-1)
    keep = logits >= threshold
    return jnp.where(keep, logits, -jnp.inf)


def next_token(rng: Array, logits: Array, temperature: float, top_k: int, top_p: float) -> Array:
    """logits [B, V] -> int32 tokens [B]: greedy for temperature 0, else a draw from the filtered,
    tempered distribution."""
    if temperature == 0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
    return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)


def generate(
    step: StepFn,
    cache: dict,
    prompt: Array,
    length: int,
    rng: Array,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> tuple[Array, Array]:
    """The prompt [B, P] continued to `length` tokens: (tokens [B, length] int32, logits
    [B, length - P, V] of each new token's distribution before filtering).

    The prompt fills the empty `cache` (positions 0..P-1) in one call of `step`; the remaining
    tokens are one `lax.scan`, each step feeding the previous token at its position."""
    num_prompt = prompt.shape[1]
    if not 0 < num_prompt < length:
        raise ValueError(f"the prompt has {num_prompt} tokens; it must have 1 to length - 1 = {length - 1}")
    logits, cache = step(prompt, jnp.int32(0), cache)
    first_logits = logits[:, -1]
    keys = jax.random.split(rng, length - num_prompt)
    first = next_token(keys[0], first_logits, temperature, top_k, top_p)

    def body(carry, key):
        cache, token, pos = carry
        logits, cache = step(token[:, None], pos, cache)
        logits = logits[:, 0]
        new = next_token(key, logits, temperature, top_k, top_p)
        return (cache, new, pos + 1), (new, logits)

    _, (tokens, logits) = jax.lax.scan(body, (cache, first, jnp.int32(num_prompt)), keys[1:])
    tokens = jnp.concatenate([prompt.astype(jnp.int32), first[:, None], tokens.T], axis=1)
    logits = jnp.concatenate([first_logits[:, None], jnp.swapaxes(logits, 0, 1)], axis=1)
    return tokens, logits


def next_token_log_probs(net: Transformer, params: Any, x: jax.Array, rng: jax.Array | None = None) -> jax.Array:
    """x [B, T + 1] int32 -> log p(x_t | x_{<t}) [B, T] in float32, t = 1..T, from the causal
    transformer `net`; with `rng`, in training mode (dropout drawn from it)."""
    train = rng is not None and net.dropout > 0
    rngs = {"dropout": rng} if train else {}
    logits, _ = net.apply({"params": params}, x[:, :-1], train=train, rngs=rngs)
    return -optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:])
