"""Denoiser backbones by name: every one maps (x [B, ...], c_noise [B], labels [B] | None, train)
to an output shaped like x. Images use the UNet or the DiT, waveforms [T, C] DiffWave; vectors (2D
toy data, autoencoder latents) use the residual MLP below."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.diffwave import DiffWave
from genjax.nn.dit import DiT
from genjax.nn.embeddings import LabelEmbedding, TimeEmbedding
from genjax.nn.unet import UNet
from genjax.nn import named
from genjax.parallel.axes import EMBED, MLP

Array = jax.Array


class MLPDenoiser(nn.Module):
    """Residual MLP on flat vectors, conditioned by adding the time (and label) embedding to each
    block's input: h <- h + Dense(SiLU(Dense(SiLU(LN(h) + emb))))."""

    hidden: int = 256
    depth: int = 3
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, c_noise: Array, labels: Array | None = None, train: bool = False) -> Array:
        del train
        emb = TimeEmbedding(self.hidden, 64, name="time_embed")(c_noise, x.dtype)
        if self.num_classes:
            if labels is None:
                labels = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
            emb = emb + LabelEmbedding(self.num_classes, self.hidden)(labels).astype(emb.dtype)
        h = named.dense(self.hidden, (None, EMBED))(x.reshape(x.shape[0], -1))
        for _ in range(self.depth):
            r = nn.silu(named.layer_norm()(h) + emb)
            h = h + named.dense(self.hidden, (MLP, EMBED))(nn.silu(named.dense(self.hidden, (EMBED, MLP))(r)))
        out = named.dense(x[0].size, (EMBED, None), nn.initializers.zeros)(nn.silu(named.layer_norm()(h)))
        return out.reshape(x.shape)


BACKBONES = {"unet": UNet, "dit": DiT, "mlp": MLPDenoiser, "diffwave": DiffWave}


def make_backbone(name: str, num_classes: int | None, kwargs: dict[str, Any]) -> nn.Module:
    """Backbone `name` with its dataclass fields from `kwargs` (config.objective.net)."""
    if name not in BACKBONES:
        raise ValueError(f"config.objective.backbone={name!r}; choose one of {sorted(BACKBONES)}")
    cls = BACKBONES[name]
    fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name", "num_classes"}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise ValueError(
            f"config.objective.net has unknown field(s) {unknown} for backbone {name!r}; known: {sorted(fields)}"
        )
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    return cls(num_classes=num_classes, **kwargs)
