"""The VAE: its KL term against scipy, its observation models, its loss against the ELBO written
out (beta != 1), its ELBO as a likelihood (reported nats and bits/dim against an independent
computation), and it learns."""

import dataclasses
import math
import types

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict
from scipy import special, stats

from genjax import data as data_lib
from genjax.config import load_config
from genjax.data import DatasetMetadata
from genjax.losses import likelihoods as lk
from genjax.objectives import make_objective
from genjax.objectives.base import LikelihoodModel
from genjax.objectives.observation import Bernoulli, DiscretizedLogistic, Gaussian, LogisticMixture
from genjax.objectives.vae import VAE, VAENet, gaussian_kl
from genjax.parallel import make_mesh
from genjax.train import init_train_state, make_train_step
from genjax.train.evaluate import evaluate, evaluate_likelihood

MESH = ConfigDict(dict(data=1, fsdp=1, tensor=1))


def test_gaussian_kl_against_monte_carlo_and_closed_form():
    r = np.random.RandomState(0)
    mu, log_var = r.normal(size=(2, 3)), r.normal(size=(2, 3)) * 0.3
    kl = np.asarray(gaussian_kl(jnp.asarray(mu), jnp.asarray(log_var)))
    std = np.exp(0.5 * log_var)
    z = mu + std * r.normal(size=(200000, 2, 3))
    mc = np.mean(np.sum(stats.norm.logpdf(z, mu, std) - stats.norm.logpdf(z), axis=-1), axis=0)
    np.testing.assert_allclose(kl, mc, atol=0.02)
    # closed form for a univariate pair: log(s2/s1) + (s1^2 + m^2) / (2 s2^2) - 1/2 with s2 = 1
    exact = np.sum(-np.log(std) + (std**2 + mu**2) / 2 - 0.5, axis=-1)
    np.testing.assert_allclose(kl, exact, rtol=1e-5)


@pytest.mark.parametrize("likelihood, beta", [("bernoulli", 0.5), ("gaussian", 2.0)])
def test_loss_is_the_negative_elbo_with_beta_weighted_kl(likelihood, beta):
    """-log p(x|z) + beta KL(q(z|x) || N(0, I)) with z = mu + exp(log_var / 2) eps, eps the
    standard normals drawn from the loss's key, written out with scipy from the net's outputs."""
    observation = Bernoulli((-1.0, 1.0)) if likelihood == "bernoulli" else Gaussian(0.3)
    objective = VAE(VAENet(shape=(2, 3), latent_dim=3, hidden=(16,)), observation, beta)
    r = np.random.RandomState(0)
    x = np.where(r.rand(4, 2, 3) > 0.5, 1.0, -1.0) if likelihood == "bernoulli" else r.uniform(-1, 1, (4, 2, 3))
    x = jnp.asarray(x, jnp.float32)
    params = {"model": objective.init(jax.random.key(0), {"x": x})["model"].params}
    key = jax.random.key(1)
    out = objective.loss("model", params, {}, {"x": x}, key, 0)

    variables = {"params": params["model"]}
    mu, log_var = (np.asarray(a, np.float64) for a in objective.net.apply(variables, x, method=VAENet.encode))
    eps = np.asarray(jax.random.normal(key, (4, 3)), np.float64)
    z = mu + np.exp(log_var / 2) * eps
    dec = np.asarray(objective.net.apply(variables, jnp.asarray(z, jnp.float32), method=VAENet.decode), np.float64)
    xs, dec = np.asarray(x, np.float64).reshape(4, -1), dec.reshape(4, -1)
    if likelihood == "bernoulli":
        recon = -stats.bernoulli.logpmf((xs + 1) / 2, 1 / (1 + np.exp(-dec))).sum(-1)
    else:
        recon = -stats.norm.logpdf(xs, dec, 0.3).sum(-1)
    sd = np.exp(log_var / 2)
    kl = np.sum(-np.log(sd) + (sd**2 + mu**2) / 2 - 0.5, axis=-1)
    np.testing.assert_allclose(out.metrics["recon"], recon, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["kl"], kl, rtol=1e-5)
    np.testing.assert_allclose(out.loss, recon + beta * kl, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["neg_elbo"], recon + kl, rtol=1e-5)
    np.testing.assert_allclose(out.metrics["nelbo_per_dim"], (recon + kl) / 6, rtol=1e-5)
    assert np.all(kl > 1e-3) and not np.allclose(z, mu, atol=1e-2)  # both terms are exercised
    # the Autoencoder view: the posterior mean, and the mean of p(x|z) in the data range [-1, 1]
    mean = lambda d: 2 / (1 + np.exp(-d)) - 1 if likelihood == "bernoulli" else d  # noqa: E731
    np.testing.assert_allclose(objective.encode(params, x), mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        objective.decode(params, jnp.asarray(z, jnp.float32)).reshape(4, -1), mean(dec), rtol=1e-5, atol=1e-6
    )
    # samples: that mean at z ~ N(0, I) drawn from the first half of the sampler's key
    z = jax.random.normal(jax.random.split(jax.random.key(2))[0], (5, 3))  # key_z of the sampler
    dec = np.asarray(objective.net.apply(variables, z, method=VAENet.decode), np.float64).reshape(5, -1)
    np.testing.assert_allclose(
        objective.sample(params, {}, jax.random.key(2), 5).reshape(5, -1), mean(dec), rtol=1e-5, atol=1e-6
    )


def test_vae_fits_a_small_batch():
    objective = VAE(VAENet(shape=(4, 4, 1), latent_dim=4, hidden=(64,)))
    x = jnp.asarray((np.random.RandomState(0).rand(8, 4, 4, 1) > 0.5) * 2.0 - 1.0, jnp.float32)
    mesh = make_mesh(MESH, jax.devices()[:1])
    state, _ = init_train_state(
        objective,
        {"model": optax.adam(3e-3)},
        jax.random.PRNGKey(0),
        {"x": jax.ShapeDtypeStruct(x.shape, x.dtype)},
        mesh,
        rules=(),
        min_fsdp_size=1 << 30,
        ema_decays=(),
    )
    step = jax.jit(make_train_step(objective))
    first = None
    for _ in range(300):
        state, m = step(state, {"x": x})
        first = float(m["model/recon"]) if first is None else first
    assert float(m["model/recon"]) < 0.25 * first
    samples = objective.sample(state.params, {}, jax.random.PRNGKey(1), 5)
    assert samples.shape == (5, 4, 4, 1) and float(samples.min()) >= -1 and float(samples.max()) <= 1


def _meta(shape=(4, 4, 3), bits=8, kind="image"):
    return DatasetMetadata("test", kind, shape, None, (-1.0, 1.0), 10, bits=bits)


R = np.random.default_rng(0)
X8 = jnp.asarray(R.integers(0, 256, (2, 4, 4, 3)) / 127.5 - 1.0, jnp.float32)
XB = jnp.asarray(R.integers(0, 2, (2, 4, 4, 3)) * 2.0 - 1.0, jnp.float32)
OBSERVATIONS = [
    (Bernoulli(), XB),
    (Gaussian(0.3), X8),
    (Gaussian(None), X8),
    (DiscretizedLogistic(256), X8),
    (LogisticMixture(4, 3, 256), X8),
    (LogisticMixture(2, 1, 4), X8[..., :1]),
]


@pytest.mark.parametrize("model, x", OBSERVATIONS, ids=lambda v: getattr(v, "name", ""))
def test_observation_model_shapes_means_and_draws(model, x):
    """log_prob per example; means and draws in the data range, draws of discrete models on their grid."""
    out = jnp.asarray(R.normal(size=(2, 4, 4, model.outputs(x.shape[-1]))), jnp.float32)
    log_p, mean, draw = jax.jit(
        lambda o, x: (model.log_prob(o, x), model.mean(o), model.sample(jax.random.PRNGKey(0), o))
    )(out, x)
    assert log_p.shape == (2,) and np.all(np.isfinite(log_p))
    for y in (mean, draw):
        assert y.shape == x.shape
        assert model.name == "gaussian" or (float(y.min()) >= -1 and float(y.max()) <= 1)
    if model.levels:
        levels = (np.asarray(draw) + 1) / 2 * (model.levels - 1)
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-5)


@pytest.mark.parametrize(
    "model", [Bernoulli((-1.0, 1.0)), Gaussian(0.3), Gaussian(None)], ids=["bern", "fixed", "learned"]
)
def test_observation_means_and_draws_follow_their_distributions(model):
    """p(x|z)'s mean and draws (the VAE's samples, draw=True) from fixed decoder outputs, 20000
    draws of 3 values: Bernoulli: -1 + 2 sigmoid(l) and P(x = 1) = sigmoid(l) (binomial z-scores);
    Gaussian: the mean output and (x - mean) / sigma ~ N(0, 1), sigma = 0.3 or exp(the learned log
    sigma), by KS tests."""
    n, head = 20000, np.array([-1.5, 0.3, 2.0], np.float32)
    if isinstance(model, Gaussian) and model.obs_std is None:
        params = np.concatenate([head, np.array([-1.0, 0.0, 0.7], np.float32)])  # (mean, log sigma) per value
    else:
        params = head
    out = jnp.asarray(np.broadcast_to(params, (n, params.size)))
    mean, draw = (np.asarray(a, np.float64) for a in (model.mean(out), model.sample(jax.random.key(5), out)))
    assert mean.shape == draw.shape == (n, 3)
    if isinstance(model, Bernoulli):
        p = 1 / (1 + np.exp(-head.astype(np.float64)))
        np.testing.assert_allclose(mean[0], 2 * p - 1, rtol=1e-5)
        assert set(np.unique(draw)) == {-1.0, 1.0}
        z = (np.mean(draw == 1.0, axis=0) - p) / np.sqrt(p * (1 - p) / n)
        assert np.all(np.abs(z) < 5), z
    else:
        sigma = 0.3 * np.ones(3) if model.obs_std is not None else np.exp(params[3:].astype(np.float64))
        np.testing.assert_allclose(mean[0], head, rtol=1e-6)
        for j in range(3):
            assert stats.kstest((draw[:, j] - head[j]) / sigma[j], "norm").pvalue > 1e-4, j


def test_observation_models_are_the_likelihood_terms_of_their_outputs():
    """Bernoulli against scipy; the logistic models split the decoder outputs as documented
    (PixelCNN++'s layout for the mixture), clamp log scales at -7 and squash coefficients by tanh."""
    r = np.random.default_rng(1)
    logits = jnp.asarray(r.normal(size=(2, 4, 4, 3)), jnp.float32)
    ref = stats.bernoulli.logpmf((np.asarray(XB) + 1) / 2, special.expit(logits)).reshape(2, -1).sum(1)
    np.testing.assert_allclose(Bernoulli().log_prob(logits, XB), ref, rtol=1e-5)
    mean = r.normal(size=(2, 4, 4, 3)).astype(np.float32)
    log_scale = (r.normal(size=(2, 4, 4, 3)) - 9).astype(np.float32)  # mostly below the clamp
    k = 4  # the mixture: K logits, then [means, log scales, coefficients] x K
    mix = r.normal(size=(2, 4, 4, k * 10)).astype(np.float32)
    rest = mix[..., k:].reshape(2, 4, 4, 9, k)

    @jax.jit
    def both(mean, log_scale, mix):
        got = (
            DiscretizedLogistic(256).log_prob(jnp.concatenate([mean, log_scale], -1), X8),
            LogisticMixture(k, 3, 256).log_prob(mix, X8),
        )
        ref = (
            lk.discretized_logistic_log_prob(mean, jnp.maximum(log_scale, -7.0), X8),
            lk.discretized_logistic_mixture_log_prob(
                mix[..., :k],
                rest[..., :3, :],
                jnp.maximum(rest[..., 3:6, :], -7.0),
                X8,
                coeffs=jnp.tanh(rest[..., 6:, :]),
            ),
        )
        return got, ref

    got, ref = both(mean, log_scale, mix)
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    # PixelCNN++'s layout: per component 1 logit and, per channel, a mean and a log scale, plus
    # C (C - 1) / 2 coefficients: 10 outputs per component for RGB, 3 for grey.
    assert LogisticMixture(k, 3, 256).outputs(3) == 10 * k and LogisticMixture(k, 1, 256).outputs(1) == 3 * k


@pytest.mark.parametrize(
    "likelihood, bits, discrete",
    [("bernoulli", 1, True), ("gaussian", 8, False), ("discretized_logistic", 8, True), ("logistic_mixture", 8, True)],
)
def test_the_vae_declares_whether_its_likelihood_is_discrete(likelihood, bits, discrete):
    cfg = ConfigDict(dict(name="vae", likelihood=likelihood, hidden=(8,), latent_dim=2))
    vae = make_objective(ConfigDict(dict(objective=cfg)), _meta(bits=bits))
    assert isinstance(vae, LikelihoodModel) and vae.likelihood_kind == "estimate" and vae.discrete is discrete
    assert dataclasses.replace(vae, eval_k=1).likelihood_kind == "bound"
    assert vae.observation.levels == (2**bits if discrete else None)


def test_discrete_likelihoods_need_their_levels():
    """A Bernoulli likelihood of 8-bit data is a cross-entropy, not a likelihood: refused for
    bits/dim; discretized likelihoods need b-bit images."""
    cfg = ConfigDict(dict(objective=dict(name="vae", likelihood="bernoulli", hidden=(8,), latent_dim=2)))
    vae = make_objective(cfg, _meta(bits=8))
    variables = vae.init(jax.random.PRNGKey(0), {"x": jnp.zeros((2, 4, 4, 3))})
    with pytest.raises(ValueError, match="probabilities of 2 levels per value, but the data has 256 levels"):
        vae.log_likelihood(
            {"model": variables["model"].params}, {}, {"x": jnp.zeros((2, 4, 4, 3))}, jax.random.PRNGKey(0)
        )
    cfg.objective.likelihood = "discretized_logistic"
    for meta in (_meta(shape=(2,), bits=None, kind="points"), _meta(bits=None)):
        with pytest.raises(ValueError, match="scores the levels of b-bit images"):
            make_objective(cfg, meta)


def _mlp(params, h):
    """The MLP of genjax.nn.mlp in numpy float64: relu between dense layers."""
    n = len(params)
    for i in range(n):
        h = h @ np.asarray(params[f"dense_{i}"]["kernel"], np.float64) + np.asarray(params[f"dense_{i}"]["bias"])
        h = np.maximum(h, 0.0) if i < n - 1 else h
    return h


def test_reported_nats_of_binarized_data_are_the_negative_elbo():
    """A Bernoulli VAE (eval_k = 1) on binarized digits: `evaluate_likelihood` (and `evaluate` of
    the metric nll) reports nll = -ELBO per example and bits/dim = nll / (D ln 2), against the ELBO computed here in numpy from the params: the
    encoder's log-variance is pinned at -40 (z = mu up to 2e-9), so
    -ELBO = -sum_i log Bernoulli(x_i; sigmoid(decoder(mu))_i) + 1/2 sum_j (mu_j^2 + e^-40 - 1 + 40)."""
    config = load_config("digits_vae:runlocal", ["--config.data.binarize=True"])
    config.data.batch_size = 8
    meta = data_lib.load_metadata(config.data)
    assert meta.bits == 1
    vae = dataclasses.replace(make_objective(config, meta), eval_k=1)
    x = data_lib.load_examples(config.data, 20, split=config.data.eval_split)["x"]
    params = flax.linen.meta.unbox(vae.init(jax.random.PRNGKey(0), {"x": jnp.asarray(x[:2])})["model"].params)
    latent = vae.net.latent_dim
    last = f"dense_{len(vae.net.hidden)}"
    params["encoder"][last]["kernel"] = params["encoder"][last]["kernel"].at[:, latent:].set(0.0)
    params["encoder"][last]["bias"] = params["encoder"][last]["bias"].at[latent:].set(-40.0)
    state = types.SimpleNamespace(sampling_params=lambda ema_index: {"model": params}, model_state={})
    run = types.SimpleNamespace(objective=vae, config=config, metadata=meta, state=state, mesh=make_mesh(config.mesh))
    got = evaluate_likelihood(run, 20, seed=0)
    assert evaluate(run, ["nll"], 20, seed=0) == got

    h = _mlp(params["encoder"], x.reshape(20, -1).astype(np.float64))
    mu, log_var = h[:, :latent], h[:, latent:]
    logits = _mlp(params["decoder"], mu)
    log_px_z = stats.bernoulli.logpmf((x.reshape(20, -1) + 1) / 2, special.expit(logits)).sum(axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(log_var) - 1.0 - log_var, axis=1)
    nll = kl - log_px_z
    d = math.prod(meta.shape)
    assert got["nll"] == pytest.approx(nll.mean(), rel=1e-5)
    assert got["nll_stderr"] == pytest.approx(nll.std() / math.sqrt(20), rel=1e-3)
    assert got["bits_per_dim"] == pytest.approx(nll.mean() / (d * math.log(2)), rel=1e-5)


@pytest.mark.parametrize("likelihood", ["discretized_logistic", "logistic_mixture"])
def test_vae_with_a_discretized_likelihood_learns_8bit_data(likelihood):
    """The negative ELBO of 8 fixed 8-bit images, in bits/dim, falls well below 8 (uniform)."""
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (8, 4, 4, 3)) / 127.5 - 1.0, jnp.float32)
    cfg = ConfigDict(dict(objective=dict(name="vae", likelihood=likelihood, hidden=(64,), latent_dim=4)))
    vae = make_objective(cfg, _meta(bits=8))
    params = flax.linen.meta.unbox(vae.init(jax.random.PRNGKey(0), {"x": x})["model"].params)
    opt = optax.adam(3e-3)

    @jax.jit
    def step(params, opt_state, key):
        loss = lambda p: vae.loss("model", {"model": p}, {}, {"x": x}, key, 0).loss.mean()
        updates, opt_state = opt.update(jax.grad(loss)(params), opt_state)
        return optax.apply_updates(params, updates), opt_state

    opt_state = opt.init(params)
    for i in range(300):
        params, opt_state = step(params, opt_state, jax.random.PRNGKey(i))
    bpd = -vae.log_likelihood({"model": params}, {}, {"x": x}, jax.random.PRNGKey(1)) / (48 * math.log(2))
    assert float(bpd.mean()) < 6


def test_free_bits_floor_each_dimensions_batch_mean_kl():
    """Kingma et al. 2016, eq. 15: a dimension whose batch-mean KL is below lambda counts lambda
    (no gradient), one above counts its KL; lambda = 0.5 (below 1) is applied."""
    objective = VAE(VAENet(shape=(2, 3), latent_dim=4, hidden=(16,)), Gaussian(0.3), 1.0, free_bits=0.5)
    x = jnp.asarray(np.random.RandomState(3).uniform(-1, 1, (5, 2, 3)), jnp.float32)
    params = {"model": objective.init(jax.random.key(0), {"x": x})["model"].params}
    params = jax.tree.map(lambda p: p + 0.5 * np.random.RandomState(4).normal(size=p.shape).astype(np.float32), params)
    key = jax.random.key(1)
    out = objective.loss("model", params, {}, {"x": x}, key, 0)
    _, kl_per_dim = objective.elbo_terms(params, x, key)
    kl_per_dim = np.asarray(kl_per_dim, np.float64)
    above = kl_per_dim.mean(0) > 0.5
    assert above.any() and not above.all()  # both cases occur
    expected = np.where(above, kl_per_dim, 0.5).sum(-1)
    np.testing.assert_allclose(out.metrics["kl_free_bits"], expected, rtol=1e-5)
    np.testing.assert_allclose(out.loss, out.metrics["recon"] + expected, rtol=1e-5)


def test_mixture_mean_is_the_mean_of_its_draws_with_coupled_channels():
    """PixelCNN++'s coupled channels: E[x_c] = sum_k pi_k (mu_ck + sum_{j<c} coeff_cjk E_k[x_j]),
    checked against the average of 20000 draws (3 channels, 2 components, means well inside the
    range so that clipping does not bias the draws)."""
    model, n = LogisticMixture(2, 3, 256), 20000
    logits = [0.3, -0.4]
    means = [[0.5, -0.5], [-0.1, 0.25], [0.15, 0.05]]  # [channel, component]
    log_scales = [[-3.0, -3.2]] * 3
    coeffs = np.arctanh([[0.6, -0.5], [0.4, 0.7], [-0.8, 0.3]])  # (g|r), (b|r), (b|g): tanh undone
    head = np.concatenate([logits, np.reshape(np.concatenate([means, log_scales, coeffs]), -1)]).astype(np.float32)
    out = jnp.asarray(np.broadcast_to(head, (n, 1, head.size)))
    mean = np.asarray(model.mean(out[:1]), np.float64)[0, 0]
    draws = np.asarray(model.sample(jax.random.key(3), out), np.float64)[:, 0]
    se = draws.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * se + 1 / 255), (draws.mean(axis=0), mean)
    # and the coupling matters: without it the green channel's mean is far from the draws'
    pi = special.softmax(logits)
    assert abs(float(pi @ np.asarray(means[1])) - draws[:, 1].mean()) > 0.2


def test_the_default_gaussian_observation_has_sigma_0_1():
    x, mean = np.array([[0.3, -0.2]], np.float32), np.array([[0.1, 0.0]], np.float32)
    expected = stats.norm(mean, 0.1).logpdf(x).sum()
    np.testing.assert_allclose(Gaussian().log_prob(jnp.asarray(mean), jnp.asarray(x)), [expected], rtol=1e-5)


@pytest.mark.parametrize("name", ["discretized_logistic", "logistic_mixture"])
def test_likelihood_names_read_at_run_time_select_their_model(name):
    """Names parsed from a config file or the command line are not interned literals."""
    from genjax.objectives.observation import make_observation

    meta = DatasetMetadata("test", "image", (4, 4, 3), None, (-1.0, 1.0), 10, bits=8)
    model = make_observation("".join(list(name)), meta)
    assert model.name == name and model.levels == 256


@pytest.mark.parametrize("name", ["poisson", "zebra", "a"])
def test_unknown_likelihood_is_refused_whatever_its_spelling(name):
    from genjax.objectives.observation import make_observation

    meta = DatasetMetadata("test", "image", (4, 4, 3), None, (-1.0, 1.0), 10, bits=8)
    with pytest.raises(ValueError, match="choose one of"):
        make_observation(name, meta)


def test_kl_weight_ramps_linearly_to_beta():
    """beta_t = beta min(1, t / T): 0 at the start, beta / 4 a quarter of the way, beta from T on."""
    from genjax.objectives.vae import kl_weight

    for step, expected in ((0, 0.0), (25, 0.5), (50, 1.0), (100, 2.0), (400, 2.0)):
        np.testing.assert_allclose(float(kl_weight(jnp.int32(step), 2.0, 100)), expected, rtol=1e-6)
    np.testing.assert_allclose(float(kl_weight(jnp.int32(0), 2.0, 0)), 2.0)
