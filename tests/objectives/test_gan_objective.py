"""The GAN objective: registry, every architecture and loss at tiny size, penalties, packing,
the n_critic schedule, and core train steps with the EMA generator."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import genjax.objectives.gan as G
from genjax.data import DatasetMetadata
from genjax.losses.gan import GAN_LOSSES
from genjax.losses.transforms import pack
from genjax.objectives import make_objective

POINTS = DatasetMetadata("builtin:ring8", "points", (2,), 8, (-1.0, 1.0), 100)
IMAGES = DatasetMetadata("tiny", "image", (8, 8, 1), 3, (-1.0, 1.0), 100)
TINY = {
    "mlp": dict(generator=dict(width=8, depth=1), discriminator=dict(width=8, depth=1)),
    "dcgan": dict(generator=dict(base=4), discriminator=dict(base=4, num_layers=2)),
    "sngan": dict(generator=dict(ch=4), discriminator=dict(ch=4, num_down=2)),
    "stylegan2": dict(
        generator=dict(w_dim=8, mapping_layers=1, channel_base=64, channel_max=4),
        discriminator=dict(channel_base=64, channel_max=4),
    ),
}


def cfg(**fields):
    c = ml_collections.ConfigDict({"name": "gan", "z_dim": 4})
    for k, v in fields.items():
        c[k] = v
    return c


def batch_for(meta, n=8):
    x = jax.random.uniform(jax.random.key(0), (n, *meta.shape), minval=-1, maxval=1)
    return {"x": x, "y": jnp.arange(n) % meta.num_classes}


def check_objective(obj, meta, n=8):
    """init, both players' losses and gradients and sampling, in one compiled function."""
    batch = batch_for(meta, n)
    variables = jax.jit(obj.init)(jax.random.key(1), batch)
    params = {p: v.params for p, v in variables.items()}
    state = {p: dict(v.state) for p, v in variables.items()}

    @jax.jit
    def run(params, state):
        out = {}
        for player in ("discriminator", "generator"):

            def f(p):
                o = obj.loss(player, {**params, player: p}, state, batch, jax.random.key(2), jnp.int32(0))
                return o.loss.mean(), o.loss

            out[player] = jax.value_and_grad(f, has_aux=True)(params[player])
        return out, obj.sample(params, state, jax.random.key(3), 4)

    out, x = run(params, state)
    for player, ((_, loss), grads) in out.items():
        assert loss.shape == (n,), (player, loss.shape)
        assert np.all(np.isfinite(loss))
        assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
        assert any(np.any(g != 0) for g in jax.tree.leaves(grads))
    assert x.shape == (4, *meta.shape)
    return params, state


@pytest.mark.parametrize(
    "arch", ["mlp", *(pytest.param(a, marks=pytest.mark.slow) for a in ("dcgan", "sngan", "stylegan2"))]
)
def test_every_architecture(arch):
    """MLP unconditional on points; the image architectures class-conditional (projection
    discriminator) with DiffAugment (their unconditional paths train in the configs' tests)."""
    if arch == "mlp":
        meta, extra = POINTS, dict(r1_gamma=1.0, pack=2)
    else:
        meta, extra = IMAGES, dict(conditional=True, diffaugment="color,translation,cutout")
    if arch == "stylegan2":
        extra.update(r1_gamma=1.0, pl_weight=1.0, pl_every=1, mixing_prob=0.5)
    config = ml_collections.ConfigDict({"objective": cfg(arch=arch, **TINY[arch], **extra)})
    check_objective(make_objective(config, meta), meta)


def test_sample_label_gives_every_sample_that_class():
    config = ml_collections.ConfigDict({"objective": cfg(arch="dcgan", **TINY["dcgan"], conditional=True)})
    obj = make_objective(config, IMAGES)
    variables = obj.init(jax.random.key(1), batch_for(IMAGES))
    params = {p: v.params for p, v in variables.items()}
    state = {p: dict(v.state) for p, v in variables.items()}
    twos = obj.sample(params, state, jax.random.key(0), 4, label=2)
    np.testing.assert_array_equal(twos, obj.sample(params, state, jax.random.key(0), 4, labels=jnp.full((4,), 2)))
    assert np.abs(twos - obj.sample(params, state, jax.random.key(0), 4, label=1)).max() > 0
    with pytest.raises(ValueError, match="outside"):
        obj.sample(params, state, jax.random.key(0), 4, label=IMAGES.num_classes)
    with pytest.raises(ValueError, match="no labels= array"):
        obj.sample(params, state, jax.random.key(0), 4, label=1, labels=jnp.zeros((4,), jnp.int32))


def _softplus(t):
    return np.logaddexp(0.0, t)


# (D's loss of D(x) = r and D(G(z)) = f, G's loss), per example, written out from the papers
HAND = {
    "minimax": (lambda r, f: _softplus(-r) + _softplus(f), lambda r, f: -_softplus(f)),
    "non_saturating": (lambda r, f: _softplus(-r) + _softplus(f), lambda r, f: _softplus(-f)),
    "wasserstein": (lambda r, f: f - r, lambda r, f: -f),
    "hinge": (lambda r, f: np.maximum(0, 1 - r) + np.maximum(0, 1 + f), lambda r, f: -f),
    "least_squares": (lambda r, f: 0.5 * (r - 1) ** 2 + 0.5 * f**2, lambda r, f: 0.5 * (f - 1) ** 2),
    "relativistic_average": (
        lambda r, f: _softplus(-(r - f.mean())) + _softplus(f - r.mean()),
        lambda r, f: _softplus(-(f - r.mean())) + _softplus(r - f.mean()),
    ),
}


@pytest.mark.parametrize("loss", sorted(GAN_LOSSES))
def test_every_loss(loss):
    """Each player's loss is its formula of D's outputs on the real and the generated batch (the
    same fakes in both players' evaluations: z is the first stream of either key)."""
    obj = G.make(cfg(loss=loss, **TINY["mlp"]), POINTS)
    params, state = check_objective(obj, POINTS)
    batch = batch_for(POINTS)
    run = jax.jit(lambda p: obj.loss(p, params, state, batch, jax.random.key(3), jnp.int32(0)), static_argnums=0)
    d, g = run("discriminator"), run("generator")
    r, f = (np.asarray(d.metrics[k], np.float64) for k in ("d_real", "d_fake"))
    np.testing.assert_allclose(g.metrics["d_fake"], f, rtol=1e-5, atol=1e-6)
    assert np.std(r) > 1e-3 and np.std(f) > 1e-3 and not np.allclose(r, f, atol=1e-3)
    np.testing.assert_allclose(d.loss, HAND[loss][0](r, f), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g.loss, HAND[loss][1](r, f), rtol=1e-5, atol=1e-6)


def test_pack_concatenates_consecutive_samples():
    x = jnp.arange(12.0).reshape(6, 2)
    np.testing.assert_array_equal(pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    img = jnp.arange(4 * 2 * 2 * 1.0).reshape(4, 2, 2, 1)
    p = pack(img, 2)
    assert p.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(p[1, ..., 0], img[2, ..., 0])
    np.testing.assert_array_equal(p[1, ..., 1], img[3, ..., 0])
    with pytest.raises(ValueError, match="pack"):
        pack(jnp.zeros((5, 2)), 2)


def test_packed_discriminator_and_lazy_r1_match_brute_force():
    obj = G.make(cfg(pack=2, r1_gamma=2.0, r1_every=4, **TINY["mlp"]), POINTS)
    params, state = check_objective(obj, POINTS)
    batch = batch_for(POINTS)
    key = jax.random.key(5)

    def d_loss(step):
        return obj.loss("discriminator", params, state, batch, key, jnp.int32(step))

    off, on = d_loss(5), d_loss(8)
    assert off.loss.shape == (8,) and off.metrics["d_real"].shape == (4,)
    np.testing.assert_allclose(off.metrics["r1"], 0.0)
    # R1 on the packed reals, by brute force: grad of D(pack_i) w.r.t. the 4-vector pack_i.
    d_state = on.state["discriminator"]
    xp = pack(batch["x"], 2)
    expect = []
    for i in range(4):
        f = lambda v: obj.nets.discriminator.apply(
            {"params": params["discriminator"], **d_state}, v[None], None, train=False
        )[0]
        expect.append(float(jnp.sum(jax.grad(f)(xp[i]) ** 2)))
    np.testing.assert_allclose(on.metrics["r1"], 4 * np.array(expect), rtol=1e-4)
    np.testing.assert_allclose(on.loss - off.loss, np.repeat(0.5 * 2.0 * 4 * np.array(expect), 2), rtol=1e-4, atol=1e-6)


def test_r1_and_r2_match_finite_differences_with_half_gamma_and_lazy_interval():
    """L_D = adv + r1_gamma/2 * k ||grad D(x)||^2 + r2_gamma/2 * k ||grad D(G(z))||^2 on steps
    divisible by k = r1_every (else adv alone), the squared norms by float64 central differences
    of D at the real points and at the generated ones (z: the first of the loss key's 5 streams)."""
    nets = dict(generator=dict(width=8, depth=1), discriminator=dict(width=8, depth=1, act="elu"))
    obj = G.make(cfg(r1_gamma=2.0, r2_gamma=3.0, r1_every=2, **nets), POINTS)
    batch, key = batch_for(POINTS), jax.random.key(5)
    params = {p: v.params for p, v in jax.jit(obj.init)(jax.random.key(1), batch).items()}
    loss = jax.jit(lambda step: obj.loss("discriminator", params, {}, batch, key, step))
    on, off = loss(jnp.int32(4)), loss(jnp.int32(3))
    z = jax.random.normal(jax.random.split(key, 5)[0], (8, 4))
    fake = obj.nets.generator.apply({"params": params["generator"]}, z, None, train=False)

    with jax.enable_x64(True):
        d_params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params["discriminator"])

        def sq_norm(points, h=1e-6):  # [B, 2] -> [B]; D's output i depends on its input i only
            d = lambda v: np.asarray(obj.nets.discriminator.apply({"params": d_params}, v.reshape(-1, 2)))  # noqa: E731
            x, e = np.asarray(points, np.float64)[:, None, :], h * np.eye(2)  # x + e: [B, 2, 2]
            return np.sum(((d(x + e) - d(x - e)).reshape(-1, 2) / (2 * h)) ** 2, axis=-1)

        r1, r2 = sq_norm(batch["x"]), sq_norm(fake)
    assert np.all(r1 > 1e-3) and np.all(r2 > 1e-3) and not np.allclose(r1, r2, rtol=0.1)
    np.testing.assert_allclose(on.metrics["r1"], 2 * r1, rtol=1e-4)
    np.testing.assert_allclose(on.metrics["r2"], 2 * r2, rtol=1e-4)
    np.testing.assert_allclose(off.metrics["r1"], 0.0)
    np.testing.assert_allclose(off.metrics["r2"], 0.0)
    np.testing.assert_allclose(off.loss, off.metrics["adv"], rtol=1e-6)
    np.testing.assert_allclose(on.loss - off.loss, 1.0 * 2 * r1 + 1.5 * 2 * r2, rtol=1e-4, atol=1e-6)


def test_top_k_training_takes_the_generator_loss_of_the_most_realistic_packs():
    """Sinha et al. 2020 with PacGAN packs: at step 2000 (gamma 0.5 per 1000 steps, floor 0.5) the
    adversarial term is the mean over the top half of the packs by D's score, each pack's loss
    carried by its samples; the step-0 loss (k = B) is the plain one."""
    obj = G.make(cfg(pack=2, topk_gamma=0.5, topk_min=0.5, topk_every=1000, **TINY["mlp"]), POINTS)
    plain = G.make(cfg(pack=2, **TINY["mlp"]), POINTS)
    params, state = check_objective(obj, POINTS)
    batch, key = batch_for(POINTS), jax.random.key(4)
    ref = plain.loss("generator", params, state, batch, key, jnp.int32(0))
    np.testing.assert_allclose(obj.loss("generator", params, state, batch, key, jnp.int32(0)).loss, ref.loss, rtol=1e-6)
    out = obj.loss("generator", params, state, batch, key, jnp.int32(2000))
    np.testing.assert_allclose(out.metrics["topk_fraction"], 0.5)
    per_pack = np.asarray(ref.loss)[::2]  # [4] packs
    top = np.argsort(-np.asarray(ref.metrics["d_fake"]))[:2]
    expect = np.zeros(4)
    expect[top] = 2 * per_pack[top]
    np.testing.assert_allclose(out.loss, np.repeat(expect, 2), rtol=1e-5)
    np.testing.assert_allclose(jnp.mean(out.loss), per_pack[top].mean(), rtol=1e-5)


def test_gradient_penalty_term():
    obj = G.make(cfg(loss="wasserstein", gp_weight=10.0, n_critic=3, **TINY["mlp"]), POINTS)
    assert obj.schedule == ("discriminator",) * 3 + ("generator",)
    params, state = check_objective(obj, POINTS)
    out = obj.loss("discriminator", params, state, batch_for(POINTS), jax.random.key(0), jnp.int32(0))
    np.testing.assert_allclose(out.loss, out.metrics["adv"] + 10.0 * out.metrics["gp"], rtol=1e-5)
    assert np.all(out.metrics["gp"] >= 0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(unknown_field=1), "unknown_field"),
        (dict(arch="vit"), "arch"),
        (dict(loss="bce"), "loss"),
        (dict(pack=0), "pack"),
        (dict(diffaugment="flip"), "diffaugment"),
        (dict(generator=dict(widht=3)), "generator"),
        (dict(pl_weight=1.0), "stylegan2"),
        (dict(conditional=True, pack=2), "pack"),
        (dict(topk_gamma=1.5), r"config.objective.topk_gamma must be in \(0, 1\], got 1.5"),
        (dict(n_critic=2.5), "config.objective.n_critic must be an int, got 2.5"),
        (dict(conditional="yes"), "config.objective.conditional must be true or false"),
        (dict(topk_every=0), "topk_every"),
    ],
)
def test_bad_config_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        G.make(cfg(**bad), POINTS)
    with pytest.raises(ValueError, match="images"):
        G.make(cfg(arch="dcgan"), POINTS)


def test_core_step_with_n_critic_and_ema_generator():
    import optax

    from genjax.parallel import make_mesh
    from genjax.train.init import init_train_state
    from genjax.train.step import make_train_step

    obj = G.make(cfg(n_critic=2, pack=2, r1_gamma=1.0, **TINY["mlp"]), POINTS)
    txs = {"generator": optax.adam(1e-2), "discriminator": optax.adam(1e-2)}
    spec = {"x": jax.ShapeDtypeStruct((8, 2), jnp.float32), "y": jax.ShapeDtypeStruct((8,), jnp.int32)}
    mesh = make_mesh(ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1)))
    state, _ = init_train_state(
        obj, txs, jax.random.PRNGKey(0), spec, mesh, rules=(), min_fsdp_size=2**16, ema_decays=(0.5,)
    )
    step = jax.jit(make_train_step(obj))
    batch = batch_for(POINTS)
    new, metrics = step(state, batch)
    assert int(new.step) == 1 and int(metrics["nonfinite_steps"]) == 0
    for p in obj.players:  # EMA: e <- d e + (1 - d) theta
        jax.tree.map(
            lambda e, e0, t: np.testing.assert_allclose(e, 0.5 * e0 + 0.5 * t, rtol=1e-5, atol=1e-7),
            new.ema[0][p],
            state.ema[0][p],
            new.params[p],
        )
    ema_params = new.sampling_params(0)
    a = obj.sample(ema_params, new.model_state, jax.random.key(0), 16)
    b = obj.sample(new.params, new.model_state, jax.random.key(0), 16)
    assert a.shape == (16, 2) and not np.allclose(a, b)


def test_rescale_maps_value_range_to_unit_box():
    meta = DatasetMetadata("builtin:grid25", "points", (2,), 25, (-4.0, 6.0), 100)
    obj = G.make(cfg(rescale=True, **TINY["mlp"]), meta)
    assert (obj.shift, obj.scale) == (1.0, 5.0)
    np.testing.assert_allclose(obj._to_net(jnp.array([[-4.0, 6.0]])), [[-1.0, 1.0]])
    variables = obj.init(jax.random.key(0), batch_for(meta))
    params = {p: v.params for p, v in variables.items()}
    state = {p: dict(v.state) for p, v in variables.items()}
    raw = G.make(cfg(**TINY["mlp"]), meta).sample(params, state, jax.random.key(1), 5)
    np.testing.assert_allclose(obj.sample(params, state, jax.random.key(1), 5), raw * 5.0 + 1.0, rtol=1e-5)


def test_rescale_std_gives_zero_mean_unit_variance():
    """rescale='std': x_net = (x - mean) / std with the metadata's point moments; on points drawn
    with those moments the networks see mean 0 and per-axis variances averaging 1."""
    x = np.random.default_rng(0).normal([2.0, -1.0], [3.0, 1.0], (20_000, 2))
    per_axis_var = x.var(axis=0)
    meta = dataclasses.replace(POINTS, point_moments=(float(x.mean()), float(np.sqrt(per_axis_var.mean()))))
    obj = G.make(cfg(rescale="std", **TINY["mlp"]), meta)
    net = np.asarray(obj._to_net(jnp.asarray(x, jnp.float32)), np.float64)
    np.testing.assert_allclose(net.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(net.var(axis=0).mean(), 1.0, rtol=1e-4)
    np.testing.assert_allclose(
        net.var(axis=0) / net.var(axis=0).mean(), per_axis_var / per_axis_var.mean(), rtol=1e-4
    )  # one scale for all axes: the shape is kept
    assert (G.make(cfg(rescale=False, **TINY["mlp"]), meta).shift, G.make(cfg(**TINY["mlp"]), meta).scale) == (0, 1)
    assert (
        G.make(cfg(rescale=True, **TINY["mlp"]), meta).scale == G.make(cfg(rescale="range", **TINY["mlp"]), meta).scale
    )


def test_jacobian_norms_against_per_sample_jacobians():
    """jacobian_norms = the Frobenius norm of each sample's own Jacobian (jax.jacfwd of one
    sample at a time), for a nonlinear map of z [N, 3] to images [N, 2, 2]."""
    w = jax.random.normal(jax.random.key(0), (3, 4))
    g = lambda z: jnp.tanh(z @ w).reshape(-1, 2, 2) * jnp.sum(z**2, axis=1)[:, None, None]  # noqa: E731
    z = jax.random.normal(jax.random.key(1), (5, 3))
    brute = [np.linalg.norm(np.asarray(jax.jacfwd(lambda zi: g(zi[None])[0])(zi))) for zi in z]
    np.testing.assert_allclose(G.jacobian_norms(g, z), brute, rtol=1e-5)


def test_jacobian_truncation_keeps_the_smallest_jacobians():
    """sample(jacobian_keep=0.5) of 6 = the 6 of the 12 candidates (the same latents as a plain
    draw of 12) whose generator Jacobians, computed one sample at a time, are smallest."""
    obj = G.make(cfg(**TINY["mlp"]), POINTS)
    v = obj.init(jax.random.key(0), batch_for(POINTS))
    params = {p: w.params for p, w in v.items()}
    state = {p: dict(w.state) for p, w in v.items()}
    kept = obj.sample(params, state, jax.random.key(1), 6, jacobian_keep=0.5)
    candidates = obj.sample(params, state, jax.random.key(1), 12)
    z = jax.random.normal(jax.random.split(jax.random.key(1))[0], (12, obj.z_dim))
    g1 = lambda zi: obj.nets.generator.apply({"params": params["generator"]}, zi[None], None, train=False)[0]  # noqa: E731
    norms = [np.linalg.norm(np.asarray(jax.jacfwd(g1)(zi))) for zi in z]
    np.testing.assert_allclose(kept, np.asarray(candidates)[np.sort(np.argsort(norms)[:6])], rtol=1e-5)
    np.testing.assert_allclose(obj.sample(params, state, jax.random.key(1), 12, jacobian_keep=1.0), candidates)
    with pytest.raises(ValueError, match="must lie in"):
        obj.sample(params, state, jax.random.key(1), 6, jacobian_keep=0.0)
    conditional = G.make(cfg(conditional=True, **TINY["mlp"]), POINTS)
    with pytest.raises(ValueError, match="needs an unconditional GAN"):
        conditional.sample(params, state, jax.random.key(1), 6, jacobian_keep=0.5)


@pytest.mark.parametrize(
    "rescale, meta, match",
    [
        ("unit", POINTS, "config.objective.rescale must be one of 'none', 'range', 'std', False, True, got 'unit'"),
        ("std", POINTS, "needs the mean and std of points data"),
        ("std", IMAGES, "use rescale='range' or 'none'"),
    ],
)
def test_rescale_errors(rescale, meta, match):
    with pytest.raises(ValueError, match=match):
        G.make(cfg(rescale=rescale, **TINY["mlp" if meta is POINTS else "dcgan"]), meta)


@pytest.mark.slow
def test_eval_reports_fid_and_kid_of_an_image_gan_run(tmp_path, capsys):
    """`genjax eval --metrics fid,kid` on a DCGAN workdir: the EMA generator's samples against the
    eval split, the same numbers as the metrics computed directly on those samples."""
    import json

    from genjax import metrics
    from genjax.cli import main
    from genjax.data import load_examples
    from genjax.train.loop import load_run

    assert (
        main(
            [
                "train",
                "--config",
                "mnist_dcgan:runlocal",
                "--workdir",
                str(tmp_path),
                "--config.train.progress=false",
                "--config.data.source=builtin:digits",
                "--config.data.split=train[:90%]",
                "--config.data.eval_split=train[90%:]",
                "--config.data.batch_size=8",
                "--config.eval.kwargs.features=raw",
                "--config.eval.kwargs.kid_subset_size=16",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path), "--metrics", "fid,kid", "--num", "32", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["step"] == 2 and {"fid", "kid", "kid_std"} <= set(printed)

    r = load_run(str(tmp_path))
    fake = r.sample(32, 3, ema_index=0)
    assert fake.shape == (32, 8, 8, 1)
    real = load_examples(r.config.data, 32, split="train[90%:]")["x"]
    direct = metrics.compute(
        ["fid", "kid"], fake, real, metadata=r.metadata, rng_seed=3, features="raw", kid_subset_size=16
    )
    for k in ("fid", "kid"):
        np.testing.assert_allclose(printed[k], direct[k], rtol=1e-4, atol=1e-6)
    assert printed["fid"] > 0  # a 2-step generator is far from the data


def test_eval_of_a_mode_coverage_run_samples_with_the_configs_truncation(tmp_path, capsys):
    """The ring8 recipe samples with Jacobian-based truncation (sample.kwargs.jacobian_keep):
    `genjax eval --metrics mode_coverage` gives the metrics of Run.sample with that keep, and
    `--option jacobian_keep=1.0` those of the untruncated samples."""
    import json

    from genjax import metrics
    from genjax.cli import main
    from genjax.data import load_examples
    from genjax.train.loop import load_run

    assert (
        main(["train", "--config", "ring8_gan:runlocal", "--workdir", str(tmp_path), "--config.train.progress=false"])
        == 0
    )
    capsys.readouterr()
    r = load_run(str(tmp_path))
    keep = r.config.sample.kwargs.jacobian_keep
    assert 0 < keep < 1
    real = load_examples(r.config.data, 256, split=r.config.data.eval_split)["x"]
    printed = []
    for option in ([], ["--option", "jacobian_keep=1.0"]):
        assert (
            main(
                [
                    "eval",
                    "--workdir",
                    str(tmp_path),
                    "--metrics",
                    "mode_coverage",
                    "--num",
                    "256",
                    "--seed",
                    "3",
                    *option,
                ]
            )
            == 0
        )
        printed.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    for out, k in zip(printed, (keep, 1.0)):
        direct = metrics.compute(
            ["mode_coverage"], r.sample(256, 3, ema_index=0, jacobian_keep=k), real, metadata=r.metadata, rng_seed=3
        )
        assert set(direct) <= set(out)
        for name, value in direct.items():
            np.testing.assert_allclose(out[name], value, rtol=1e-6, atol=1e-9)
    assert printed[0] != printed[1]
