"""The IWAE bound and the importance-sampled log-likelihood of the VAE (Burda et al. 2016), on a
linear-Gaussian VAE whose marginal and posterior are analytic: p(z) = N(0, I), p(x|z) = N(Wz + b,
s^2 I), so p(x) = N(b, W W^T + s^2 I) and p(z|x) = N(S W^T (x - b) / s^2, S), S = (I + W^T W /
s^2)^-1. The VAE's own networks (one dense layer each, hidden=()) are set by hand to the decoder
(W, b) and to an imperfect diagonal encoder q(z|x) = N(A (x - b), diag(v))."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict
from scipy import special, stats

from genjax.data import DatasetMetadata
from genjax.objectives import make_objective
from genjax.objectives.iwae import importance_log_likelihood, iwae_bound, sample_noise
from genjax.objectives.observation import Gaussian
from genjax.objectives.vae import VAE, VAENet

D, L, S = 4, 2, 0.6  # data dims, latent dims, observation std s
RNG = np.random.RandomState(0)
W, B = RNG.normal(size=(D, L)) * 0.8, RNG.normal(size=D)
POST_COV = np.linalg.inv(np.eye(L) + W.T @ W / S**2)  # S, the posterior covariance
A = 0.8 * POST_COV @ W.T / S**2  # q's mean: 0.8 of the posterior mean's map
Q_VAR = 1.5 * np.diag(POST_COV)  # q's diagonal variance, wider than the posterior's marginals


def linear_vae(**kwargs) -> tuple[VAE, dict]:
    vae = VAE(VAENet(shape=(D,), latent_dim=L, hidden=()), Gaussian(S), **kwargs)
    encoder = {
        "kernel": np.concatenate([A.T, np.zeros((D, L))], axis=1),
        "bias": np.concatenate([-A @ B, np.log(Q_VAR)]),
    }
    decoder = {"kernel": W.T, "bias": B}
    params = {"encoder": {"dense_0": encoder}, "decoder": {"dense_0": decoder}}
    return vae, {"model": jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)}


def exact_log_px(x: np.ndarray) -> np.ndarray:
    return stats.multivariate_normal(B, W @ W.T + S**2 * np.eye(D)).logpdf(x)


def kl_q_posterior(x: np.ndarray) -> np.ndarray:
    """KL(q(z|x) || p(z|x)) [N] of two Gaussians."""
    m_q, m_p = (x - B) @ A.T, (x - B) @ (POST_COV @ W.T / S**2).T
    prec = np.linalg.inv(POST_COV)
    d = m_p - m_q
    quad = np.einsum("ni,ij,nj->n", d, prec, d)
    return 0.5 * (np.trace(prec @ np.diag(Q_VAR)) + quad - L + np.linalg.slogdet(POST_COV)[1] - np.log(Q_VAR).sum())


X = B + RNG.normal(size=(8, D)) * 1.5  # [8, D] data points


def test_importance_sampled_log_likelihood_converges_to_the_exact_marginal():
    """log p(x) at k = 5000 (chunks of 500) within 0.05 nats of N(x; b, WW^T + s^2 I) for every x;
    at k = 1 it is the ELBO, log p(x) - KL(q || posterior) on average, below log p(x)."""
    vae, params = linear_vae()
    exact = exact_log_px(X)
    ll = jax.jit(
        lambda x, key, k, chunk: vae.log_likelihood(params, {}, {"x": x}, key, k=k, chunk=chunk), static_argnums=(2, 3)
    )
    est = np.asarray(ll(jnp.asarray(X, jnp.float32), jax.random.PRNGKey(0), 5000, 500))
    np.testing.assert_array_less(np.abs(est - exact), 0.05)

    reps = 4000  # each x repeated: independent draws of the one-sample ELBO
    elbo = np.asarray(ll(jnp.asarray(np.repeat(X, reps, axis=0), jnp.float32), jax.random.PRNGKey(1), 1, 1))
    elbo = elbo.reshape(len(X), reps)
    gap = kl_q_posterior(X)
    assert np.all(gap > 0.05)
    np.testing.assert_allclose(elbo.mean(axis=1), exact - gap, atol=4 * elbo.std(axis=1).max() / math.sqrt(reps))


def test_iwae_bound_is_non_decreasing_in_k_on_average():
    """Burda et al. Theorem 1: E[L_1] <= E[L_2] <= E[L_8] <= E[L_64] <= log p(x), over 2000 draws
    (the same noise for every k: sample i is drawn from fold_in(rng, i))."""
    vae, params = linear_vae()
    x = jnp.asarray(np.repeat(X[:1], 2000, axis=0), jnp.float32)

    @jax.jit
    def means(key):
        log_weights = vae.log_weights(params, x, key)
        return jnp.stack([importance_log_likelihood(log_weights, k, k, x.shape[0]).mean() for k in (1, 2, 8, 64)])

    l_k = np.asarray(means(jax.random.PRNGKey(2)))
    assert np.all(np.diff(l_k) > 0) and l_k[-1] < exact_log_px(X)[0]


def test_chunked_evaluation_equals_unchunked():
    """37 samples 5 at a time (the last chunk partly masked) or 37 at once, and `iwae_bound` of all
    the log weights: the same L_k."""
    vae, params = linear_vae()
    log_weights = vae.log_weights(params, jnp.asarray(X, jnp.float32), jax.random.PRNGKey(3))
    whole = np.asarray(iwae_bound(log_weights(jnp.arange(37))))
    for chunk in (5, 37, 100):
        np.testing.assert_allclose(importance_log_likelihood(log_weights, 37, chunk, len(X)), whole, rtol=1e-6)


def test_iwae_loss_is_minus_l_k_computed_in_numpy():
    """With iwae_k = 5 the training loss is -L_k = -(logsumexp_i log w_i - log 5), log w_i =
    log N(x; W z_i + b, s^2) + log N(z_i; 0, I) - log N(z_i; mu, diag v), z_i = mu + sqrt(v) eps_i
    from the VAE's noise eps_i (fold_in(rng, i)); recomputed here in float64."""
    k, rng = 5, jax.random.PRNGKey(4)
    vae, params = linear_vae(iwae_k=k)
    loss = np.asarray(vae.loss("model", params, {}, {"x": jnp.asarray(X, jnp.float32)}, rng, 0).loss)
    eps = np.asarray(sample_noise(rng, jnp.arange(k), (len(X), L)), np.float64)  # [k, N, L]
    mu = (X - B) @ A.T
    z = mu + np.sqrt(Q_VAR) * eps
    log_w = (
        stats.norm.logpdf(X, z @ W.T + B, S).sum(-1)
        + stats.norm.logpdf(z).sum(-1)
        - stats.norm.logpdf(z, mu, np.sqrt(Q_VAR)).sum(-1)
    )
    np.testing.assert_allclose(loss, -(special.logsumexp(log_w, axis=0) - math.log(k)), rtol=1e-5)


def test_iwae_hyper_parameters():
    meta = DatasetMetadata("test", "points", (D,), None, (-1.0, 1.0), 10)
    cfg = ConfigDict(
        dict(objective=dict(name="vae", likelihood="gaussian", hidden=(8,), iwae_k=4, eval_k=1, eval_chunk=7))
    )
    vae = make_objective(cfg, meta)
    assert (vae.iwae_k, vae.eval_k, vae.eval_chunk, vae.likelihood_kind) == (4, 1, 7, "bound")
    cfg.objective.beta = 0.5
    with pytest.raises(ValueError, match="the IWAE bound"):
        make_objective(cfg, meta)
    cfg.objective.iwae_k = 2  # the smallest k of the IWAE bound
    with pytest.raises(ValueError, match="the IWAE bound"):
        make_objective(cfg, meta)
    cfg.objective.iwae_k = 1  # the ELBO: beta applies
    assert make_objective(cfg, meta).beta == 0.5


DIGITS = [
    "--config.data.source=builtin:digits",
    "--config.data.split=train[:90%]",
    "--config.data.eval_split=train[90%:]",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [["digits_vae:iwae,runlocal"], ["mnist_binarized_hvae:mlp,runlocal", *DIGITS]], ids=["iwae", "hvae_mlp"]
)
def test_importance_sampled_nll_sharded_over_8_devices_equals_1(tmp_path, sub, args):
    """The batch of the k-sample evaluation is constrained to (data, fsdp): the same nll and
    bits/dim of a binarized-digits IWAE, and of the dense ladder VAE, on 8 devices as on 1."""
    sub.run_worker(["nll", tmp_path / "one.npz", *args, "--config.mesh.data=1"], devices=1)
    sub.run_worker(["nll", tmp_path / "eight.npz", *args, "--config.mesh.data=8"], devices=8)
    one, eight = sub.load(tmp_path / "one.npz"), sub.load(tmp_path / "eight.npz")
    assert sorted(one) == sorted(eight) == ["bits_per_dim", "bits_per_dim_stderr", "nll", "nll_stderr"]
    assert np.isfinite(one["nll"]) and one["nll_stderr"] > 0
    for name in one:
        np.testing.assert_allclose(eight[name], one[name], rtol=1e-4, err_msg=name)
