"""Vector quantization (genjax.losses.vector_quantization) and the VQ-VAE objective: nearest codes
by brute force, the EMA codebook update against a numpy loop of the paper's appendix A.1 with
Laplace smoothing, the straight-through gradient, dead-code restarts, the perplexity formula, and
the VQ-VAE's loss, state and codes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict
from scipy import stats

from genjax.data import DatasetMetadata
from genjax.losses import vector_quantization as vq
from genjax.objectives import make_objective
from genjax.objectives.base import Autoencoder, LikelihoodModel


def _book(seed=0, k=6, d=3):
    r = np.random.RandomState(seed)
    e = r.normal(size=(k, d)).astype(np.float32)
    return vq.Codebook(
        jnp.asarray(e),
        jnp.asarray(r.uniform(0.5, 2, k), jnp.float32),
        jnp.asarray(e * 1.3),
        jnp.asarray(r.randint(0, 5, k), jnp.int32),
    )


def test_nearest_code_by_brute_force():
    r = np.random.RandomState(0)
    z, e = r.normal(size=(50, 4)).astype(np.float32), r.normal(size=(9, 4)).astype(np.float32)
    brute = [min(range(9), key=lambda k: sum((z[n, j] - e[k, j]) ** 2 for j in range(4))) for n in range(50)]
    np.testing.assert_array_equal(vq.nearest_codes(jnp.asarray(z), jnp.asarray(e)), brute)


@pytest.mark.parametrize("decay", [0.9, 0.3])  # below 0.5, 1 - decay and 1 % decay differ
def test_ema_update_against_a_numpy_loop(decay):
    eps = 1e-3
    book = _book()
    r = np.random.RandomState(1)
    z = r.normal(size=(20, 3)).astype(np.float32)
    codes = r.choice([0, 1, 3, 4], size=20)  # codes 2 and 5 unused
    new = vq.ema_update(book, jnp.asarray(z), jnp.asarray(codes), decay, eps)

    k = 6
    count, total_sum = np.array(book.ema_count, np.float64), np.array(book.ema_sum, np.float64)
    for j in range(k):
        n_j = sum(1 for c in codes if c == j)
        s_j = sum((z[i] for i in range(20) if codes[i] == j), np.zeros(3))
        count[j] = decay * count[j] + (1 - decay) * n_j
        total_sum[j] = decay * total_sum[j] + (1 - decay) * s_j
    n = count.sum()
    smoothed = (count + eps) / (n + k * eps) * n
    np.testing.assert_allclose(new.ema_count, count, rtol=1e-6)
    np.testing.assert_allclose(new.ema_sum, total_sum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.embedding, total_sum / smoothed[:, None], rtol=1e-5, atol=1e-6)
    expected_unused = [0 if j in codes else int(book.unused[j]) + 1 for j in range(k)]
    np.testing.assert_array_equal(new.unused, expected_unused)


def test_straight_through_gradient_is_the_identity():
    """d/dz f(z + sg(z_q - z)) = f'(z_q): the forward value is z_q, the gradient passes to z."""
    r = np.random.RandomState(2)
    z, z_q = jnp.asarray(r.normal(size=(5, 3))), jnp.asarray(r.normal(size=(5, 3)))
    f = lambda v: jnp.sum(jnp.sin(v) * v)  # noqa: E731
    np.testing.assert_allclose(vq.straight_through(z, z_q), z_q, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        jax.grad(lambda v: f(vq.straight_through(v, z_q)))(z), jax.grad(f)(z_q), rtol=1e-5, atol=1e-6
    )
    # the commitment loss pulls z towards sg(z_q) only: d/dz |z - sg(z_q)|^2 = 2 (z - z_q), none to z_q
    np.testing.assert_allclose(jax.grad(lambda v: vq.commitment_loss(v, z_q).sum())(z), 2 * (z - z_q), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda q: vq.commitment_loss(z, q).sum())(z_q), 0.0)


def test_dead_codes_restart_at_encoder_outputs():
    book = _book()  # unused counters in [0, 5)
    z = jnp.asarray(np.random.RandomState(3).normal(size=(7, 3)), jnp.float32)
    new, restarts = vq.restart_dead_codes(book, z, jax.random.key(0), restart_after=3)
    dead = np.asarray(book.unused) >= 3
    assert 0 < dead.sum() < 6 and int(restarts) == dead.sum()
    zs = np.asarray(z)
    for j in range(6):
        if dead[j]:
            assert min(np.abs(np.asarray(new.embedding[j]) - row).max() for row in zs) == 0  # a row of z
            np.testing.assert_array_equal(new.ema_sum[j], new.embedding[j])
            assert float(new.ema_count[j]) == 1 and int(new.unused[j]) == 0
        else:
            for a, b in zip(new, book):
                np.testing.assert_array_equal(a[j], b[j])


@pytest.mark.parametrize("codes, k", [([0, 0, 1, 2, 2, 2, 5], 6), ([3] * 4, 4), (list(range(8)), 8)])
def test_perplexity_is_the_exponentiated_entropy(codes, k):
    p = np.bincount(codes, minlength=k) / len(codes)
    np.testing.assert_allclose(vq.perplexity(jnp.asarray(codes), k), np.exp(stats.entropy(p)), rtol=1e-6)


def _vqvae(**fields):
    meta = DatasetMetadata(
        name="t", kind="image", shape=(8, 8, 1), value_range=(0.0, 1.0), num_classes=None, bits=1, num_examples=64
    )
    cfg = dict(name="vqvae", embedding_dim=3, channels=(4, 8), num_blocks=1, **fields)
    return make_objective(ConfigDict(dict(objective=cfg)), meta)


def test_vqvae_loss_state_and_codes():
    obj = _vqvae(restart_after=2, commitment_cost=0.25, num_codes=32)
    assert isinstance(obj, Autoencoder) and not isinstance(obj, LikelihoodModel)
    x = jnp.asarray(np.random.RandomState(0).rand(4, 8, 8, 1) > 0.5, jnp.float32)
    variables = jax.tree.map(np.asarray, obj.init(jax.random.key(0), {"x": x}))
    params, state = {"model": variables["model"].params}, {"model": variables["model"].state}
    out = obj.loss("model", params, state, {"x": x}, jax.random.key(1), 0)

    book = vq.Codebook(**state["model"]["vq"])
    z_e = np.asarray(obj.net.apply({"params": params["model"]}, x, method="encode"), np.float64)  # [4, 4, 4, 3]
    e = np.asarray(book.embedding, np.float64)
    codes = np.argmin(((z_e[..., None, :] - e) ** 2).sum(-1), axis=-1)
    logits = np.asarray(obj.net.apply({"params": params["model"]}, jnp.asarray(e[codes], jnp.float32), method="decode"))
    recon = -stats.bernoulli.logpmf(np.asarray(x), 1 / (1 + np.exp(-logits.astype(np.float64)))).sum((1, 2, 3))
    commitment = ((z_e - e[codes]) ** 2).sum((1, 2, 3))
    np.testing.assert_allclose(out.metrics["recon"], recon, rtol=1e-4)
    np.testing.assert_allclose(out.loss, recon + 0.25 * commitment, rtol=1e-4)
    used = np.unique(codes)
    np.testing.assert_allclose(out.metrics["usage"], len(used) / 32)
    # the new state: one EMA step then restarts of codes unused for 2 steps
    np.testing.assert_array_equal(out.state["model"]["vq"]["unused"], np.where(np.isin(np.arange(32), used), 0, 1))
    np.testing.assert_array_equal(obj.encode_codes(params, state, x), codes)
    np.testing.assert_allclose(
        obj.decode(params, obj.encode(params, x, state), state), obj.decode_codes(params, state, codes), rtol=1e-6
    )
    assert int(out.metrics["restarts"]) == 0 and 0 < len(used) < 32
    # with restart_after = 1 the codes unused in this batch restart at once, at encoder outputs
    out1 = dataclasses.replace(obj, restart_after=1).loss("model", params, state, {"x": x}, jax.random.key(1), 0)
    assert int(out1.metrics["restarts"]) == 32 - len(used)
    new_codes = np.asarray(out1.state["model"]["vq"]["embedding"], np.float64)
    rows = z_e.reshape(-1, 3)
    for j in set(range(32)) - set(used):
        assert np.abs(rows - new_codes[j]).max(-1).min() < 1e-6
    for j in used:
        np.testing.assert_allclose(new_codes[j], out.state["model"]["vq"]["embedding"][j])
    with pytest.raises(ValueError, match="codebook"):
        obj.decode(params, obj.encode(params, x))
