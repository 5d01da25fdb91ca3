"""The train step against hand-written optax loops."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from genjax.parallel import make_mesh
from genjax.testing import Regression, ToyGAN
from genjax.train import init_train_state, make_train_step
from genjax.train.step import player_grads

RULES = (("embed", "fsdp"), ("mlp", "tensor"))


def _mesh():
    return make_mesh(ConfigDict(dict(data=1, fsdp=1, tensor=1)), jax.devices()[:1])


def _init(objective, txs, batch, ema_decays=(0.9,)):
    spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
    return init_train_state(
        objective, txs, jax.random.PRNGKey(0), spec, _mesh(), rules=RULES, min_fsdp_size=1 << 30, ema_decays=ema_decays
    )[0]


def _gan_batch(n=32, seed=0):
    return {"x": jnp.asarray(np.random.RandomState(seed).normal(2.0, 0.5, (n, 1)), jnp.float32)}


@pytest.mark.parametrize("n_critic", [1, 3])
def test_alternating_updates_match_manual_loop(n_critic):
    objective = ToyGAN(n_critic=n_critic)
    txs = {"generator": optax.adam(1e-2), "discriminator": optax.sgd(5e-2, momentum=0.9)}
    batch = _gan_batch()
    decays = (0.5, 0.9)  # every EMA follows its own decay
    state = _init(objective, txs, batch, ema_decays=decays)
    chex.clear_trace_counter()
    train_step = make_train_step(objective)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, batch):
        return train_step(state, batch)

    params = jax.tree.map(jnp.copy, state.params)
    opt = {p: txs[p].init(params[p]) for p in objective.players}
    emas = [jax.tree.map(jnp.copy, params) for _ in decays]
    for s in range(4):
        state, metrics = step(state, batch)
        key = jax.random.fold_in(jax.random.PRNGKey(0), s)
        losses = {p: [] for p in objective.players}
        for i, player in enumerate(objective.schedule):

            def loss(theta):
                out = objective.loss(player, {**params, player: theta}, {}, batch, jax.random.fold_in(key, i), s)
                return jnp.mean(out.loss)

            value, g = jax.value_and_grad(loss)(params[player])
            losses[player].append(float(value))
            u, opt[player] = txs[player].update(g, opt[player], params[player])
            params[player] = optax.apply_updates(params[player], u)
        emas = [jax.tree.map(lambda e, p: d * e + (1 - d) * p, ema, params) for d, ema in zip(decays, emas)]
    chex.assert_trees_all_close(state.params, params, rtol=1e-5, atol=1e-6)
    assert len(state.ema) == len(decays)
    for ours, ema in zip(state.ema, emas):
        chex.assert_trees_all_close(ours, ema, rtol=1e-5, atol=1e-6)
    assert int(state.step) == 4
    for player, values in losses.items():  # a player's metrics: the mean over its updates in the step
        np.testing.assert_allclose(metrics[f"loss/{player}"], np.mean(values), rtol=1e-5)
    assert set(metrics) >= {
        "loss/generator",
        "loss/discriminator",
        "discriminator/d_real",
        "grad_norm/generator",
        "param_norm/discriminator",
        "update_norm/generator",
        "nonfinite_steps",
    }


def test_player_gradients_touch_only_that_player():
    objective = ToyGAN(n_critic=1)
    frozen = optax.set_to_zero()
    state = _init(objective, {"generator": optax.sgd(0.1), "discriminator": frozen}, _gan_batch())
    new, _ = jax.jit(make_train_step(objective))(state, _gan_batch())
    chex.assert_trees_all_equal(new.params["discriminator"], state.params["discriminator"])
    assert not np.allclose(new.params["generator"]["b"], state.params["generator"]["b"])


def _regression_batch(n=16, seed=0):
    r = np.random.RandomState(seed)
    x = r.normal(size=(n, 3)).astype(np.float32)
    return {"x": jnp.asarray(x), "y": jnp.asarray(x @ np.array([1.0, -2.0, 0.5], np.float32))}


def test_gradient_accumulation_equals_full_batch():
    objective = Regression()
    batch = _regression_batch()
    tx = {"model": optax.sgd(0.1)}
    full = _init(objective, tx, batch)
    accum = _init(objective, tx, batch)
    w0 = np.asarray(full.params["model"]["w"], np.float64)
    full, m_full = jax.jit(make_train_step(objective))(full, batch)
    accum, m_acc = jax.jit(make_train_step(objective, grad_accum=4))(accum, batch)
    chex.assert_trees_all_close(full.params, accum.params, rtol=1e-5)
    np.testing.assert_allclose(m_full["loss/model"], m_acc["loss/model"], rtol=1e-5)
    # the logged metrics against the closed forms of the linear model at the initial weights
    x, y = np.asarray(batch["x"], np.float64), np.asarray(batch["y"], np.float64)
    err = x @ w0 - y
    for m in (m_full, m_acc):
        np.testing.assert_allclose(m["loss/model"], np.mean(err**2), rtol=1e-5)
        np.testing.assert_allclose(m["model/abs_err"], np.mean(np.abs(err)), rtol=1e-5)
        np.testing.assert_allclose(m["grad_norm/model"], np.linalg.norm(2 * x.T @ err / len(y)), rtol=1e-5)
        np.testing.assert_allclose(m["update_norm/model"], 0.1 * np.linalg.norm(2 * x.T @ err / len(y)), rtol=1e-5)
    # the non-trainable state is threaded through the micro-batches in order
    expected = 0.0
    for i in range(4):
        expected = 0.9 * expected + 0.1 * float(jnp.mean(batch["y"][4 * i : 4 * i + 4]))
    np.testing.assert_allclose(accum.model_state["model"]["stats"]["mean"], expected, rtol=1e-5)


def test_nonfinite_step_is_skipped_and_counted():
    objective = Regression()
    batch = _regression_batch()
    state = _init(objective, {"model": optax.adam(0.1)}, batch)
    step = jax.jit(make_train_step(objective))
    bad = {**batch, "y": batch["y"].at[0].set(jnp.nan)}
    new, metrics = step(state, bad)
    chex.assert_trees_all_equal(new.params, state.params)
    chex.assert_trees_all_equal(new.opt_state, state.opt_state)
    chex.assert_trees_all_equal(new.ema, state.ema)
    assert int(metrics["nonfinite_steps"]) == 1 and int(new.step) == 1
    newer, metrics = step(new, batch)
    assert int(metrics["nonfinite_steps"]) == 1
    assert not np.allclose(newer.params["model"]["w"], state.params["model"]["w"])


def test_bfloat16_compute_keeps_float32_params():
    objective = Regression()
    batch = _regression_batch()
    tx = {"model": optax.sgd(0.05)}
    s32 = _init(objective, tx, batch)
    s16 = _init(objective, tx, batch)
    s32, m32 = jax.jit(make_train_step(objective))(s32, batch)
    s16, m16 = jax.jit(make_train_step(objective, compute_dtype_name="bfloat16"))(s16, batch)
    assert s16.params["model"]["w"].dtype == jnp.float32
    np.testing.assert_allclose(m16["loss/model"], m32["loss/model"], rtol=2e-2)
    chex.assert_trees_all_close(s16.params, s32.params, rtol=2e-2, atol=2e-2)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="grad_accum"):
        make_train_step(Regression(), grad_accum=0)
    with pytest.raises(ValueError, match="compute_dtype"):
        make_train_step(Regression(), compute_dtype_name="float8")


def test_abstract_init_has_the_concrete_state_shapes():
    """The restore target (abstract=True, nothing computed) equals the initialised state's
    structure, shapes and dtypes."""
    objective, batch = ToyGAN(), _gan_batch()
    txs = {"generator": optax.adam(1e-2), "discriminator": optax.sgd(5e-2, momentum=0.9)}
    spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
    args = (objective, txs, jax.random.PRNGKey(0), spec, _mesh())
    kw = dict(rules=RULES, min_fsdp_size=1 << 30, ema_decays=(0.9, 0.99))
    concrete, abstract = init_train_state(*args, **kw)[0], init_train_state(*args, **kw, abstract=True)[0]
    assert jax.tree.structure(concrete) == jax.tree.structure(abstract)
    assert all(isinstance(a, jax.ShapeDtypeStruct) for a in jax.tree.leaves(abstract))
    assert [(c.shape, c.dtype) for c in jax.tree.leaves(concrete)] == [
        (a.shape, a.dtype) for a in jax.tree.leaves(abstract)
    ]


def _vae():
    from genjax.objectives.observation import Gaussian
    from genjax.objectives.vae import VAE, VAENet

    batch = {"x": jnp.asarray(np.random.RandomState(0).uniform(-1, 1, (8, 3)), jnp.float32)}
    return VAE(VAENet(shape=(3,), latent_dim=2, hidden=(8,)), Gaussian(0.5)), batch


def _diffusion():
    from genjax.data.metadata import DatasetMetadata
    from genjax.objectives import make_objective

    meta = DatasetMetadata("points", "points", (2,), None, (-1.0, 1.0), 100)
    cfg = ConfigDict({"objective": {"name": "diffusion", "backbone": "mlp", "net": {"hidden": 8, "depth": 1}}})
    batch = {"x": jnp.asarray(np.random.RandomState(1).normal(size=(8, 2)), jnp.float32)}
    return make_objective(cfg, meta), batch


@pytest.mark.parametrize("make", [_vae, _diffusion], ids=["vae", "diffusion"])
def test_accumulation_of_a_stochastic_objective_uses_one_key_per_micro_batch(make):
    """grad_accum=k: the loss, metrics and gradients are the averages over micro-batches i of
    objective.loss and its direct gradient with the key fold_in(rng, i)."""
    objective, batch = make()
    k, rng, step = 4, jax.random.key(7), jnp.int32(3)
    params = {"model": jax.jit(objective.init)(jax.random.key(0), batch)["model"].params}

    def direct(keys):
        grads, outs = [], []
        for i, key in enumerate(keys):
            micro = {n: v[2 * i : 2 * i + 2] for n, v in batch.items()}

            def loss(p):
                out = objective.loss("model", {"model": p}, {}, micro, key, step)
                return jnp.mean(out.loss), {n: jnp.mean(v) for n, v in out.metrics.items()}

            (value, m), g = jax.value_and_grad(loss, has_aux=True)(params["model"])
            grads.append(g)
            outs.append({"loss": value, **m})
        return jax.tree.map(lambda *xs: sum(xs) / k, *grads), jax.tree.map(lambda *xs: sum(xs) / k, *outs)

    @jax.jit
    def run():
        ours = player_grads(objective, "model", params, {}, batch, rng, step, dtype=jnp.float32, grad_accum=k)
        return ours, direct([jax.random.fold_in(rng, i) for i in range(k)]), direct([rng] * k)

    (loss, metrics, grads, _), (want_grads, want), (shared_grads, shared) = run()
    chex.assert_trees_all_close(grads, want_grads, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, want["loss"], rtol=1e-5)
    assert set(metrics) == set(want) - {"loss"}
    for name, value in metrics.items():
        np.testing.assert_allclose(value, want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # micro-batches sharing one key would give other values, which the checks above reject
    assert not np.allclose(optax.global_norm(shared_grads), optax.global_norm(want_grads), rtol=1e-3)
    assert not np.allclose(shared["loss"], want["loss"], rtol=1e-3)


def test_step_under_activation_rules_equals_plain_step():
    """make_train_step(mesh=, rules=) traces the step under the activation rules (a no-op for a
    model without constraints, here on one device): same state and metrics; one without the other
    is an error."""
    objective = ToyGAN(n_critic=2)
    txs = {"generator": optax.adam(1e-2), "discriminator": optax.sgd(5e-2)}
    batch = _gan_batch()
    plain = jax.jit(make_train_step(objective))(_init(objective, txs, batch), batch)
    ruled = jax.jit(make_train_step(objective, mesh=_mesh(), rules=RULES))(_init(objective, txs, batch), batch)
    chex.assert_trees_all_close(ruled[0].params, plain[0].params, rtol=1e-6)
    chex.assert_trees_all_close(ruled[1], plain[1], rtol=1e-6)
    with pytest.raises(ValueError, match="both mesh and rules"):
        make_train_step(objective, mesh=_mesh())


def _vae_big_batch(objective, batch, keys):
    """The VAE's mean negative ELBO (beta = 1, Gaussian p(x|z) of std 0.5) over the whole batch,
    written out: micro-batch i's examples take their eps from key i, as a train step draws them."""
    m = batch["x"].shape[0] // len(keys)
    eps = jnp.concatenate([jax.random.normal(key, (m, objective.net.latent_dim)) for key in keys])
    x = batch["x"]

    def f(p):
        mu, log_var = objective.net.apply({"params": p}, x, method="encode")
        z = mu + jnp.exp(0.5 * log_var) * eps
        mean = objective.net.apply({"params": p}, z, method="decode")
        recon = jnp.sum(0.5 * ((x - mean) / 0.5) ** 2 + jnp.log(0.5) + 0.5 * jnp.log(2 * jnp.pi), axis=-1)
        kl = 0.5 * jnp.sum(mu**2 + jnp.exp(log_var) - 1.0 - log_var, axis=-1)
        return jnp.mean(recon + kl), {"recon": jnp.mean(recon), "kl": jnp.mean(kl), "neg_elbo": jnp.mean(recon + kl)}

    return f


def _diffusion_big_batch(objective, batch, keys):
    """The DDPM eps-prediction loss (linear betas 1e-4 .. 0.02 over 1000 steps, alpha_bar their
    cumulative product in numpy) over the whole batch: micro-batch i's examples take their times
    t ~ U{0, ..., 999} and noise from key i, split as the diffusion loss splits its key."""
    m = batch["x"].shape[0] // len(keys)
    alpha_bar = jnp.asarray(np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000)), jnp.float32)
    t, eps, drop = [], [], []
    for key in keys:
        rng_loss, rng_drop, _ = jax.random.split(key, 3)
        rng_t, rng_eps = jax.random.split(rng_loss)
        t.append(jax.random.randint(rng_t, (m,), 0, 1000))
        eps.append(jax.random.normal(rng_eps, (m, 2)))
        drop.append(rng_drop)
    t, eps = jnp.concatenate(t), jnp.concatenate(eps)
    ab = alpha_bar[t][:, None]
    x_t = jnp.sqrt(ab) * batch["x"] + jnp.sqrt(1.0 - ab) * eps

    def f(p):
        out = objective.net.apply({"params": p}, x_t, t.astype(jnp.float32), None, True, rngs={"dropout": drop[0]})
        mse = jnp.mean((out - eps) ** 2, axis=-1)
        return jnp.mean(mse), {"mse": jnp.mean(mse), "log_snr": jnp.mean(jnp.log(ab / (1.0 - ab)))}

    return f


@pytest.mark.parametrize(
    "make, big_batch", [(_vae, _vae_big_batch), (_diffusion, _diffusion_big_batch)], ids=["vae", "diffusion"]
)
def test_accumulated_step_equals_the_big_batch_with_the_same_per_example_noise(make, big_batch):
    """A train step with grad_accum=4 (SGD) of a stochastic objective equals one gradient step on
    the loss of the whole batch computed in the test, each example with the noise of its
    micro-batch's key fold_in(fold_in(fold_in(rng, step), update), micro-batch); the logged
    metrics are the big batch's means (not a sum, not the last micro-batch's)."""
    objective, batch = make()
    lr, k = 0.1, 4
    state = _init(objective, {"model": optax.sgd(lr)}, batch)
    params = jax.tree.map(jnp.copy, state.params["model"])
    new, metrics = jax.jit(make_train_step(objective, grad_accum=k))(state, batch)

    step_key = jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0)
    keys = [jax.random.fold_in(step_key, i) for i in range(k)]
    (loss, want), grads = jax.jit(jax.value_and_grad(big_batch(objective, batch, keys), has_aux=True))(params)
    np.testing.assert_allclose(metrics["loss/model"], loss, rtol=1e-5)
    for name, value in want.items():
        np.testing.assert_allclose(metrics[f"model/{name}"], value, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(metrics["grad_norm/model"], optax.global_norm(grads), rtol=1e-5)
    np.testing.assert_allclose(metrics["update_norm/model"], lr * optax.global_norm(grads), rtol=1e-5)
    expected = jax.tree.map(lambda p, g: p - lr * g, params, grads)
    chex.assert_trees_all_close(new.params["model"], expected, rtol=1e-5, atol=1e-6)
    # all micro-batches on the first key: other numbers, which the checks above reject
    (shared, _), _ = jax.value_and_grad(big_batch(objective, batch, keys[:1] * k), has_aux=True)(params)
    assert not np.allclose(shared, loss, rtol=1e-3)


def test_lr_scale_multiplies_a_players_update():
    """A stage's learning-rate factor scales the optimizer's update: with SGD, half the step."""
    obj, batch = Regression(), _regression_batch()
    txs = {"model": optax.sgd(0.1)}
    state = _init(obj, txs, batch)
    full, _ = jax.jit(make_train_step(obj))(state, batch)
    half, _ = jax.jit(make_train_step(obj, lr_scale={"model": 0.5}))(state, batch)
    w0 = np.asarray(state.params["model"]["w"])
    delta_full = np.asarray(full.params["model"]["w"]) - w0
    np.testing.assert_allclose(np.asarray(half.params["model"]["w"]) - w0, 0.5 * delta_full, rtol=1e-5)


def test_max_traces_allows_exactly_that_many_traces():
    obj, batch = Regression(), _regression_batch()
    state = _init(obj, {"model": optax.sgd(0.1)}, batch)
    step = jax.jit(make_train_step(obj, max_traces=1))
    state, _ = step(state, batch)  # the one allowed trace
    state, _ = step(state, batch)  # cached: no trace
    with pytest.raises(AssertionError, match="traced 2 times"):
        step(state, _regression_batch(n=4))


def test_grad_accum_names_the_batch_that_does_not_split():
    obj, batch = Regression(), _regression_batch(n=6)
    state = _init(obj, {"model": optax.sgd(0.1)}, batch)
    with pytest.raises(ValueError, match=r"batch of 6 does not split into config.train.grad_accum=4"):
        make_train_step(obj, grad_accum=4)(state, batch)
