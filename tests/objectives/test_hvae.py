"""The hierarchical VAE: the KL between two diagonal Gaussians against torch.distributions, the
loss's per-group KLs against that closed form of the net's posterior and prior, its log weights
against log p(x|z) + log p(z) - log q(z|x) written out with scipy, and E[log w] = the ELBO."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from ml_collections import ConfigDict
from scipy import stats

from genjax.data import DatasetMetadata
from genjax.objectives import make_objective
from genjax.objectives.base import Autoencoder, LatentModel, LikelihoodModel
from genjax.objectives.hvae import gaussian_kl_between
from genjax.objectives.iwae import sample_noise


def test_gaussian_kl_between_against_torch():
    r = np.random.RandomState(0)
    mq, mp = r.normal(size=(4, 5)), r.normal(size=(4, 5))
    lq, lp = r.normal(size=(4, 5)) * 0.5, r.normal(size=(4, 5)) * 0.5
    ours = np.asarray(gaussian_kl_between(*(jnp.asarray(a) for a in (mq, lq, mp, lp))))
    q = torch.distributions.Normal(torch.tensor(mq), torch.tensor(np.exp(lq)))
    p = torch.distributions.Normal(torch.tensor(mp), torch.tensor(np.exp(lp)))
    np.testing.assert_allclose(ours, torch.distributions.kl_divergence(q, p).numpy(), rtol=1e-5, atol=1e-6)


BACKBONES = {"resnet": dict(channels=(4, 8)), "mlp": dict(backbone="mlp", hidden=16)}
LATENT_SHAPES = {"resnet": (3, 4, 4, 2), "mlp": (3, 1, 1, 2)}
backbones = pytest.mark.parametrize("backbone", sorted(BACKBONES))


@functools.cache
def _hvae(beta=1.0, backbone="resnet"):
    meta = DatasetMetadata(
        name="t", kind="image", shape=(8, 8, 1), value_range=(0.0, 1.0), num_classes=None, bits=1, num_examples=64
    )
    cfg = dict(name="hvae", num_groups=3, latent_channels=2, num_blocks=1, beta=beta, **BACKBONES[backbone])
    obj = make_objective(ConfigDict(dict(objective=cfg)), meta)
    r = np.random.RandomState(0)
    x = jnp.asarray(r.rand(3, 8, 8, 1) > 0.5, jnp.float32)
    params = jax.jit(obj.init)(jax.random.key(0), {"x": x})["model"].params
    params = jax.tree.map(lambda p: p + 0.1 * r.normal(size=p.shape).astype(np.float32), params)  # zero inits off
    return obj, {"model": jax.tree.map(np.asarray, params)}, x


@backbones
def test_hvae_capabilities_and_shapes(backbone):
    obj, params, x = _hvae(backbone=backbone)
    assert isinstance(obj, LikelihoodModel) and isinstance(obj, Autoencoder) and isinstance(obj, LatentModel)
    z = jax.jit(obj.encode)(params, x)
    assert z.shape == (3, *LATENT_SHAPES[backbone]) and jax.jit(obj.decode)(params, z).shape == x.shape
    kl, mean = jax.jit(obj.latent_stats)(params, {}, x, jax.random.key(0))
    assert kl.shape == mean.shape == (3, 6)


def _terms(obj, params, x, eps):
    """(log p(x|z), [B, G] KL closed form, log p(z) - log q(z|x) with scipy) of z from the noise eps."""
    out, g = jax.jit(obj.net.apply)({"params": params["model"]}, x, eps)  # the whole net, encoder included
    log_px_z = obj.observation.log_prob(out, x)
    g = [np.asarray(a, np.float64) for a in g]
    mu_q, ls_q, mu_p, ls_p, z = g
    s_q, s_p = np.exp(ls_q), np.exp(ls_p)
    kl = (np.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5).sum((2, 3, 4))
    log_ratio = (stats.norm.logpdf(z, mu_p, s_p) - stats.norm.logpdf(z, mu_q, s_q)).sum((1, 2, 3, 4))
    return np.asarray(log_px_z, np.float64), kl, log_ratio, g


@backbones
def test_hvae_loss_is_the_elbo_with_closed_form_group_kls(backbone):
    obj, params, x = _hvae(0.7, backbone)
    key = jax.random.key(1)
    out = jax.jit(obj.loss, static_argnums=0)("model", params, {}, {"x": x}, key, jnp.int32(0))
    eps = jax.random.normal(key, (3, *obj.net.latent_shape))
    log_px_z, kl, _, g = _terms(obj, params, x, eps)
    mu_q, ls_q, mu_p, ls_p, z = g
    np.testing.assert_allclose(mu_p[:, 0], 0)  # p(z_1) = N(0, I)
    np.testing.assert_allclose(ls_p[:, 0], 0)
    assert np.abs(mu_p[:, 1:]).max() > 1e-2  # the lower priors depend on the groups above
    np.testing.assert_allclose(z, mu_q + np.exp(ls_q) * np.asarray(eps), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.metrics["recon"], -log_px_z, rtol=1e-5)
    for j in range(3):
        np.testing.assert_allclose(out.metrics[f"kl_group{j}"], kl[:, j], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.loss, -log_px_z + 0.7 * kl.sum(-1), rtol=1e-4)
    assert np.all(kl > 1e-3)


@backbones
def test_hvae_log_weights_and_their_mean_is_the_elbo(backbone):
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) with the noise of sample i (the log weights
    run the encoder once for all samples, the reference the whole net per sample); over many
    samples its mean equals the mean of the ELBO with analytic KLs (the same expectation)."""
    obj, params, x = _hvae(backbone=backbone)
    key = jax.random.key(2)
    n = 1000
    log_w = np.asarray(jax.jit(lambda p: obj.log_weights(p, x, key)(jnp.arange(n)))(params), np.float64)  # [n, B]
    noise = sample_noise(key, jnp.arange(n), (3, *obj.net.latent_shape))
    for i in (0, 7):
        log_px_z, _, log_ratio, _ = _terms(obj, params, x, noise[i])
        np.testing.assert_allclose(log_w[i], log_px_z + log_ratio, rtol=1e-4)

    def elbo(eps):  # log p(x|z) - sum_g KL_g with the closed-form KLs of the net's groups
        log_px_z, g = obj.forward(params, x, eps)
        return log_px_z - obj.group_kl(g).sum((1, 2, 3, 4))

    elbo = np.asarray(jax.jit(jax.vmap(elbo))(noise), np.float64)  # [n, B]
    _, kl, _, _ = _terms(obj, params, x, noise[3])
    np.testing.assert_allclose(
        elbo[3], np.asarray(jax.jit(obj.forward)(params, x, noise[3])[0]) - kl.sum(-1), rtol=1e-4
    )
    se = np.sqrt(log_w.var(0) / n + elbo.var(0) / len(elbo))
    assert np.all(np.abs(log_w.mean(0) - elbo.mean(0)) < 4 * se + 1e-3), (log_w.mean(0), elbo.mean(0), se)
    # k = 1 is the ELBO; L_k with k = 50 is above it
    score = jax.jit(obj.log_likelihood, static_argnames=("k", "chunk"))
    ll_1, ll_50 = score(params, {}, {"x": x}, key, k=1), score(params, {}, {"x": x}, key, k=50, chunk=25)
    assert np.all(np.asarray(ll_50) > elbo.mean(0)) and ll_1.shape == (3,)


@backbones
def test_hvae_prior_and_decoder_see_x_only_through_z(backbone):
    """Decoding the sampled groups z, with no x, gives the same p(x|z) parameters and the same
    priors as the pass that inferred them from x: the importance weights' p(x|z) p(z) cannot depend
    on x but through z (else the NLL estimate would be optimistic)."""
    obj, params, x = _hvae(backbone=backbone)
    variables = {"params": params["model"]}
    eps = jax.random.normal(jax.random.key(3), (3, *obj.net.latent_shape))
    out, groups = jax.jit(obj.net.apply)(variables, x, eps)
    decoded = jax.jit(lambda v, z: obj.net.apply(v, z, method="decode"))(variables, groups.z)
    np.testing.assert_allclose(np.asarray(decoded), np.asarray(out), rtol=1e-5, atol=1e-5)
    other = jnp.asarray(1.0 - np.asarray(x))  # another x, the same z: the same priors and p(x|z)

    def given_z(net, a, z):  # the top-down pass from a's features with every group given
        return net._top_down(a.shape[0], net.bottom_up(a), None, z)

    out_other, regrouped = jax.jit(lambda v, a: obj.net.apply(v, a, groups.z, method=given_z))(variables, other)
    np.testing.assert_allclose(np.asarray(out_other), np.asarray(out), rtol=1e-5, atol=1e-5)
    for a, b in ((regrouped.mu_p, groups.mu_p), (regrouped.log_sigma_p, groups.log_sigma_p)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    assert np.abs(np.asarray(regrouped.mu_q) - np.asarray(groups.mu_q)).max() > 1e-3  # q does see x
