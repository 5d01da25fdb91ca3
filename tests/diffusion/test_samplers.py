"""Every sampler, driven by the exact denoiser of Gaussian data, reproduces its mean and covariance."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from genjax.diffusion import samplers, schedules

N = 4000
STEPS = {"ddpm": 200, "ddim": 50, "dpmpp_2m": 20, "euler": 100, "heun": 25}
CASES = [(name, proc, {}) for name in samplers.SAMPLERS for proc in ("ddpm", "edm")] + [
    ("ddim", "vp", {"eta": 0.5}),
    ("heun", "edm", {"s_churn": 60.0, "s_tmin": 0.05, "s_tmax": 50.0, "steps": 50}),
    ("euler", "ddpm", {"s_churn": 5.0}),
    ("heun", "ddpm", {"s_churn": 10.0}),
    ("dpmpp_2m", "ve", {}),
]


def _run(g, name, process, steps, rng, **opts):
    fn = jax.jit(lambda r: samplers.sample(name, g.denoiser(process), process, r, (N, 2), steps, **opts))
    return np.asarray(fn(rng))


@pytest.mark.parametrize("name,proc,opts", CASES, ids=lambda v: str(v))
def test_gaussian_moments(name, proc, opts, gaussian):
    process = schedules.make_process(proc)
    opts = dict(opts)
    steps = opts.pop("steps", STEPS[name])
    x = _run(gaussian, name, process, steps, jax.random.key(0), **opts)
    assert np.isfinite(x).all()
    np.testing.assert_allclose(x.mean(0), gaussian.MU, atol=0.04)
    np.testing.assert_allclose(np.cov(x.T), gaussian.COV, atol=0.035)


def test_ddpm_equals_ddim_eta_one(gaussian):
    process = schedules.DDPM("cosine", 200)
    d = gaussian.denoiser(process)
    grid = samplers.make_grid(process, 40)
    y = jax.random.normal(jax.random.key(0), (64, 2)) * process.prior_std(grid.t[0])
    a = samplers.ddpm(d, y, grid, jax.random.key(1))
    b = samplers.ddim(d, y, grid, jax.random.key(1), eta=1.0)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_steps_match_papers_x_space_formulas():
    """One step in x-space: DDPM eq. 6-7 (posterior mean and beta-tilde) and DDIM eq. 12."""
    p = schedules.DDPM("linear", 1000)
    ab = p.alpha_bar
    t, tp = 600, 450  # a respaced step t -> tp
    k = jax.random.split(jax.random.key(0), 3)
    x_t, x0, z = (np.asarray(jax.random.normal(kk, (8, 3)), np.float64) for kk in k)
    beta = 1 - ab[t] / ab[tp]
    mean = np.sqrt(ab[tp]) * beta / (1 - ab[t]) * x0 + np.sqrt(ab[t] / ab[tp]) * (1 - ab[tp]) / (1 - ab[t]) * x_t
    var = (1 - ab[tp]) / (1 - ab[t]) * beta
    ref_ddpm = mean + np.sqrt(var) * z
    s, sn = np.sqrt((1 - ab[t]) / ab[t]), np.sqrt((1 - ab[tp]) / ab[tp])
    y = x_t / np.sqrt(ab[t])
    ours = samplers.ddpm_step(y, x0, s, sn, z) * np.sqrt(ab[tp])
    np.testing.assert_allclose(ours, ref_ddpm, rtol=1e-4, atol=1e-5)
    for eta in (0.0, 0.3, 1.0):
        eps = (x_t - np.sqrt(ab[t]) * x0) / np.sqrt(1 - ab[t])
        c = eta * np.sqrt((1 - ab[tp]) / (1 - ab[t])) * np.sqrt(1 - ab[t] / ab[tp])
        ref = np.sqrt(ab[tp]) * x0 + np.sqrt(1 - ab[tp] - c**2) * eps + c * z
        ours = samplers.ddim_step(y, x0, s, sn, z, eta) * np.sqrt(ab[tp])
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_ddim_eta0_deterministic_and_invertible(gaussian):
    process = schedules.DDPM("linear", 1000)
    d = gaussian.denoiser(process)
    grid = samplers.make_grid(process, 200)
    y_T = jax.random.normal(jax.random.key(0), (256, 2)) * process.prior_std(grid.t[0])
    run = jax.jit(lambda y, r: samplers.ddim(d, y, grid, r, eta=0.0))
    x0 = run(y_T, jax.random.key(1))
    np.testing.assert_array_equal(x0, run(y_T, jax.random.key(2)))
    s_T = process.sigma_e(grid.t[0])
    invert = jax.jit(lambda x, n: samplers.ddim_invert(d, x, grid, n), static_argnums=1)
    # plain inversion: first-order error in the step size, relative to the noise scale s_T
    assert float(jnp.max(jnp.abs(invert(x0, 0) - y_T))) / s_T < 0.15


def test_ddim_fixed_point_inversion_is_exact(gaussian):
    process = schedules.EDM()
    d = gaussian.denoiser(process)
    grid = samplers.make_grid(process, 50)
    y_T = 80.0 * jax.random.normal(jax.random.key(0), (256, 2))
    x0 = jax.jit(lambda y: samplers.ddim(d, y, grid, jax.random.key(0)))(y_T)
    back = jax.jit(lambda x: samplers.ddim_invert(d, x, grid, 8))(x0)
    assert float(jnp.max(jnp.abs(back - y_T))) / 80.0 < 1e-3


def test_bad_sampler_arguments_raise():
    process = schedules.EDM()
    with pytest.raises(ValueError, match="sampler 'plms'"):
        samplers.sample("plms", None, process, jax.random.key(0), (2, 2), 10)
    with pytest.raises(ValueError, match="eta"):
        samplers.sample("ddpm", None, process, jax.random.key(0), (2, 2), 10, eta=0.5)
    with pytest.raises(ValueError, match="steps"):
        samplers.sample("ddim", None, process, jax.random.key(0), (2, 2), 0)


UNEVEN = [999, 950, 800, 520, 300, 120, 45, 10, 0]  # a DDPM sub-sequence with uneven gaps


def test_ddim_over_any_subset_of_steps_is_the_papers_recursion(gaussian):
    """DDIM (Song et al. 2021, eq. 12, eta = 0) over an uneven subsequence of the training
    timesteps, written in x-space with the closed-form eps-prediction of Gaussian data."""
    p = schedules.DDPM("linear", 1000)
    ab = p.alpha_bar.astype(np.float64)
    d = gaussian.denoiser(p)
    x_T = np.asarray(jax.random.normal(jax.random.key(0), (16, 2)), np.float64)
    x = x_T
    for i, t in enumerate(UNEVEN):
        x0 = np.asarray(d(jnp.asarray(x / np.sqrt(ab[t]), jnp.float32), float(t)), np.float64)
        eps = (x - np.sqrt(ab[t]) * x0) / np.sqrt(1 - ab[t])
        a_next = ab[UNEVEN[i + 1]] if i + 1 < len(UNEVEN) else 1.0
        x = np.sqrt(a_next) * x0 + np.sqrt(1 - a_next) * eps
    grid = samplers.make_grid(p, timesteps=UNEVEN)
    y_T = jnp.asarray(x_T / np.sqrt(ab[UNEVEN[0]]), jnp.float32)
    ours = samplers.ddim(d, y_T, grid, jax.random.key(1), eta=0.0)
    np.testing.assert_allclose(ours, x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,n", [("ddpm", 200), ("ddim", 50), ("dpmpp_2m", 25)])
def test_gaussian_moments_on_uneven_timesteps(name, n, gaussian):
    """DDIM's "quadratic" subsequence (Song et al. 2021, appendix D.2): t_i = 999 (i / n)^2."""
    process = schedules.DDPM("linear", 1000)
    times = sorted({round(999 * (i / n) ** 2) for i in range(n + 1)}, reverse=True)
    x = _run(gaussian, name, process, None, jax.random.key(0), timesteps=times)
    np.testing.assert_allclose(x.mean(0), gaussian.MU, atol=0.04)
    np.testing.assert_allclose(np.cov(x.T), gaussian.COV, atol=0.035)


@pytest.mark.parametrize(
    "proc,times,match",
    [
        ("ddpm", [500, 600, 0], "strictly decreasing"),
        ("ddpm", [999.5, 10], "must be integers in \\[0, 999\\]"),
        ("ddpm", [1000, 10], "must be integers in \\[0, 999\\]"),
        ("ddpm", [], "non-empty"),
        ("ddpm", [999, 500, -1], "must be integers in \\[0, 999\\]"),
        ("edm", [80.0, float("nan")], "finite"),
        ("edm", [80.0, 1.0, 0.0], "leave the process's range"),
    ],
)
def test_bad_timesteps_raise(proc, times, match):
    with pytest.raises(ValueError, match=match):
        samplers.sample("ddim", None, schedules.make_process(proc), jax.random.key(0), (2, 2), timesteps=times)


def test_steps_and_timesteps_must_agree():
    with pytest.raises(ValueError, match="steps=3 but 2 timesteps"):
        samplers.sample("ddim", None, schedules.DDPM(), jax.random.key(0), (2, 2), 3, timesteps=[999, 0])


def _churned_sigmas(sigma, churn, tmin, tmax):
    """Karras et al. 2022, Algorithm 2, lines 4-5: gamma_i = min(S_churn / N, sqrt(2) - 1) when
    S_tmin <= t_i <= S_tmax, else 0; sigma_hat_i = sigma_i (1 + gamma_i)."""
    n = len(sigma)
    gamma = [min(churn / n, 2**0.5 - 1) if tmin <= s <= tmax else 0.0 for s in sigma]
    return np.array([s * (1 + g) for s, g in zip(sigma, gamma)])


@pytest.mark.parametrize("tmax_on_grid", [False, True], ids=["tmax_between", "tmax_on_grid"])
@pytest.mark.parametrize("churn", [2.0, 80.0], ids=["below_cap", "capped"])
@pytest.mark.parametrize("proc", ["edm", "ddpm"])
def test_edm_churn_raises_sigma_as_algorithm_2(churn, proc, tmax_on_grid):
    """The noise level each Euler step denoises at (DDPM: at the time of that noise level), and
    the noise it adds: y_hat - y has variance S_noise^2 (sigma_hat^2 - sigma^2) (the identity
    denoiser keeps y_hat as the next state)."""
    process = schedules.make_process(proc)
    grid = samplers.make_grid(process, 8)
    sigma = np.asarray(grid.sigma[:-1], np.float64)
    # S_tmin on a grid point (the range is closed), S_tmax between the 2nd and 3rd or on the 3rd
    tmin, tmax = float(grid.sigma[5]), float(grid.sigma[2] if tmax_on_grid else np.sqrt(sigma[1] * sigma[2]))
    expected = _churned_sigmas(sigma, churn, tmin, tmax)
    assert np.sum(expected > sigma) == 4  # steps 2..5 churn; 0, 1, 6, 7 do not
    seen = []

    def identity(y, t):
        jax.debug.callback(lambda v: seen.append(float(v)), t, ordered=True)
        return y

    opts = dict(s_churn=churn, s_tmin=tmin, s_tmax=tmax, s_noise=1.5)
    y = jnp.zeros((20000, 1))
    out = jax.jit(lambda k: samplers.euler(identity, y, grid, k, process.t_of_sigma, **opts))(jax.random.key(0))
    np.testing.assert_allclose(process.sigma_e(jnp.asarray(seen)), expected, rtol=1e-6 if proc == "edm" else 1e-3)
    var = 1.5**2 * np.sum(expected**2 - sigma**2)
    np.testing.assert_allclose(np.var(np.asarray(out)), var, rtol=0.03)
