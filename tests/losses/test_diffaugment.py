"""DiffAugment against a port of the reference PyTorch code (mit-han-lab/data-efficient-gans)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.losses import diffaugment as da

torch = pytest.importorskip("torch")
F = torch.nn.functional
RNG = np.random.default_rng(0)


# ---- reference (DiffAugment_pytorch.py), with the random draws passed in; NCHW -------------
def ref_translation(x, translation_x, translation_y):
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def ref_cutout(x, offset_x, offset_y, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0)), torch.arange(cutout_size[0]), torch.arange(cutout_size[1]), indexing="ij"
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


def ref_color(x, b, s, c):
    x = x + (b.view(-1, 1, 1, 1))
    m = x.mean(dim=1, keepdim=True)
    x = (x - m) * s.view(-1, 1, 1, 1) + m
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - m) * c.view(-1, 1, 1, 1) + m


def nhwc(t):
    return np.asarray(t.permute(0, 2, 3, 1))


X = RNG.uniform(-1, 1, size=(6, 8, 8, 3)).astype(np.float32)
XT = torch.from_numpy(X).permute(0, 3, 1, 2)


def test_translation_matches_reference():
    tx = np.array([-1, 0, 1, 1, -1, 0])
    ty = np.array([1, -1, 0, 1, 0, 0])
    out = da.translation(jnp.asarray(X), jnp.asarray(tx), jnp.asarray(ty))
    ref = ref_translation(XT, torch.tensor(tx).view(-1, 1, 1), torch.tensor(ty).view(-1, 1, 1))
    np.testing.assert_allclose(out, nhwc(ref), rtol=1e-6)


def test_cutout_matches_reference():
    ox = np.array([0, 8, 3, 5, 1, 7])  # includes the extreme offsets 0 and H
    oy = np.array([8, 0, 4, 2, 6, 1])
    out = da.cutout(jnp.asarray(X), jnp.asarray(ox), jnp.asarray(oy), (4, 4))
    ref = ref_cutout(XT, torch.tensor(ox).view(-1, 1, 1), torch.tensor(oy).view(-1, 1, 1))
    np.testing.assert_allclose(out, nhwc(ref), rtol=1e-6)


def test_color_matches_reference():
    b, s, c = (RNG.uniform(size=6).astype(np.float32) for _ in range(3))
    out = da.contrast(da.saturation(da.brightness(jnp.asarray(X), jnp.asarray(b)), jnp.asarray(s)), jnp.asarray(c))
    ref = ref_color(XT, *(torch.from_numpy(v) for v in (b, s, c)))
    np.testing.assert_allclose(out, nhwc(ref), rtol=1e-5, atol=1e-6)


def test_diff_augment_random_draws_and_gradient():
    x = jnp.asarray(X)
    y = da.diff_augment(x, jax.random.key(0))
    assert y.shape == x.shape
    assert not np.allclose(y, x)
    # Cutout zeroes a (clipped) 4x4 square in every image.
    zeros = np.all(np.asarray(da.diff_augment(x, jax.random.key(0), ("cutout",))) == 0, -1)
    assert np.all((zeros.sum((1, 2)) >= 4) & (zeros.sum((1, 2)) <= 16))
    g = jax.grad(lambda v: jnp.sum(da.diff_augment(v, jax.random.key(1)) ** 2))(x)
    assert np.all(np.isfinite(g)) and np.any(g != 0)
    with pytest.raises(ValueError, match="policy"):
        da.diff_augment(x, jax.random.key(0), ("flip",))
    with pytest.raises(ValueError, match="images"):
        da.diff_augment(jnp.zeros((4, 2)), jax.random.key(0))
