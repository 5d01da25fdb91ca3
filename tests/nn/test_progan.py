"""ProGAN networks against a numpy forward pass written from the paper's Table 2, the fade-in
identities at alpha = 0 and 1, and which layers each stage uses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.nn.gan_layers import avg_pool, pixel_norm, upsample_nearest
from genjax.nn.progan import ProGANDiscriminator, ProGANGenerator, num_stages
from flax.core.meta import unbox

SHAPE = (16, 16, 1)  # stages 0, 1, 2 at 4x4, 8x8, 16x16
NET = dict(channel_base=32, channel_max=4)  # channels 4, 4, 2
N = 4


@pytest.fixture(scope="module")
def nets():
    g, d = ProGANGenerator(SHAPE, **NET), ProGANDiscriminator(SHAPE, **NET, mbstd_group=2)
    z = jnp.asarray(np.random.default_rng(1).normal(size=(N, 5)), jnp.float32)
    x = jnp.asarray(np.random.default_rng(2).normal(size=(N, *SHAPE)), jnp.float32)
    _, n = num_stages(SHAPE[0])
    # Random params (biases too, so that the reference checks them) of the shapes init gives.
    rng = np.random.default_rng(0)
    rand = lambda p: jax.tree.map(lambda v: jnp.asarray(rng.normal(size=v.shape), v.dtype), p)  # noqa: E731
    gp = rand(jax.eval_shape(lambda: unbox(g.init(jax.random.key(2), z, n))["params"]))
    dp = rand(jax.eval_shape(lambda: unbox(d.init(jax.random.key(3), x, n))["params"]))
    return g, d, gp, dp, np.asarray(z), np.asarray(x)


# ---- numpy reference ------------------------------------------------------------------------
def np_pixel_norm(v):
    return v / np.sqrt(np.mean(v**2, axis=-1, keepdims=True) + 1e-8)


def np_lrelu(v):
    return np.where(v >= 0, v, 0.2 * v)


def np_conv(p, x):
    """'SAME' k x k convolution with the equalised-lr scale 1/sqrt(k k C_in), by shifted matmuls."""
    w, b = np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)
    k, c_in = w.shape[0], w.shape[2]
    w = w / np.sqrt(k * k * c_in)
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, wd = x.shape[1:3]
    out = sum(xp[:, i : i + h, j : j + wd] @ w[i, j] for i in range(k) for j in range(k))
    return out + b


def np_dense(p, x):
    w, b = np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64)
    return x @ (w / np.sqrt(w.shape[0])) + b


def np_up(x, f=2):
    n, h, w, c = x.shape
    out = np.zeros((n, f * h, f * w, c))
    for i in range(f * h):
        for j in range(f * w):
            out[:, i, j] = x[:, i // f, j // f]
    return out


def np_down(x, f=2):
    n, h, w, c = x.shape
    out = np.zeros((n, h // f, w // f, c))
    for i in range(h // f):
        for j in range(w // f):
            out[:, i, j] = x[:, f * i : f * i + f, f * j : f * j + f].mean(axis=(1, 2))
    return out


def np_mbstd(x, g):
    """Group j of the batch holds examples j, j + N/g, ...; each example gets its group's std
    (over members, averaged over H, W, C) as an extra channel."""
    n = x.shape[0]
    m = n // g
    out = np.zeros(x.shape[:3] + (1,))
    for j in range(m):
        members = x[j::m]
        std = np.sqrt(np.mean((members - members.mean(0)) ** 2, axis=0) + 1e-8).mean()
        out[j::m] = std
    return np.concatenate([x, out], axis=-1)


def np_generator(p, z, stage, alpha):
    """Table 2 generator: normalised latent, dense to s x s, conv; per stage up, conv, conv;
    lrelu + pixel norm after each; linear toRGB; fade-in of the newest stage."""
    act = lambda v: np_pixel_norm(np_lrelu(v))  # noqa: E731
    c0 = p["b0_conv"]["kernel"].shape[-1]
    h = np_dense(p["dense"], np_pixel_norm(z.astype(np.float64))).reshape(z.shape[0], 4, 4, c0)
    h = act(np_conv(p["b0_conv"], act(h)))
    prev = h
    for k in range(1, stage + 1):
        prev = h
        h = act(np_conv(p[f"b{k}_conv1"], act(np_conv(p[f"b{k}_conv0"], np_up(h)))))
    x = np_conv(p[f"to_rgb{stage}"], h)
    if stage == 0:
        return x
    return (1 - alpha) * np_up(np_conv(p[f"to_rgb{stage - 1}"], prev)) + alpha * x


def np_discriminator(p, x, stage, alpha, group):
    act = lambda v: np.sqrt(2) * np_lrelu(v)  # noqa: E731
    x = x.astype(np.float64)
    h = act(np_conv(p[f"from_rgb{stage}"], x))
    for k in range(stage, 0, -1):
        h = np_down(act(np_conv(p[f"b{k}_conv1"], act(np_conv(p[f"b{k}_conv0"], h)))))
        if k == stage:
            h = (1 - alpha) * act(np_conv(p[f"from_rgb{k - 1}"], np_down(x))) + alpha * h
    h = act(np_conv(p["b0_conv"], np_mbstd(h, group)))
    h = act(np_dense(p["b0_fc"], h.reshape(h.shape[0], -1)))
    return np_dense(p["out"], h)[:, 0]


# ---- tests ----------------------------------------------------------------------------------
def test_resampling_and_pixel_norm_match_numpy():
    x = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(upsample_nearest(jnp.asarray(x), 3), np_up(x, 3).astype(np.float32))
    np.testing.assert_allclose(avg_pool(jnp.asarray(x), 2), np_down(x, 2), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pixel_norm(jnp.asarray(x)), np_pixel_norm(x), rtol=1e-6)
    with pytest.raises(ValueError, match="not divisible"):
        avg_pool(jnp.zeros((1, 4, 6, 1)), 4)


@pytest.mark.parametrize("stage,alpha", [(0, 1.0), (1, 0.3), (2, 0.7), (2, 1.0)])
def test_networks_match_numpy_reference(nets, stage, alpha):
    g, d, gp, dp, z, x = nets
    out = g.apply({"params": gp}, jnp.asarray(z), stage, alpha)
    assert out.shape == (N, 4 * 2**stage, 4 * 2**stage, 1)
    np.testing.assert_allclose(out, np_generator(gp, z, stage, alpha), rtol=2e-4, atol=2e-5)
    xk = np_down(x, 2 ** (2 - stage))
    logits = d.apply({"params": dp}, jnp.asarray(xk, jnp.float32), stage, alpha)
    np.testing.assert_allclose(logits, np_discriminator(dp, xk, stage, alpha, 2), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("stage", [1, 2])
def test_fade_in_endpoints_are_exact(nets, stage):
    """alpha = 0: stage k is stage k-1 (G upsampled, D on the downsampled image), bit for bit;
    alpha = 1: the new path only (no contribution of the previous toRGB / fromRGB)."""
    g, d, gp, dp, z, x = nets
    G = lambda p, k, a: np.asarray(g.apply({"params": p}, jnp.asarray(z), k, a))  # noqa: E731
    np.testing.assert_array_equal(G(gp, stage, 0.0), np.asarray(upsample_nearest(G(gp, stage - 1, 1.0))))
    xk = jnp.asarray(np_down(x, 2 ** (2 - stage)), jnp.float32)
    D = lambda p, v, k, a: np.asarray(d.apply({"params": p}, v, k, a))  # noqa: E731
    np.testing.assert_array_equal(D(dp, xk, stage, 0.0), D(dp, avg_pool(xk), stage - 1, 1.0))
    # alpha = 1: changing the previous resolution's toRGB / fromRGB changes nothing
    g_other = {**gp, f"to_rgb{stage - 1}": jax.tree.map(lambda v: v + 1.0, gp[f"to_rgb{stage - 1}"])}
    d_other = {**dp, f"from_rgb{stage - 1}": jax.tree.map(lambda v: v + 1.0, dp[f"from_rgb{stage - 1}"])}
    np.testing.assert_array_equal(G(gp, stage, 1.0), G(g_other, stage, 1.0))
    np.testing.assert_array_equal(D(dp, xk, stage, 1.0), D(d_other, xk, stage, 1.0))
    assert not np.array_equal(G(gp, stage, 0.5), G(g_other, stage, 0.5))


def _used(grads):
    return {name for name, leaf in grads.items() if any(np.any(np.asarray(v) != 0) for v in jax.tree.leaves(leaf))}


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_each_stage_uses_its_layers_only(nets, stage):
    """Params are created for every stage at init; stage k's gradients are zero on the layers
    of higher resolutions and on the toRGB / fromRGB layers it does not fade from."""
    g, d, gp, dp, z, x = nets
    xk = jnp.asarray(np_down(x, 2 ** (2 - stage)), jnp.float32)
    g_grads = jax.jit(jax.grad(lambda p: jnp.sum(g.apply({"params": p}, jnp.asarray(z), stage, 0.5) ** 2)))(gp)
    d_grads = jax.jit(jax.grad(lambda p: jnp.sum(d.apply({"params": p}, xk, stage, 0.5))))(dp)
    blocks = {f"b{k}_conv{i}" for k in range(1, stage + 1) for i in (0, 1)}
    rgb = {stage, stage - 1} if stage else {0}
    assert _used(g_grads) == {"dense", "b0_conv", *blocks, *(f"to_rgb{k}" for k in rgb)}
    assert _used(d_grads) == {"b0_conv", "b0_fc", "out", *blocks, *(f"from_rgb{k}" for k in rgb)}
    assert set(g_grads) == set(gp) and set(d_grads) == set(dp)  # one param tree for all stages


def test_bad_stages_are_errors(nets):
    g, d, gp, dp, z, x = nets
    with pytest.raises(ValueError, match="stage 3 out of range.*stages 0..2"):
        g.apply({"params": gp}, jnp.asarray(z), 3, 1.0)
    with pytest.raises(ValueError, match="init at the final stage 2"):
        g.init(jax.random.key(0), jnp.asarray(z), 1)
    with pytest.raises(ValueError, match="stage 1 takes 8x8 images"):
        d.apply({"params": dp}, jnp.asarray(x), 1, 1.0)
