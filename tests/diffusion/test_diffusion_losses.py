"""Loss weights against the papers' formulas; the loss regresses the right target."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from genjax.diffusion import losses, parameterization as P, schedules


def test_min_snr_matches_paper():
    """Hang et al. 2023, eq. 5 and sec. 3.3: eps: min(SNR, g)/SNR, x0: min(SNR, g), v: min(SNR, g)/(SNR + 1)."""
    p = schedules.DDPM("linear", 1000)
    alpha, sigma = p.alpha_sigma(jnp.arange(0.0, 1000.0, 37.0))
    snr = np.asarray(alpha) ** 2 / np.asarray(sigma) ** 2
    g = 5.0
    ref = {"eps": np.minimum(snr, g) / snr, "x0": np.minimum(snr, g), "v": np.minimum(snr, g) / (snr + 1)}
    for kind, w in ref.items():
        np.testing.assert_allclose(losses.loss_weight("min_snr", kind, alpha, sigma, min_snr_gamma=g), w, rtol=1e-4)


@pytest.mark.parametrize("kind", P.PARAMETERIZATIONS)
def test_edm_weighting_is_lambda_sigma_in_x0_space(kind):
    alpha, sigma = jnp.array([1.0, 0.8]), jnp.array([0.3, 2.0])
    w = losses.loss_weight("edm", kind, alpha, sigma, sigma_data=0.5)
    lam = P.edm_weight(sigma / alpha, 0.5)
    np.testing.assert_allclose(w * P.error_scale(kind, alpha, sigma, 0.5), lam, rtol=1e-5)
    if kind == "edm":
        np.testing.assert_allclose(w, 1.0, rtol=1e-5)


@pytest.mark.parametrize("proc", ["ddpm", "vp", "ve", "edm"])
@pytest.mark.parametrize("kind", P.PARAMETERIZATIONS)
def test_loss_is_weighted_mse_to_target(proc, kind):
    process = schedules.make_process(proc)
    x0 = jax.random.normal(jax.random.key(0), (6, 4, 4, 1))
    rng = jax.random.key(1)
    # reconstruct the draws the loss makes: t from the first split, eps from the second
    rng_t, rng_eps = jax.random.split(rng)
    t = process.sample_t(rng_t, (6,))
    eps = jax.random.normal(rng_eps, x0.shape)
    alpha, sigma = process.alpha_sigma(t)
    a, s = alpha[:, None, None, None], sigma[:, None, None, None]
    tgt = P.target(kind, x0, eps, a, s, 0.5)
    oracle = lambda inp, c: tgt
    loss, metrics = losses.denoising_loss(oracle, process, kind, x0, rng, "min_snr")
    np.testing.assert_allclose(loss, 0.0, atol=1e-6)
    zero = lambda inp, c: jnp.zeros_like(inp)
    loss, _ = losses.denoising_loss(zero, process, kind, x0, rng, "none")
    np.testing.assert_allclose(loss, jnp.mean(tgt**2, axis=(1, 2, 3)), rtol=1e-5)
    assert loss.shape == (6,)


@pytest.mark.parametrize("proc", ["ddpm", "vp", "ve", "edm"])
@pytest.mark.parametrize("kind", P.PARAMETERIZATIONS)
def test_network_sees_the_noised_data(proc, kind):
    """The network's input is x_t = alpha x0 + sigma eps (Ho et al. 2020, eq. 4; Karras et al.
    2022, eq. 7 with c_in = 1 / sqrt(sigma^2 + sigma_data^2) for EDM), written out in numpy."""
    process = schedules.make_process(proc)
    x0 = jax.random.normal(jax.random.key(0), (5, 3, 2, 1)) + 0.7
    rng = jax.random.key(2)
    rng_t, rng_eps = jax.random.split(rng)
    t = np.asarray(process.sample_t(rng_t, (5,)))
    eps = np.asarray(jax.random.normal(rng_eps, x0.shape))
    alpha, sigma = (np.asarray(v, np.float64)[:, None, None, None] for v in process.alpha_sigma(jnp.asarray(t)))
    x_t = alpha * np.asarray(x0) + sigma * eps
    expected = x_t / alpha / np.sqrt((sigma / alpha) ** 2 + 0.25) if kind == "edm" else x_t
    seen = []
    _, metrics = losses.denoising_loss(
        lambda inp, c: seen.append(inp) or jnp.zeros_like(inp), process, kind, x0, rng, "none"
    )
    np.testing.assert_allclose(seen[0], expected, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(metrics["log_snr"], 2 * np.log(alpha / sigma).ravel(), rtol=1e-4, atol=1e-4)


def test_loss_weight_defaults_are_the_papers():
    """sigma_data = 0.5 (Karras et al. 2022, sec. 5) and gamma = 5 (Hang et al. 2023) by default."""
    alpha, sigma = jnp.array([1.0, 1.0]), jnp.array([0.1, 3.0])
    edm = "".join(list("edm"))  # as parsed from a config: not the interned literal
    np.testing.assert_allclose(
        losses.loss_weight(edm, "x0", alpha, sigma), (sigma**2 + 0.25) / (sigma * 0.5) ** 2, rtol=1e-5
    )
    snr = (alpha / sigma) ** 2
    np.testing.assert_allclose(losses.loss_weight("min_snr", "x0", alpha, sigma), jnp.minimum(snr, 5.0), rtol=1e-5)
