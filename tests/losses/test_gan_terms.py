"""Every GAN term against a brute-force or closed-form computation, and how `apply_terms` adds
terms: weights, lazy intervals, per-pack values and term states."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.losses import gan
from genjax.losses import terms as T

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(6, 5))
W2 = RNG.normal(size=(5,))
REAL = RNG.normal(size=(4, 2, 3))
FAKE = RNG.normal(size=(4, 2, 3))
KEY = jax.random.key(3)


def critic(x):  # [B, 2, 3] -> [B], a smooth per-example critic
    return jnp.tanh(x.reshape(x.shape[0], -1) @ W1) @ W2


def fd_grad_sq(x, h=1e-6):
    """||grad critic(x_i)||^2 per example by central finite differences, one example at a time."""
    out = []
    for xi in np.asarray(x, np.float64):
        flat, g = xi.reshape(-1), np.zeros(xi.size)
        for j in range(xi.size):
            e = np.zeros(xi.size)
            e[j] = h
            f = lambda v: float(critic(jnp.asarray(v.reshape(1, *xi.shape)))[0])  # noqa: E731
            g[j] = (f(flat + e) - f(flat - e)) / (2 * h)
        out.append(np.sum(g**2))
    return np.array(out)


def sig(t):
    return 1 / (1 + np.exp(-t))


# the style-based generator of the path-length case: w [B, L=2, D=3] -> images [B, 2, 2, 1]
A = RNG.normal(size=(6, 4))
Z = RNG.normal(size=(4, 3))


def mapping(z, y):
    return jnp.stack([z, 2 * z], axis=1)


def synthesis(w, rng):
    return jnp.tanh(w.reshape(w.shape[0], -1) @ A * 0.5).reshape(-1, 2, 2, 1)


def path_lengths_by_jacobian(pl_mean, decay):
    """(a_i - a')^2 with a_i = sqrt(mean_l ||(J_i^T y_i)_l||^2) from each example's explicit
    Jacobian, y = N(0, I) / sqrt(H W) drawn from the second half of split(KEY), a' the updated mean."""
    w = np.asarray(mapping(jnp.asarray(Z), None))
    y = np.asarray(jax.random.normal(jax.random.split(KEY)[1], (4, 2, 2, 1), jnp.float64)) / 2.0
    lengths = []
    for i in range(4):
        jac = np.asarray(jax.jacrev(lambda wi: synthesis(wi[None], None)[0])(jnp.asarray(w[i])))  # [2,2,1,L,D]
        lengths.append(np.sqrt(np.mean(np.sum(np.tensordot(y[i], jac, axes=3) ** 2, -1))))
    mean = pl_mean + decay * (np.mean(lengths) - pl_mean)
    return (np.array(lengths) - mean) ** 2, {"pl_mean": mean}


def gp_by_hand(target):
    eps = np.asarray(jax.random.uniform(KEY, (4, 1, 1), jnp.float64))
    x_hat = eps * REAL + (1 - eps) * FAKE
    return (np.sqrt(fd_grad_sq(x_hat)) - target) ** 2


d_real, d_fake = (np.tanh(x.reshape(4, -1) @ W1) @ W2 for x in (REAL, FAKE))  # float64
RECON = RNG.normal(size=(4, 2, 3))
CASES = {  # term -> (expected value [4], expected state) from the papers' formulas
    "discriminator_loss": (
        T.DiscriminatorLoss(loss=gan.NonSaturating()),
        lambda: (-np.log(sig(d_real)) - np.log(1 - sig(d_fake)), {}),
    ),
    "generator_loss": (T.GeneratorLoss(loss=gan.NonSaturating()), lambda: (-np.log(sig(d_fake)), {})),
    "generator_loss_relativistic": (
        T.GeneratorLoss(loss=gan.RelativisticAverage()),
        lambda: (-np.log(sig(d_fake - d_real.mean())) - np.log(1 - sig(d_real - d_fake.mean())), {}),
    ),
    "generator_loss_top_k": (  # step 2000: k / B = max(0.5^2, 0.5) -> the 2 highest D(G(z)), weight 2
        T.GeneratorLoss(loss=gan.Wasserstein(), top_k=gan.TopK(0.5, 0.5, 1000)),
        lambda: (np.where(d_fake >= np.sort(d_fake)[2], 2.0, 0.0) * -d_fake, {}),
    ),
    "gradient_penalty": (T.GradientPenalty(target=1.0), lambda: (gp_by_hand(1.0), {})),
    "gradient_penalty_zero_centred": (T.GradientPenalty(target=0.0), lambda: (gp_by_hand(0.0), {})),
    "r1": (T.R1(), lambda: (fd_grad_sq(REAL), {})),
    "r2": (T.R2(), lambda: (fd_grad_sq(FAKE), {})),
    "drift": (T.Drift(), lambda: (d_real**2, {})),
    "path_length": (T.PathLength(decay=0.1), lambda: path_lengths_by_jacobian(0.5, 0.1)),
    "cycle": (T.Reconstruction(name="cycle"), lambda: (np.abs(RECON - REAL).reshape(4, -1).mean(1), {})),
}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def inputs(step=2000):
    return T.TermInputs(
        jnp.int32(step),
        d_fake=critic(jnp.asarray(FAKE)),
        d_real=critic(jnp.asarray(REAL)),
        real=jnp.asarray(REAL),
        fake=jnp.asarray(FAKE),
        critic=critic,
        latents=(jnp.asarray(Z), None),
        mapping=mapping,
        synthesis=synthesis,
        pairs={"cycle": (jnp.asarray(RECON), jnp.asarray(REAL))},
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_term_matches_its_formula(x64, case):
    term, expected = CASES[case]
    state = {"pl_mean": jnp.float64(0.5)} if term.init_state() else {}
    out = term(inputs(), KEY, state)
    value, new_state = expected()
    assert out.value.shape == (4,)
    np.testing.assert_allclose(out.value, value, rtol=1e-6, atol=1e-12)
    assert set(out.state) == set(new_state)
    for k, v in new_state.items():
        np.testing.assert_allclose(out.state[k], v, rtol=1e-6)


def test_only_relativistic_generator_losses_need_real_outputs():
    assert [n for n, cls in gan.GAN_LOSSES.items() if T.GeneratorLoss(loss=cls()).needs_real] == [
        "relativistic_average"
    ]
    assert not any(t.needs_real for t, _ in CASES.values() if not isinstance(t, T.GeneratorLoss))


def test_apply_terms_weights_lazy_intervals_and_packs(x64):
    """L = adv + 10 gp + 0.05 * (4 r1 on steps divisible by 4, else 0), each per-pack value
    repeated to the pack's 2 samples; metrics hold the unweighted (lazily scaled) values."""
    terms = (T.DiscriminatorLoss(loss=gan.Wasserstein()), T.GradientPenalty(weight=10.0), T.R1(weight=0.05, every=4))
    adv, gp, r1 = d_fake - d_real, gp_by_hand(1.0), fd_grad_sq(REAL)
    for step, lazy in ((8, 4 * r1), (5, 0 * r1)):
        loss, metrics, state = T.apply_terms(terms, inputs(step), KEY, {}, size=8)
        np.testing.assert_allclose(loss, np.repeat(adv + 10 * gp + 0.05 * lazy, 2), rtol=1e-6)
        np.testing.assert_allclose(metrics["r1"], lazy, rtol=1e-6)
        np.testing.assert_allclose(metrics["gp"], gp, rtol=1e-6)
        assert state == {}
    # averaged over a cycle of `every` steps the lazy term equals the eager one
    cycle = [T.apply_terms(terms[2:], inputs(s), KEY, {}, size=4)[0] for s in range(4)]
    np.testing.assert_allclose(np.mean(cycle, axis=0), 0.05 * r1, rtol=1e-6)


def test_lazy_stateful_term_keeps_its_state_between_evaluations(x64):
    term = T.PathLength(weight=2.0, every=3, decay=0.1)
    state = {"path_length": {"pl_mean": jnp.float32(0.5)}}
    loss, metrics, new = T.apply_terms((term,), inputs(6), KEY, state, size=4)
    pen, expected = path_lengths_by_jacobian(0.5, 0.1)
    np.testing.assert_allclose(loss, 2.0 * 3 * pen, rtol=1e-5)
    np.testing.assert_allclose(new["path_length"]["pl_mean"], expected["pl_mean"], rtol=1e-6)
    loss, metrics, new = T.apply_terms((term,), inputs(7), KEY, state, size=4)
    np.testing.assert_array_equal(loss, np.zeros(4))
    assert float(new["path_length"]["pl_mean"]) == 0.5
    assert term.init_state()["pl_mean"].dtype == jnp.float32 and math.isclose(float(term.init_state()["pl_mean"]), 0)


TERM_CLASSES = [c for c in vars(T).values() if isinstance(c, type) and issubclass(c, T.Term) and c is not T.Term]


@pytest.mark.parametrize("cls", TERM_CLASSES, ids=lambda c: c.__name__)
def test_terms_are_frozen_and_keyword_only(cls):
    """A term's fields are given by name (a positional weight would silently become `every`)."""
    import dataclasses

    with pytest.raises(TypeError):
        cls(2.0)
    required = {"loss": gan.NonSaturating(), "name": "t"}
    fields = {f.name for f in dataclasses.fields(cls) if f.default is f.default_factory is dataclasses.MISSING}
    term = cls(weight=2.0, **{k: v for k, v in required.items() if k in fields})
    with pytest.raises(dataclasses.FrozenInstanceError):
        term.weight = 3.0


def test_reconstruction_averages_each_examples_elements():
    out, target = jnp.arange(24.0).reshape(2, 3, 4), jnp.zeros((2, 3, 4))
    io = T.TermInputs(step=jnp.int32(0), pairs={"cycle": (out, target)})
    value = T.Reconstruction(name="cycle", weight=1.0)(io, jax.random.key(0), {}).value
    np.testing.assert_allclose(value, [np.mean(np.arange(12.0)), np.mean(np.arange(12.0, 24.0))])
