"""A decoder-only transformer language model (Radford et al. 2019, GPT-2; nanoGPT's layout).

    h_0 = Embed(tokens)
    h_l = h_{l-1} + Attn(RMSNorm(h_{l-1}))          causal self-attention with RoPE
    h_l = h_l + MLP(RMSNorm(h_l))                    GELU, width mlp_ratio * dim
    logits = Dense(RMSNorm(h_L))                     [B, T, vocab]

Pre-norm blocks with RMSNorm (Zhang and Sennrich 2019), rotary position embeddings on queries and
keys (Su et al. 2021, "RoFormer"), no biases; with `dropout` > 0 and `train=True`, dropout on the
embeddings and on each residual branch (GPT-2's; not on the attention weights). Every param carries logical axis names
(`genjax.parallel.axes`). `remat` recomputes each block's activations in the backward pass;
`scan_layers` runs the blocks as one `nn.scan` (params stacked on a leading, unnamed layer axis).

Decoding keeps a KV cache, explicit arrays passed in and out: `init_cache` gives
{"k", "v": [L, B, S, H, Dh]} for S = max_len positions; `__call__(tokens, pos, cache)` writes the
keys and values of tokens [B, T] at positions pos..pos+T-1 and lets each query attend to the
cached positions <= its own. Without a cache, attention is causal over the tokens themselves.
Attention is `genjax.nn.attention.dot_product_attention` ("auto": heads-major matmuls on CPU,
`jax.nn.dot_product_attention` on GPU and TPU).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.attention import dot_product_attention
from genjax.parallel.axes import EMBED, HEADS, KV, MLP, NORM, VOCAB

Array = jax.Array
Cache = dict[str, Array]  # {"k": [L, B, S, H, Dh], "v": [L, B, S, H, Dh]}


def _init(names: tuple[str | None, ...], scale: float = 0.02) -> nn.initializers.Initializer:
    return nn.with_logical_partitioning(nn.initializers.normal(scale), names)


def rope(x: Array, positions: Array, base: float = 10_000.0) -> Array:
    """Rotary embedding of x [B, T, H, D] at positions [T]: each pair (x_i, x_{i + D/2}) is rotated
    by the angle position * base^(-2i/D) (the rotate-half form of GPT-NeoX and LLaMA)."""
    half = x.shape[-1] // 2
    freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angle = positions.astype(jnp.float32)[:, None] * freq[None, :]  # [T, D/2]
    cos, sin = jnp.cos(angle)[None, :, None, :], jnp.sin(angle)[None, :, None, :]
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * scale over the last axis."""

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x: Array) -> Array:
        scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, (NORM,)), (x.shape[-1],))
        x32 = x.astype(jnp.float32)
        y = x32 * jax.lax.rsqrt(jnp.mean(x32**2, axis=-1, keepdims=True) + self.eps)
        return (y * scale).astype(x.dtype)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention of x [B, T, dim] at positions pos..pos+T-1."""

    num_heads: int

    @nn.compact
    def __call__(self, x: Array, pos: Array, cache: Cache | None) -> tuple[Array, Cache | None]:
        (b, t, dim), head_dim = x.shape, x.shape[-1] // self.num_heads
        qkv = nn.DenseGeneral(
            (3, self.num_heads, head_dim), use_bias=False, kernel_init=_init((EMBED, None, HEADS, KV)), name="qkv"
        )(x.reshape(b * t, dim)).reshape(b, t, 3, self.num_heads, head_dim)  # projections as 2D matmuls
        positions = pos + jnp.arange(x.shape[1])
        q, k, v = rope(qkv[:, :, 0], positions), rope(qkv[:, :, 1], positions), qkv[:, :, 2]
        if cache is None:
            h = dot_product_attention(q, k, v, is_causal=True)
        else:
            k_all = jax.lax.dynamic_update_slice_in_dim(cache["k"], k.astype(cache["k"].dtype), pos, axis=1)
            v_all = jax.lax.dynamic_update_slice_in_dim(cache["v"], v.astype(cache["v"].dtype), pos, axis=1)
            mask = positions[:, None] >= jnp.arange(k_all.shape[1])[None, :]  # [T, S]: keys up to the query
            h = dot_product_attention(q, k_all.astype(q.dtype), v_all.astype(q.dtype), mask=mask[None, None])
            cache = {"k": k_all, "v": v_all}
        out = nn.DenseGeneral(dim, axis=(-2, -1), use_bias=False, kernel_init=_init((HEADS, KV, EMBED)), name="proj")(
            h.reshape(b * t, self.num_heads, head_dim)
        )
        return out.reshape(b, t, dim), cache


class Block(nn.Module):
    """x + Drop(Attn(RMSNorm(x))), then + Drop(MLP(RMSNorm(.))). Carries (x, pos) so it can be
    scanned."""

    num_heads: int
    mlp_ratio: int = 4
    dropout: float = 0.0
    deterministic: bool = True

    @nn.compact
    def __call__(self, carry: tuple[Array, Array], cache: Cache | None) -> tuple[tuple[Array, Array], Cache | None]:
        x, pos = carry
        h, cache = CausalSelfAttention(self.num_heads, name="attn")(RMSNorm(name="norm_attn")(x), pos, cache)
        drop = nn.Dropout(self.dropout, deterministic=self.deterministic)
        x = x + drop(h)
        tokens = x.reshape(-1, x.shape[-1])  # [B * T, dim]: XLA:CPU differentiates 2D matmuls faster
        h = nn.Dense(self.mlp_ratio * x.shape[-1], use_bias=False, kernel_init=_init((EMBED, MLP)), name="fc")(
            RMSNorm(name="norm_mlp")(tokens)
        )
        h = nn.Dense(x.shape[-1], use_bias=False, kernel_init=_init((MLP, EMBED)), name="out")(nn.gelu(h))
        x = x + drop(h.reshape(x.shape))
        return (x, pos), cache


class Transformer(nn.Module):
    """tokens [B, T] int32 -> logits [B, T, vocab_size] float32 (and the updated KV cache).

    max_len: positions the cache holds (the model's context). dropout: the rate in training
    (`train=True`, needs a "dropout" rng). remat: recompute each block in the backward pass
    (`nn.remat`). scan_layers: the blocks as one `nn.scan` over stacked params.
    """

    vocab_size: int
    max_len: int
    num_layers: int = 6
    num_heads: int = 6
    dim: int = 384
    mlp_ratio: int = 4
    dropout: float = 0.0
    remat: bool = False
    scan_layers: bool = False

    def init_cache(self, batch: int, dtype: jnp.dtype = jnp.float32) -> Cache:
        """Zeros {"k", "v": [num_layers, batch, max_len, num_heads, dim // num_heads]}."""
        shape = (self.num_layers, batch, self.max_len, self.num_heads, self.dim // self.num_heads)
        return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)}

    @nn.compact
    def __call__(
        self, tokens: Array, pos: Array | int = 0, cache: Cache | None = None, train: bool = False
    ) -> tuple[Array, Cache | None]:
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 2:
            raise ValueError(
                f"the transformer's dim={self.dim} must split into num_heads={self.num_heads} heads of even size (RoPE)"
            )
        pos = jnp.asarray(pos, jnp.int32)
        x = nn.Embed(self.vocab_size, self.dim, embedding_init=_init((VOCAB, EMBED)), name="embed")(tokens)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        block = nn.remat(Block, prevent_cse=not self.scan_layers) if self.remat else Block
        kw = dict(num_heads=self.num_heads, mlp_ratio=self.mlp_ratio, dropout=self.dropout, deterministic=not train)
        if self.scan_layers:
            layers = nn.scan(
                block,
                variable_axes={"params": 0},
                split_rngs={"params": True, "dropout": True},
                in_axes=0,
                length=self.num_layers,
                metadata_params={nn.PARTITION_NAME: None},
            )(**kw, name="layers")
            (x, _), cache = layers((x, pos), cache)
        else:
            new = []
            for i in range(self.num_layers):
                layer_cache = None if cache is None else jax.tree.map(lambda c: c[i], cache)
                (x, _), layer_cache = block(**kw, name=f"block_{i}")((x, pos), layer_cache)
                new.append(layer_cache)
            cache = None if cache is None else jax.tree.map(lambda *c: jnp.stack(c), *new)
        x = RMSNorm(name="norm_out")(x.reshape(-1, self.dim))
        logits = nn.Dense(self.vocab_size, use_bias=False, kernel_init=_init((EMBED, VOCAB)), name="head")(x)
        return logits.reshape(*tokens.shape, self.vocab_size).astype(jnp.float32), cache
