"""The ADM/DDPM UNet: DDPM's CIFAR-10 parameter count, embeddings vs diffusers, conditioning."""

import math

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from genjax.nn.embeddings import timestep_embedding
from genjax.nn.unet import UNet


def _count(tree):
    return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def test_ddpm_cifar10_parameter_count():
    """Ho et al. 2020: 35.7M parameters; diffusers' google/ddpm-cifar10-32 has 35,746,307."""
    net = UNet(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1)
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), jnp.zeros((1,))))
    assert _count(shapes) == 35_746_307


def test_parameter_count_matches_diffusers_unet2d():
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.UNet2DModel(
        sample_size=16,
        in_channels=1,
        out_channels=1,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=None,
        norm_num_groups=32,
    )
    net = UNet(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(8,), dropout=0.0)
    shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 1)), jnp.zeros((1,))))
    assert _count(shapes) == sum(p.numel() for p in ref.parameters())


def test_timestep_embedding_matches_diffusers():
    diffusers_emb = pytest.importorskip("diffusers.models.embeddings")
    torch = pytest.importorskip("torch")
    t = np.array([0.0, 1.0, 17.5, 999.0], np.float32)
    ref = diffusers_emb.get_timestep_embedding(torch.from_numpy(t), 64, flip_sin_to_cos=True, downscale_freq_shift=0)
    np.testing.assert_allclose(timestep_embedding(jnp.asarray(t), 64), ref.numpy(), atol=2e-4)


@pytest.mark.slow
def test_tiny_unet_conditioning_and_dropout():
    net = UNet(
        ch=16,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(4,),
        dropout=0.5,
        num_classes=3,
        scale_shift=True,
        num_heads=2,
    )
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 1))
    t, y = jnp.array([3.0, 500.0]), jnp.array([0, 2])
    params = net.init(jax.random.key(1), x, t, y)["params"]
    # the output convolution is zero-initialised (ADM); perturb it to see the conditioning
    params = jax.tree.map(lambda p: p + 0.05, params)
    apply = jax.jit(
        lambda labels, rng, train: net.apply({"params": params}, x, t, labels, train, rngs={"dropout": rng}),
        static_argnums=2,
    )
    dropout_rng = jax.random.key(0)
    f = lambda labels, train=False, rng=dropout_rng: apply(labels, rng, train)
    out = f(y)
    assert out.shape == x.shape
    assert not np.allclose(out, f(jnp.array([1, 1])))
    null = jax.jit(lambda: net.apply({"params": params}, x, t, None))()  # labels=None: the null class
    np.testing.assert_allclose(null, f(jnp.array([3, 3])), atol=1e-5)
    a = f(y, True, jax.random.key(0))
    b = f(y, True, jax.random.key(1))
    assert not np.allclose(a, b)


def test_bad_image_size_raises():
    with pytest.raises(ValueError, match="divisible"):
        UNet(ch=16, ch_mult=(1, 2, 2)).init(jax.random.key(0), jnp.zeros((1, 6, 6, 1)), jnp.zeros((1,)))
