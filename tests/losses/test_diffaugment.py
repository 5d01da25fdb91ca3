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


def _one_hot_images(n, h, w):
    x = np.zeros((n, h, w, 1), np.float32)
    x[:, h // 2, w // 2] = 1.0
    return jnp.asarray(x)


def test_translation_draws_every_shift_of_the_reference_range():
    """Shifts are uniform integers in [-s, s], s = int(size * ratio + 0.5) per axis (reference:
    torch.randint(-shift, shift + 1)), read off where a single lit pixel lands."""
    n, h, w = 3000, 9, 13
    y = np.asarray(da.diff_augment(_one_hot_images(n, h, w), jax.random.key(0), ("translation",), 0.25))
    flat = y[..., 0].reshape(n, -1).argmax(-1)
    # out[i, j] = x[i + tx, j + ty]: the pixel lands at (h//2 - tx, w//2 - ty).
    tx, ty = h // 2 - flat // w, w // 2 - flat % w
    for shift, s in ((tx, int(h * 0.25 + 0.5)), (ty, int(w * 0.25 + 0.5))):
        values, counts = np.unique(shift, return_counts=True)
        np.testing.assert_array_equal(values, np.arange(-s, s + 1))
        assert counts.min() > 0.6 * n / (2 * s + 1)


def test_cutout_centres_cover_the_reference_range():
    """Centres are uniform in [0, size + (1 - cut % 2)) (reference): with cuts of int(8/2+.5) = 4
    rows (even: 0..8) and int(10/2+.5) = 5 columns (odd: 0..9), read off from the zeroed rows and
    columns of an all-ones image."""
    n, h, w = 3000, 8, 10
    y = np.asarray(da.diff_augment(jnp.ones((n, h, w, 1)), jax.random.key(1), ("cutout",), cutout_ratio=0.5))
    for axis, size, cut in ((2, h, 4), (1, w, 5)):
        zeroed = np.any(y[..., 0] == 0, axis=axis)  # [N, size]: rows (axis=2) or columns (axis=1) cut
        first, last = zeroed.argmax(-1), size - 1 - zeroed[:, ::-1].argmax(-1)
        centre = np.where(first > 0, first + cut // 2, last + 1 - cut + cut // 2)
        values, counts = np.unique(centre, return_counts=True)
        np.testing.assert_array_equal(values, np.arange(0, size + 1 - cut % 2))
        assert counts.min() > 0.6 * n / len(values)


def test_color_factors_follow_the_reference_distributions():
    """brightness b ~ U[-0.5, 0.5) moves the image mean; contrast c ~ U[0.5, 1.5) scales the spread
    of the per-pixel channel means; saturation s ~ U[0, 2) scales the channel deviations (by s c)."""
    n = 4000
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (n, 4, 4, 3)).astype(np.float32))
    y = np.asarray(da.diff_augment(x, jax.random.key(2), ("color",)), np.float64)
    x = np.asarray(x, np.float64)
    b = y.mean((1, 2, 3)) - x.mean((1, 2, 3))
    pix_x, pix_y = x.mean(-1), y.mean(-1)
    c = (pix_y - pix_y.mean((1, 2), keepdims=True)).std((1, 2)) / (pix_x - pix_x.mean((1, 2), keepdims=True)).std(
        (1, 2)
    )

    def spread(v):  # each example's root-sum-square deviation from its per-pixel channel means
        return np.sqrt(((v - v.mean(-1, keepdims=True)) ** 2).sum((1, 2, 3)))

    sc = spread(y) / spread(x)
    s = sc / c
    for v, lo, hi in ((b, -0.5, 0.5), (c, 0.5, 1.5), (s, 0.0, 2.0)):
        assert v.min() >= lo - 1e-4 and v.max() < hi + 1e-4
        np.testing.assert_allclose(v.mean(), (lo + hi) / 2, atol=0.03)
        np.testing.assert_allclose(v.std(), (hi - lo) / np.sqrt(12), rtol=0.05)
