"""Noise processes against their closed forms and against diffusers' schedulers."""

import numpy as np
import pytest
from scipy import integrate, stats

import jax
import jax.numpy as jnp

from genjax.diffusion import losses, schedules


@pytest.mark.parametrize("name", schedules.BETA_SCHEDULES)
def test_betas_match_diffusers(name):
    diffusers = pytest.importorskip("diffusers")
    kw = dict(
        beta_schedule={"cosine": "squaredcos_cap_v2"}.get(name, name),
        beta_start=1e-4,
        beta_end=0.02,
        num_train_timesteps=1000,
    )
    ref = diffusers.DDPMScheduler(**kw)
    ours = schedules.beta_schedule(name, 1000)
    np.testing.assert_allclose(ours, ref.betas.double().numpy(), rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(
        schedules.DDPM(name, 1000).alpha_bar, ref.alphas_cumprod.double().numpy(), rtol=1e-5, atol=1e-9
    )


def test_beta_closed_forms():
    T = 1000
    np.testing.assert_allclose(schedules.beta_schedule("linear", T)[[0, -1]], [1e-4, 0.02])
    np.testing.assert_allclose(
        np.sqrt(schedules.beta_schedule("scaled_linear", T, 0.00085, 0.012))[[0, 499, -1]],
        [0.00085**0.5, 0.00085**0.5 + 499 / 999 * (0.012**0.5 - 0.00085**0.5), 0.012**0.5],
    )
    # cosine: alpha_bar_t = f(t + 1) / f(0) with f(t) = cos^2((t/T + s)/(1 + s) pi/2), before the clip
    f = lambda t: np.cos((t / T + 0.008) / 1.008 * np.pi / 2) ** 2
    ab = schedules.DDPM("cosine", T).alpha_bar
    t = np.arange(900)
    np.testing.assert_allclose(ab[t], f(t + 1) / f(0), rtol=1e-10)


@pytest.mark.parametrize("sched", schedules.BETA_SCHEDULES)
def test_ddpm_process_table_and_inverse(sched):
    p = schedules.DDPM(sched, 100)
    t = jnp.arange(100.0)
    alpha, sigma = p.alpha_sigma(t)
    np.testing.assert_allclose(alpha, np.sqrt(p.alpha_bar), rtol=1e-5)
    np.testing.assert_allclose(sigma, np.sqrt(1 - p.alpha_bar), rtol=1e-4, atol=1e-6)
    tf = jnp.array([0.0, 3.3, 50.5, 98.9])
    np.testing.assert_allclose(p.t_of_sigma(p.sigma_e(tf)), tf, atol=2e-3)
    np.testing.assert_array_equal(p.sampling_times(10), np.arange(99, 0, -10))
    np.testing.assert_array_equal(p.sampling_times(100), np.arange(99, -1, -1))


def test_vp_against_integrated_beta():
    p = schedules.VP()
    beta = lambda s: p.beta_min + s * (p.beta_max - p.beta_min)
    for t in (0.01, 0.3, 0.9, 1.0):
        alpha_ref = np.exp(-0.5 * integrate.quad(beta, 0, t)[0])
        alpha, sigma = p.alpha_sigma(jnp.float32(t))
        np.testing.assert_allclose(alpha, alpha_ref, rtol=1e-5)
        np.testing.assert_allclose(sigma, np.sqrt(1 - alpha_ref**2), rtol=1e-4)
    t = jnp.array([1e-3, 0.2, 0.7, 1.0])
    np.testing.assert_allclose(p.t_of_sigma(p.sigma_e(t)), t, rtol=2e-4)


def test_ve_and_edm_closed_forms():
    ve = schedules.VE(0.01, 50.0)
    np.testing.assert_allclose(ve.sigma_e(jnp.array([0.0, 0.5, 1.0])), [0.01, np.sqrt(0.5), 50.0], rtol=1e-5)
    t = jnp.array([0.0, 0.25, 1.0])
    np.testing.assert_allclose(ve.t_of_sigma(ve.sigma_e(t)), t, atol=1e-5)
    edm = schedules.EDM()
    s = edm.sampling_times(18)
    np.testing.assert_allclose(s[[0, -1]], [80.0, 0.002], rtol=1e-5)
    i = 5
    ref = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    np.testing.assert_allclose(s[i], ref, rtol=1e-5)
    # Karras et al. 2022, eq. 5 at N = 2 and N = 1: both ends, and sigma_max alone.
    np.testing.assert_allclose(edm.sampling_times(2), [80.0, 0.002], rtol=1e-5)
    np.testing.assert_allclose(edm.sampling_times(1), [80.0], rtol=1e-5)
    log_sigma = np.log(np.asarray(edm.sample_t(jax.random.key(0), (20000,))))
    assert abs(log_sigma.mean() + 1.2) < 0.03 and abs(log_sigma.std() - 1.2) < 0.03


N_DRAWS = 20000


def test_ddpm_training_times_are_uniform_over_every_step():
    """t ~ U{0, ..., T-1}: index t is the (t+1)-th noise level, alpha_bar_t = prod_{s<=t} (1 - beta_s)."""
    t = np.asarray(schedules.DDPM("linear", 10).sample_t(jax.random.key(0), (N_DRAWS,)))
    assert np.array_equal(t, np.round(t))
    counts = np.bincount(t.astype(int), minlength=10)
    assert counts.size == 10 and counts.min() > 0, counts
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize(
    "process, reference",
    [
        (schedules.VP(eps_train=0.2), stats.uniform(0.2, 0.8)),
        (schedules.VE(), stats.uniform(0.0, 1.0)),
        (schedules.EDM(p_mean=-0.5, p_std=0.8), stats.lognorm(s=0.8, scale=np.exp(-0.5))),
    ],
    ids=["vp", "ve", "edm"],
)
def test_continuous_training_times_follow_their_distribution(process, reference):
    """VP: U(eps_train, 1); VE: U(0, 1); EDM: ln sigma ~ N(P_mean, P_std^2) (Karras et al. 2022, Table 1)."""
    t = np.asarray(process.sample_t(jax.random.key(1), (N_DRAWS,)), np.float64)
    assert stats.kstest(t, reference.cdf).pvalue > 1e-4


def test_the_loss_draws_one_time_per_example_uniformly():
    """The times the denoising loss trains on, recovered from its log-SNR metric through the
    closed form log(alpha_bar / (1 - alpha_bar)): one per example, uniform over the T steps."""
    process = schedules.DDPM("linear", 10)
    x0 = jnp.zeros((N_DRAWS, 1))
    _, metrics = losses.denoising_loss(lambda inp, c: inp, process, "eps", x0, jax.random.key(2))
    ab = np.cumprod(1 - np.linspace(1e-4, 0.02, 10))
    table = np.log(ab / (1 - ab))
    t = np.argmin(np.abs(np.asarray(metrics["log_snr"], np.float64)[:, None] - table), axis=1)
    np.testing.assert_allclose(np.asarray(metrics["log_snr"]), table[t], rtol=1e-4)
    counts = np.bincount(t, minlength=10)
    assert counts.min() > 0 and stats.chisquare(counts).pvalue > 1e-4, counts


@pytest.mark.parametrize(
    "name, fields, reference",
    [
        ("ve", dict(sigma_min=0.02, sigma_max=20.0), stats.uniform(np.log(0.02), np.log(20.0) - np.log(0.02))),
        ("edm", dict(p_mean=-0.4, p_std=1.1), stats.norm(-0.4, 1.1)),
    ],
    ids=["ve_log_uniform", "edm_log_normal"],
)
def test_the_loss_trains_on_the_noise_levels_of_the_paper(name, fields, reference):
    """The noise levels sigma the denoising loss trains on, recovered from its log-SNR metric
    (alpha = 1: log SNR = -2 ln sigma), against the distributions written out: VE (Song et al.
    2021) ln sigma ~ U(ln sigma_min, ln sigma_max); EDM (Karras et al. 2022, Table 1)
    ln sigma ~ N(P_mean, P_std^2), by Kolmogorov-Smirnov tests. The noise eps, recovered from the
    x0-MSE of the identity network at x0 = 0 (mse = sigma^2 eps^2), is chi-square and independent
    of sigma (a key shared by the times and the noise would tie them)."""
    process = schedules.make_process(name, **fields)
    x0 = jnp.zeros((N_DRAWS, 1))
    _, metrics = losses.denoising_loss(lambda inp, c: inp, process, "x0", x0, jax.random.key(3))
    log_sigma = -0.5 * np.asarray(metrics["log_snr"], np.float64)
    assert stats.kstest(log_sigma, reference.cdf).pvalue > 1e-4
    eps_sq = np.asarray(metrics["mse"], np.float64) / np.exp(2 * log_sigma)
    assert stats.kstest(eps_sq, stats.chi2(1).cdf).pvalue > 1e-4
    distance = np.abs(log_sigma - reference.median())  # eps^2 and any function of sigma are uncorrelated
    assert abs(stats.spearmanr(eps_sq, distance).statistic) < 0.04  # 5 standard errors at 20000 draws


def test_bad_names_raise():
    with pytest.raises(ValueError, match="schedule"):
        schedules.make_process("ddpm", schedule="quadratic")
    with pytest.raises(ValueError, match="process"):
        schedules.make_process("subvp")
    with pytest.raises(ValueError, match="sigma_maxx"):
        schedules.make_process("edm", sigma_maxx=3.0)
    with pytest.raises(ValueError, match=r"steps must be >= 1 and <= 1000, got 2000$"):
        schedules.DDPM().sampling_times(2000)
    with pytest.raises(ValueError, match=r"steps must be >= 1, got 0$"):
        schedules.EDM().sampling_times(0)
