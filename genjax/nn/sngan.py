"""SNGAN ResNet (Miyato et al. 2018, appendix B.4; Gulrajani et al. 2017) with a projection
discriminator (Miyato & Koyama 2018) and conditional batch norm in the generator for
class-conditional generation. 32x32: 4 -> 8 -> 16 -> 32; 28x28: 7 -> 14 -> 28."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.dcgan import num_upsamplings
from genjax.nn.spectral_norm import SNConv, SNDense, SNEmbed
from genjax.nn.named import batch_norm, conv, dense, embed

Array = jax.Array


def _up(x: Array) -> Array:  # nearest-neighbour 2x
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _down(x: Array) -> Array:  # 2x2 average pooling
    return nn.avg_pool(x, (2, 2), (2, 2))


class CondBatchNorm(nn.Module):
    """Batch norm whose scale and shift come from the class (de Vries et al. 2017); plain
    batch norm when num_classes is None."""

    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None, train: bool) -> Array:
        if not self.num_classes:
            return batch_norm(use_running_average=not train, momentum=0.9)(x)
        x = batch_norm(use_running_average=not train, momentum=0.9, use_scale=False, use_bias=False)(x)
        c = x.shape[-1]
        gamma = embed(self.num_classes, c, nn.initializers.ones)(y)
        beta = embed(self.num_classes, c, nn.initializers.zeros)(y)
        return x * gamma[:, None, None, :].astype(x.dtype) + beta[:, None, None, :].astype(x.dtype)


class GenBlock(nn.Module):
    """BN-ReLU-up-conv3-BN-ReLU-conv3, shortcut up-conv1."""

    features: int
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None, train: bool) -> Array:
        h = nn.relu(CondBatchNorm(self.num_classes)(x, y, train))
        h = conv(self.features, (3, 3))(_up(h))
        h = nn.relu(CondBatchNorm(self.num_classes)(h, y, train))
        h = conv(self.features, (3, 3))(h)
        return h + conv(self.features, (1, 1))(_up(x))


class DiscBlock(nn.Module):
    """ReLU-conv3-ReLU-conv3(-avgpool), shortcut conv1(-avgpool); `first` is the 'optimized'
    block without the leading ReLU and with the pooling before the shortcut conv."""

    features: int
    down: bool = True
    first: bool = False

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        h = x if self.first else nn.relu(x)
        h = SNConv(self.features, (3, 3))(h, update_stats=train)
        h = SNConv(self.features, (3, 3))(nn.relu(h), update_stats=train)
        if self.down:
            h = _down(h)
        if self.first:
            s = SNConv(self.features, (1, 1))(_down(x), update_stats=train)
        elif self.down or x.shape[-1] != self.features:
            s = SNConv(self.features, (1, 1))(x, update_stats=train)
            s = _down(s) if self.down else s
        else:
            s = x
        return h + s


class SNGANGenerator(nn.Module):
    """z [B, z_dim] (+ y [B]) -> images [B, H, W, C] in (-1, 1)."""

    out_shape: tuple[int, int, int]
    ch: int = 128
    num_classes: int | None = None

    @nn.compact
    def __call__(self, z: Array, y: Array | None = None, train: bool = False) -> Array:
        s, n = num_upsamplings(self.out_shape[0])
        h = dense(s * s * self.ch)(z).reshape(z.shape[0], s, s, self.ch)
        for _ in range(n):
            h = GenBlock(self.ch, self.num_classes)(h, y, train)
        h = nn.relu(batch_norm(use_running_average=not train, momentum=0.9)(h))
        return jnp.tanh(conv(self.out_shape[-1], (3, 3))(h))


class SNGANDiscriminator(nn.Module):
    """images [B, H, W, C] (+ y [B]) -> logits [B]: optimized block, `num_down - 1` further
    down-sampling blocks, two plain blocks, ReLU, global sum pooling, linear + projection."""

    ch: int = 128
    num_down: int = 2
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x: Array, y: Array | None = None, train: bool = False) -> Array:
        h = DiscBlock(self.ch, down=True, first=True)(x, train)
        for _ in range(self.num_down - 1):
            h = DiscBlock(self.ch, down=True)(h, train)
        for _ in range(2):
            h = DiscBlock(self.ch, down=False)(h, train)
        h = jnp.sum(nn.relu(h), axis=(1, 2))  # [B, ch]
        out = SNDense(1)(h, update_stats=train)[:, 0]
        if self.num_classes:
            emb = SNEmbed(self.num_classes, self.ch)(y, update_stats=train)
            out = out + jnp.sum(emb.astype(h.dtype) * h, axis=-1)
        return out
