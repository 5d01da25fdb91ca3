"""Likelihood terms against closed forms in float64: scipy's Bernoulli, normal and logistic
distributions, brute-force sums over mixture components and over every bin, PixelCNN++'s reference
loss (written here in torch), and samplers against the probabilities they draw from."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from genjax.losses import likelihoods as lk


def _grid(num_bins, value_range):
    lo, hi = value_range
    return lo + (hi - lo) * np.arange(num_bins) / (num_bins - 1)


def _log_diff_exp(a, b):
    """log(e^a - e^b) for a >= b, float64."""
    return a + np.log1p(-np.exp(b - a))


def _logistic_bin_log_prob_ref(mean, scale, x, num_bins, value_range):
    """log(F(upper) - F(lower)) of the bin of x, edges lo + (p -+ 1/2) w (the edge bins open), in
    float64 with scipy: differences of the CDF left of the mean, of the survival function right of
    it, so that neither cancels."""
    lo, hi = value_range
    w = (hi - lo) / (num_bins - 1)
    level = np.round((x - lo) / w)
    upper = np.where(level == num_bins - 1, np.inf, lo + (level + 0.5) * w)
    lower = np.where(level == 0, -np.inf, lo + (level - 0.5) * w)
    d = stats.logistic(loc=mean, scale=scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        left = _log_diff_exp(d.logcdf(upper), d.logcdf(lower))
        right = _log_diff_exp(d.logsf(lower), d.logsf(upper))
    return np.where(lower > mean, right, left)


def test_bernoulli_against_scipy():
    r = np.random.default_rng(0)
    logits, x = r.normal(size=(4, 3, 5)) * 3, (r.random((4, 3, 5)) < 0.5).astype(np.float32)
    ref = stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-logits))).reshape(4, -1).sum(axis=1)
    np.testing.assert_allclose(lk.bernoulli_log_prob(jnp.asarray(logits, jnp.float32), jnp.asarray(x)), ref, rtol=1e-5)


@pytest.mark.parametrize("learned", [False, True])
def test_gaussian_against_scipy(learned):
    r = np.random.default_rng(1)
    mean, x = r.normal(size=(4, 2, 3)), r.normal(size=(4, 2, 3))
    log_scale = r.normal(size=(4, 2, 3)) * 0.5 if learned else np.log(0.3)
    ref = stats.norm.logpdf(x, mean, np.exp(log_scale)).reshape(4, -1).sum(axis=1)
    got = lk.gaussian_log_prob(jnp.asarray(mean), jnp.asarray(log_scale) if learned else log_scale, jnp.asarray(x))
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def _logistic_cases(num_bins, value_range):
    """(mean, log_scale, x) [6, 5, L] float64: every level for means inside and outside the range
    and scales from a thousandth of a bin (far tails: log P of -1e5) to ten times the range."""
    lo, hi = value_range
    w = (hi - lo) / (num_bins - 1)
    means = np.array([lo, hi, (lo + hi) / 2, lo - 0.3 * (hi - lo), hi + 0.1, lo + 0.37 * (hi - lo)])
    log_scales = np.log(np.array([1e-3 * w, 0.05 * w, w, 0.2 * (hi - lo), 10 * (hi - lo)]))
    return np.meshgrid(means, log_scales, _grid(num_bins, value_range), indexing="ij")


CASES = [(256, (-1.0, 1.0)), (256, (0.0, 1.0)), (2, (-1.0, 1.0)), (5, (0.0, 4.0))]


@pytest.mark.parametrize("num_bins, value_range", CASES)
def test_discretized_logistic_is_the_logistic_cdf_difference(num_bins, value_range):
    """In float64: equal to scipy's CDF differences at every level, edge bins included, and the
    probabilities of the L levels sum to 1."""
    m, ls, x = _logistic_cases(num_bins, value_range)
    ref = _logistic_bin_log_prob_ref(m, np.exp(ls), x, num_bins, value_range)
    with jax.enable_x64(True):
        args = [jnp.asarray(a, jnp.float64) for a in (m, ls, x)]
        got = np.asarray(lk.discretized_logistic_bin_log_prob(*args, num_bins=num_bins, value_range=value_range))
        per_example = lk.discretized_logistic_log_prob(*args, num_bins=num_bins, value_range=value_range)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.exp(got).sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(per_example, ref.reshape(len(ref), -1).sum(axis=1), rtol=1e-9)


@pytest.mark.parametrize("num_bins, value_range", CASES)
def test_discretized_logistic_in_float32(num_bins, value_range):
    """In float32 the bins still sum to 1 at every scale (neighbours share their edge), and log P
    is accurate where the scale exceeds the float32 spacing of the data by far (>= 1/20 bin)."""
    m, ls, x = (a.astype(np.float32) for a in _logistic_cases(num_bins, value_range))
    got = np.asarray(lk.discretized_logistic_bin_log_prob(m, ls, x, num_bins=num_bins, value_range=value_range))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(np.exp(got.astype(np.float64)).sum(axis=-1), 1.0, atol=1e-5)
    ref = _logistic_bin_log_prob_ref(m, np.exp(ls.astype(np.float64)), x, num_bins, value_range)
    np.testing.assert_allclose(got[:, 1:], ref[:, 1:], rtol=1e-5, atol=1e-4)


def _logistic_bin_grads_ref(mean, log_scale, x, num_bins=256, value_range=(-1.0, 1.0)):
    """d log P(x) / d mean and d log P(x) / d log s, differentiated by hand in float64 from
    log P = log sigma(a) + log sigma(-b) + log(1 - e^(-w/s)) (a, b the standardized upper and lower
    bin edges; the edge bins keep only their one CDF term): with d log sigma(u) / du = sigma(-u),
    da/dmean = -1/s, da/dlog s = -a, and d log(1 - e^-c) / dlog s = -c / (e^c - 1), c = w / s."""
    lo, hi = value_range
    w, s = (hi - lo) / (num_bins - 1), np.exp(log_scale)
    level = np.round((x - lo) / w)
    a, b = (lo + (level + 0.5) * w - mean) / s, (lo + (level - 0.5) * w - mean) / s
    has_upper, has_lower = level < num_bins - 1, level > 0
    d_mean = np.where(has_upper, -special.expit(-a) / s, 0.0) + np.where(has_lower, special.expit(b) / s, 0.0)
    c = w / s
    width = np.where(has_upper & has_lower, -c / np.expm1(np.minimum(c, 700.0)), 0.0)
    d_log_s = np.where(has_upper, -a * special.expit(-a), 0.0) + np.where(has_lower, b * special.expit(b), 0.0)
    return d_mean, d_log_s + width


@pytest.mark.parametrize("mean, log_scale", [(5.0, -12.0), (-5.0, -12.0), (0.0, 8.0), (0.5, -7.0), (0.1, -3.0)])
def test_discretized_logistic_gradients_match_the_closed_form_in_the_tails(mean, log_scale):
    """Gradients w.r.t. the mean and log scale at every level of 8-bit data, far in the tails
    (|x - mean| / s up to 1e6) and for wide logistics, against their closed form: finite and right."""
    x = jnp.asarray(_grid(256, (-1.0, 1.0)), jnp.float32)[None]
    g = jax.grad(lambda m, s: lk.discretized_logistic_log_prob(m, s, x).sum(), argnums=(0, 1))(
        jnp.full_like(x, mean), jnp.full_like(x, log_scale)
    )
    want = _logistic_bin_grads_ref(mean, log_scale, _grid(256, (-1.0, 1.0))[None])
    for name, got, ref in zip(("mean", "log_scale"), g, want):
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=1e-3 * np.max(np.abs(ref)), err_msg=name)


def _mixture_params(rng, shape, channels, k, coupled):
    logit_probs = rng.normal(size=(*shape, k))
    means = rng.uniform(-1.2, 1.2, size=(*shape, channels, k))
    log_scales = rng.uniform(-4.0, 0.0, size=(*shape, channels, k))
    coeffs = np.tanh(rng.normal(size=(*shape, channels * (channels - 1) // 2, k))) if coupled else None
    return logit_probs, means, log_scales, coeffs


def _mixture_log_prob_ref(logit_probs, means, log_scales, coeffs, x, num_bins, value_range):
    """Per pixel, log sum_k pi_k prod_c P(x_c | k), PixelCNN++'s RGB means written out by hand."""
    mu = means.copy()
    if coeffs is not None:
        r, g = x[..., 0, None], x[..., 1, None]
        mu[..., 1, :] = means[..., 1, :] + coeffs[..., 0, :] * r
        mu[..., 2, :] = means[..., 2, :] + coeffs[..., 1, :] * r + coeffs[..., 2, :] * g
    p_c = np.exp(_logistic_bin_log_prob_ref(mu, np.exp(log_scales), x[..., None], num_bins, value_range))
    pi = np.exp(logit_probs - logit_probs.max(-1, keepdims=True))
    pi /= pi.sum(-1, keepdims=True)
    return np.log(np.sum(pi * np.prod(p_c, axis=-2), axis=-1))


def _jnp(*arrays):
    return [None if a is None else jnp.asarray(a, jnp.float32) for a in arrays]


@pytest.mark.parametrize("channels, coupled", [(1, False), (3, True), (3, False)])
def test_mixture_against_brute_force_over_components(channels, coupled):
    rng = np.random.default_rng(2)
    shape, k = (3, 4, 5), 4
    params = _mixture_params(rng, shape, channels, k, coupled)
    x = rng.integers(0, 256, size=(*shape, channels)) / 127.5 - 1.0
    x[0, 0, 0] = -1.0  # edge bins
    x[0, 0, 1] = 1.0
    ref = _mixture_log_prob_ref(*params, x, 256, (-1.0, 1.0)).reshape(shape[0], -1).sum(axis=1)
    logit_probs, means, log_scales, coeffs, xj = _jnp(*params, x)
    got = lk.discretized_logistic_mixture_log_prob(logit_probs, means, log_scales, xj, coeffs=coeffs)
    np.testing.assert_allclose(got, ref, rtol=2e-5)


@pytest.mark.parametrize("channels, num_bins", [(1, 256), (3, 6)])
def test_mixture_probabilities_sum_to_one(channels, num_bins):
    """Over every value of a pixel (all num_bins^C colours), with the channels coupled."""
    params = _mixture_params(np.random.default_rng(3), (1,), channels, 3, coupled=channels > 1)
    colours = np.array(list(itertools.product(_grid(num_bins, (-1.0, 1.0)), repeat=channels)))  # [N, C]
    tiled = [None if p is None else np.repeat(p, len(colours), axis=0) for p in params]
    logit_probs, means, log_scales, coeffs, x = _jnp(*tiled, colours)
    log_p = lk.discretized_logistic_mixture_log_prob(
        logit_probs, means, log_scales, x, coeffs=coeffs, num_bins=num_bins
    )
    assert float(jnp.sum(jnp.exp(log_p))) == pytest.approx(1.0, abs=2e-5)


def _pixelcnn_pp_reference(logit_probs, means, log_scales, coeffs, x):
    """PixelCNN++'s `discretized_mix_logistic_loss` for RGB in [-1, 1] (openai/pixel-cnn,
    pclucas14/pixel-cnn-pp) on already split parameters, in torch: per-pixel log-probabilities,
    and where it used its approximation for bins below 1e-5."""
    import torch
    import torch.nn.functional as F

    x = x.unsqueeze(-1)
    m2 = means[..., 1, :] + coeffs[..., 0, :] * x[..., 0, :]
    m3 = means[..., 2, :] + coeffs[..., 1, :] * x[..., 0, :] + coeffs[..., 2, :] * x[..., 1, :]
    means = torch.stack([means[..., 0, :], m2, m3], dim=-2)
    centered_x = x - means
    inv_stdv = torch.exp(-log_scales)
    plus_in = inv_stdv * (centered_x + 1.0 / 255.0)
    min_in = inv_stdv * (centered_x - 1.0 / 255.0)
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    log_cdf_plus = plus_in - F.softplus(plus_in)
    log_one_minus_cdf_min = -F.softplus(min_in)
    mid_in = inv_stdv * centered_x
    log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)
    inner_inner = torch.where(
        cdf_delta > 1e-5, torch.log(torch.clamp(cdf_delta, min=1e-12)), log_pdf_mid - np.log(127.5)
    )
    log_probs = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, inner_inner))
    approximated = ((cdf_delta <= 1e-5) & (x.abs() < 0.999)).any(dim=-1).any(dim=-1)
    log_probs = log_probs.sum(dim=-2) + torch.log_softmax(logit_probs, dim=-1)
    return torch.logsumexp(log_probs, dim=-1), approximated


def test_mixture_matches_the_pixelcnn_pp_reference():
    """At the pixels where the reference computes every bin exactly (it approximates bins below
    1e-5 by the density at the bin centre), the two agree."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    params = _mixture_params(rng, (2, 8, 8), 3, 5, coupled=True)
    params[2][:] = rng.uniform(-0.5, 0.5, size=params[2].shape)  # wide components: few bins below 1e-5
    x = rng.integers(0, 256, size=(2, 8, 8, 3)) / 127.5 - 1.0
    x[0, 0, :3] = [[-1, 1, 0.2], [1, 1, 1], [-1, -1, -1]]  # edge bins
    ref, approximated = (
        t.numpy() for t in _pixelcnn_pp_reference(*(torch.tensor(a, dtype=torch.float64) for a in (*params, x)))
    )
    pixels = [a.reshape(128, *a.shape[3:]) for a in (*params, x)]  # one example per pixel
    logit_probs, means, log_scales, coeffs, xj = _jnp(*pixels)
    got = lk.discretized_logistic_mixture_log_prob(logit_probs, means, log_scales, xj, coeffs=coeffs).reshape(2, 8, 8)
    exact = ~approximated
    assert exact.mean() > 0.9
    np.testing.assert_allclose(np.asarray(got)[exact], ref[exact], rtol=1e-5)


def test_discretized_logistic_sampler_draws_the_bin_probabilities():
    n, num_bins = 40000, 8
    mean, log_scale = jnp.full((n,), 0.3), jnp.full((n,), np.log(0.4))
    x = lk.discretized_logistic_sample(jax.random.PRNGKey(0), mean, log_scale, num_bins=num_bins)
    grid = _grid(num_bins, (-1.0, 1.0))
    freq = np.mean(np.isclose(np.asarray(x)[:, None], grid[None]), axis=0)
    p = _logistic_bin_log_prob_ref(0.3, 0.4, grid, num_bins, (-1.0, 1.0))
    np.testing.assert_allclose(freq, np.exp(p), atol=4 * np.sqrt(0.25 / n))


def test_mixture_sampler_draws_the_joint_colour_probabilities():
    """RGB with 4 levels per channel: the frequencies of the 64 colours match their probabilities,
    so the sampler conditions each channel on the drawn previous ones as the likelihood does."""
    n, num_bins = 60000, 4
    params = _mixture_params(np.random.default_rng(5), (1,), 3, 3, coupled=True)
    logit_probs, means, log_scales, coeffs = _jnp(*[np.repeat(p, n, axis=0) for p in params])
    x = np.asarray(
        lk.discretized_logistic_mixture_sample(
            jax.random.PRNGKey(1), logit_probs, means, log_scales, coeffs=coeffs, num_bins=num_bins
        )
    )
    levels = np.round((x + 1) / 2 * (num_bins - 1)).astype(int)
    assert np.allclose(x, levels / (num_bins - 1) * 2 - 1)  # on the grid
    freq = np.bincount(levels @ np.array([num_bins**2, num_bins, 1]), minlength=num_bins**3) / n
    colours = np.array(list(itertools.product(_grid(num_bins, (-1.0, 1.0)), repeat=3)))
    p = np.exp(_mixture_log_prob_ref(*[np.repeat(a, len(colours), 0) for a in params], colours, num_bins, (-1.0, 1.0)))
    np.testing.assert_allclose(freq, p, atol=4 * np.sqrt(0.25 / n))


def test_mixture_sample_on_image_shaped_params_follows_the_channel_recursion():
    """[B, H, W] pixels, one component, scales ~0: each channel is the quantized mean shifted by
    the coefficients times the already drawn channels (PixelCNN++'s sampling order), in place."""
    rng = np.random.default_rng(3)
    b, h, w, c = 2, 3, 4, 3
    means = rng.uniform(-0.5, 0.5, (b, h, w, c, 1))
    coeffs = rng.uniform(-0.5, 0.5, (b, h, w, 3, 1))
    log_scales = np.full((b, h, w, c, 1), -30.0)
    x = lk.discretized_logistic_mixture_sample(
        jax.random.key(0), *_jnp(np.zeros((b, h, w, 1)), means, log_scales), coeffs=jnp.asarray(coeffs), num_bins=256
    )
    assert x.shape == (b, h, w, c)

    def q(v):  # nearest of the 256 levels of [-1, 1]
        return np.clip(np.round((v + 1) / 2 * 255), 0, 255) / 255 * 2 - 1

    x0 = q(means[..., 0, 0])
    x1 = q(means[..., 1, 0] + coeffs[..., 0, 0] * x0)
    x2 = q(means[..., 2, 0] + coeffs[..., 1, 0] * x0 + coeffs[..., 2, 0] * x1)
    np.testing.assert_allclose(np.asarray(x), np.stack([x0, x1, x2], -1), atol=1e-6)


def test_mixture_rejects_coefficients_of_the_wrong_count_and_says_how_many():
    means, log_scales = jnp.zeros((2, 3, 1)), jnp.zeros((2, 3, 1))
    with pytest.raises(ValueError, match=r"C \(C - 1\) / 2 = 3 entries for C = 3 channels"):
        lk.discretized_logistic_mixture_sample(
            jax.random.key(0), jnp.zeros((2, 1)), means, log_scales, coeffs=jnp.zeros((2, 2, 1))
        )
