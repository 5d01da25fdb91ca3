"""Diffusion Transformer (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers"):
patchify, fixed 2D sin-cos position embeddings, adaLN-Zero blocks conditioned on the noise level
and class, and a zero-initialised adaLN final layer.

Params carry logical axis names (genjax.parallel.axes) so FSDP and tensor-parallel meshes shard
them through `config.sharding.rules`. `attention` picks the attention implementation
(genjax.nn.attention), `remat` a rematerialisation policy for every block and `scan` compiles
the blocks as one scanned layer (genjax.nn.remat).

Tensor parallelism is Megatron's (genjax.parallel.axes): qkv and fc1 shard their output features
(heads, mlp), proj and fc2 their input features, so each attention and each MLP ends in one
all-reduce; the token activations between them are constrained to whole features per device.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.nn.attention import dot_product_attention
from genjax.nn.embeddings import TimeEmbedding
from genjax.nn.remat import remat, scan_layers
from genjax.parallel.axes import BATCH, EMBED, HEADS, KV, MLP, VOCAB
from genjax.parallel.sharding import constrain

Array = jax.Array
_xavier = nn.initializers.xavier_uniform()
_BOUNDARY = (BATCH, None, None)  # tokens [B, N, hidden] between blocks: features whole on each tensor device


def _init(names, init=_xavier):
    return nn.with_logical_partitioning(init, names)


def sincos_2d(grid: int, dim: int) -> np.ndarray:
    """[grid * grid, dim] fixed embedding: half the channels encode rows, half columns (MAE / DiT)."""

    def one(pos, d):
        omega = 1.0 / 10_000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2))
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing="ij")
    return np.concatenate([one(cols, dim // 2), one(rows, dim // 2)], axis=1).astype(np.float32)


def _modulate(x: Array, shift: Array, scale: Array) -> Array:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """x + gate_msa * Attn(modulate(LN(x))), then x + gate_mlp * MLP(modulate(LN(x)));
    the six modulation vectors come from a zero-initialised Dense of SiLU(c) (adaLN-Zero)."""

    hidden: int
    num_heads: int
    mlp_ratio: float
    attention: str = "auto"

    @nn.compact
    def __call__(self, x: Array, c: Array) -> Array:
        mod = nn.Dense(
            6 * self.hidden,
            kernel_init=_init((EMBED, MLP), nn.initializers.zeros),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (MLP,)),
            name="adaLN",
        )(nn.silu(c))
        mod = constrain(mod, (BATCH, None))  # [B, 6 hidden], gathered once: it scales whole rows
        x = constrain(x, _BOUNDARY)
        shift1, scale1, gate1, shift2, scale2, gate2 = jnp.split(mod, 6, axis=-1)
        head_dim = self.hidden // self.num_heads
        h = _modulate(nn.LayerNorm(use_scale=False, use_bias=False, epsilon=1e-6)(x), shift1, scale1)
        qkv = nn.DenseGeneral(
            (3, self.num_heads, head_dim),
            kernel_init=_init((EMBED, None, HEADS, KV)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (None, HEADS, KV)),
            name="qkv",
        )(h)
        qkv = constrain(qkv, (BATCH, None, None, HEADS, KV))  # [B, N, 3, heads, head_dim]
        h = dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], implementation=self.attention)
        h = constrain(h, (BATCH, None, HEADS, KV))
        h = nn.DenseGeneral(
            self.hidden,
            axis=(-2, -1),
            kernel_init=_init((HEADS, KV, EMBED)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (EMBED,)),
            name="proj",
        )(h)
        x = constrain(x + gate1[:, None] * h, _BOUNDARY)
        h = _modulate(nn.LayerNorm(use_scale=False, use_bias=False, epsilon=1e-6)(x), shift2, scale2)
        h = nn.Dense(
            int(self.hidden * self.mlp_ratio),
            kernel_init=_init((EMBED, MLP)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (MLP,)),
            name="fc1",
        )(h)
        h = constrain(h, (BATCH, None, MLP))
        h = nn.Dense(
            self.hidden,
            kernel_init=_init((MLP, EMBED)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (EMBED,)),
            name="fc2",
        )(nn.gelu(h, approximate=True))
        return constrain(x + gate2[:, None] * h, _BOUNDARY)


class _ScannedBlock(DiTBlock):
    """A DiTBlock in `nn.scan`'s carry form: (h, c) -> (h', None)."""

    def __call__(self, x: Array, c: Array) -> tuple[Array, None]:
        return super().__call__(x, c), None


class DiT(nn.Module):
    """x [B, H, W, C], c_noise [B], labels [B] | None -> [B, H, W, out_channels or C].

    DiT-S/2 is hidden=384, depth=12, num_heads=6, patch=2; DiT-B/2 768, 12, 12; DiT-XL/2 1152, 28, 16.
    """

    patch: int = 2
    hidden: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    num_classes: int | None = None
    out_channels: int | None = None
    attention: str = "auto"
    remat: str = "none"
    scan: bool = False

    @nn.compact
    def __call__(self, x: Array, c_noise: Array, labels: Array | None = None, train: bool = False) -> Array:
        del train  # no dropout in DiT
        b, hgt, wid, ch = x.shape
        p = self.patch
        if hgt % p or wid % p or hgt != wid:
            raise ValueError(f"DiT needs square images divisible by patch={p}, got {hgt}x{wid}")
        g = hgt // p
        tokens = x.reshape(b, g, p, g, p, ch).transpose(0, 1, 3, 2, 4, 5).reshape(b, g * g, p * p * ch)
        h = nn.Dense(
            self.hidden,
            kernel_init=_init((None, EMBED)),
            bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (EMBED,)),
            name="patch_embed",
        )(tokens)
        h = h + jnp.asarray(sincos_2d(g, self.hidden), h.dtype)
        c = TimeEmbedding(self.hidden, 256, kernel_init=nn.initializers.normal(0.02), name="time_embed")(
            c_noise, x.dtype
        )
        if self.num_classes:
            if labels is None:
                labels = jnp.full((b,), self.num_classes, jnp.int32)
            emb = nn.Embed(
                self.num_classes + 1,
                self.hidden,
                embedding_init=_init((VOCAB, EMBED), nn.initializers.normal(0.02)),
                name="label_embed",
            )(labels)
            c = c + emb.astype(c.dtype)
        block_args = (self.hidden, self.num_heads, self.mlp_ratio, self.attention)
        if self.scan:
            blocks = scan_layers(remat(_ScannedBlock, self.remat), self.depth)
            h, _ = blocks(*block_args, name="blocks")(h, c)
        else:
            for i in range(self.depth):
                h = remat(DiTBlock, self.remat)(*block_args, name=f"block_{i}")(h, c)
        shift, scale = jnp.split(
            nn.Dense(
                2 * self.hidden,
                kernel_init=_init((EMBED, MLP), nn.initializers.zeros),
                bias_init=_init((MLP,), nn.initializers.zeros),
                name="final_adaLN",
            )(nn.silu(c)),
            2,
            axis=-1,
        )
        h = _modulate(nn.LayerNorm(use_scale=False, use_bias=False, epsilon=1e-6)(h), shift, scale)
        out_ch = self.out_channels or ch
        h = nn.Dense(
            p * p * out_ch,
            kernel_init=_init((EMBED, None), nn.initializers.zeros),
            bias_init=_init((None,), nn.initializers.zeros),
            name="final",
        )(h)
        return h.reshape(b, g, g, p, p, out_ch).transpose(0, 1, 3, 2, 4, 5).reshape(b, hgt, wid, out_ch)
