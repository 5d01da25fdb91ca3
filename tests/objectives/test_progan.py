"""The ProGAN objective: growth schedule, real-image fading, the loss against its formula,
samples across a stage boundary, config errors; and training runs through `run()` across a
stage boundary, uninterrupted and resumed in the middle of a fade-in."""

import dataclasses
import json
import logging
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.data import DatasetMetadata
from genjax.nn.gan_layers import upsample_nearest
from genjax.objectives import make_objective
from genjax.objectives.progan import PROGRESS
from genjax.train import loop, run

IMAGES = DatasetMetadata("tiny", "image", (16, 16, 1), None, (-1.0, 1.0), 100)
NETS = dict(generator=dict(channel_base=32, channel_max=4), discriminator=dict(channel_base=32, channel_max=4))


def objective(meta=IMAGES, **fields):
    cfg = ml_collections.ConfigDict({"objective": {"name": "progan", "z_dim": 4, **NETS, **fields}})
    return make_objective(cfg, meta)


def test_growth_schedule_and_alpha_by_hand():
    obj = objective(fade_steps=3, stable_steps=2)  # stages at 4x4, 8x8, 16x16
    # stage 0: steps 0-1; stage 1: fade 2-4, stable 5-6; stage 2: fade 7-9, then to the end
    assert [obj.stage_at(s) for s in range(13)] == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert [obj.stage_start(k) for k in range(3)] == [0, 2, 7]
    alpha = lambda k, s: float(obj.at_stage(k).alpha(jnp.int32(s)))  # noqa: E731
    assert [alpha(1, s) for s in range(1, 8)] == pytest.approx([0, 0, 1 / 3, 2 / 3, 1, 1, 1])
    assert [alpha(2, s) for s in range(7, 12)] == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    assert alpha(0, 0) == alpha(0, 5) == 1.0
    assert float(objective(fade_steps=0).at_stage(1).alpha(jnp.int32(0))) == 1.0  # no fade-in
    with pytest.raises(ValueError, match="stage 3 out of range 0..2"):
        obj.at_stage(3)


def test_real_images_are_pooled_and_faded_like_the_paper():
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype(np.float32)
    blocks = lambda v, f: v.reshape(v.shape[0], v.shape[1] // f, f, v.shape[2] // f, f, 1).mean((2, 4))  # noqa: E731
    x8 = blocks(x, 2)  # stage 1 (8x8) of 16x16 images
    low = np.repeat(np.repeat(blocks(x8, 2), 2, 1), 2, 2)
    obj = objective().at_stage(1)
    np.testing.assert_allclose(obj.real_images(jnp.asarray(x), 0.25), 0.75 * low + 0.25 * x8, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(objective().at_stage(0).real_images(jnp.asarray(x), 0.25), blocks(x, 4), atol=1e-6)
    np.testing.assert_array_equal(objective().at_stage(2).real_images(jnp.asarray(x), 1.0), x)


@pytest.fixture(scope="module")
def variables():
    """Random params (cheaper than compiling init) in the structure init gives."""
    obj = objective(fade_steps=4, stable_steps=2)
    v = jax.eval_shape(obj.init, jax.random.key(0), {"x": jnp.zeros((4, 16, 16, 1))})
    rng = np.random.default_rng(0)
    params = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), {p: w.params for p, w in v.items()})
    return obj, params, {"generator": {PROGRESS: {"step": jnp.int32(0)}}, "discriminator": {}}


def test_losses_match_the_wgan_gp_drift_formula(variables):
    """L_D = D(G(z)) - D(x) + drift D(x)^2 (+ the GP of genjax.losses, checked there), L_G = -D(G(z)),
    at stage 1 in the middle of its fade-in, with z drawn from the documented keys."""
    base, params, state = variables
    obj = base.at_stage(1)
    x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (4, 16, 16, 1)), jnp.float32)
    step, rng = jnp.int32(3), jax.random.key(7)  # alpha = (3 - 2) / 4
    alpha = 0.25
    real = obj.real_images(x, alpha)
    G = lambda z: obj.generator.apply({"params": params["generator"]}, z, 1, alpha)  # noqa: E731
    D = lambda v: obj.discriminator.apply({"params": params["discriminator"]}, v, 1, alpha)  # noqa: E731
    out = dataclasses.replace(obj, gp_weight=0.0).loss("discriminator", params, state, {"x": x}, rng, step)
    z = jax.random.normal(jax.random.split(rng)[0], (4, 4))
    d_real, d_fake = D(real), D(G(z))
    np.testing.assert_allclose(out.loss, d_fake - d_real + 0.001 * d_real**2, rtol=1e-5, atol=1e-6)
    out = obj.loss("generator", params, state, {"x": x}, rng, step)
    np.testing.assert_allclose(out.loss, -D(G(jax.random.normal(rng, (4, 4)))), rtol=1e-5, atol=1e-6)
    assert float(out.metrics["alpha"]) == alpha and float(out.metrics["stage"]) == 1.0
    assert int(out.state["generator"][PROGRESS]["step"]) == 4
    with_gp = obj.loss("discriminator", params, state, {"x": x}, rng, step)
    assert set(with_gp.metrics) == {"d_real", "d_fake", "adv", "gp", "drift"}
    expected = d_fake - d_real + 0.001 * d_real**2 + 10.0 * with_gp.metrics["gp"]
    assert with_gp.loss.shape == (4,)
    np.testing.assert_allclose(with_gp.loss, expected, rtol=1e-5, atol=1e-6)


def test_samples_are_continuous_across_a_stage_boundary(variables):
    """At the first step of stage k the new resolution has alpha 0: the samples equal the
    previous stage's at alpha 1, bit for bit, and all come at the image size."""
    obj, params, state = variables
    at = lambda step: {**state, "generator": {PROGRESS: {"step": jnp.int32(step)}}}  # noqa: E731
    key = jax.random.key(3)
    for k in (1, 2):
        start = obj.stage_start(k)
        before = obj.at_stage(k - 1).sample(params, at(start), key, 4)
        after = obj.at_stage(k).sample(params, at(start), key, 4)
        assert before.shape == after.shape == (4, 16, 16, 1)
        np.testing.assert_array_equal(before, after)
    mid = obj.at_stage(1).sample(params, at(obj.stage_start(1) + 2), key, 4)  # alpha 0.5
    assert not np.array_equal(mid, obj.at_stage(1).sample(params, at(obj.stage_start(1)), key, 4))
    low = obj.at_stage(0).sample(params, at(0), key, 4)  # 4x4 upsampled 4x: constant 4x4 blocks
    np.testing.assert_array_equal(low, upsample_nearest(low[:, ::4, ::4], 4))


@pytest.mark.parametrize("fields,meta,match", [
    (dict(fade_step=3), IMAGES, r"unknown field\(s\) \['fade_step'\]"),
    (dict(fade_steps=-1), IMAGES, "fade_steps must be >= 0"),
    (dict(stable_steps=0), IMAGES, "stable_steps must be >= 1"),
    (dict(discriminator=dict(in_shape=(8, 8, 1))), IMAGES, "in_shape comes from the data"),
    (dict(generator=dict(width=3)), IMAGES, r"generator has unknown field\(s\) \['width'\]"),
    ({}, DatasetMetadata("ring", "points", (2,), None, (-1.0, 1.0), 10), "needs square images"),
    ({}, DatasetMetadata("odd", "image", (9, 9, 1), None, (-1.0, 1.0), 10), "set data.image_size"),
])
def test_config_errors_name_the_field(fields, meta, match):
    with pytest.raises(ValueError, match=match):
        objective(meta, **fields)


# ---- training through run() -------------------------------------------------------------------
def _config(aot_compile):
    """5 steps on 8x8 digits: stage 0 (4x4) trains steps 0-1, stage 1 (8x8) fades in over steps
    2-3; a checkpoint after step 3. No gradient penalty (it is tested above; compile time)."""
    c = config_lib.base_config()
    c.data.source = "builtin:digits"
    c.data.batch_size = 8
    c.objective = ml_collections.ConfigDict({"name": "progan", "z_dim": 4, **NETS, "fade_steps": 2,
                                             "stable_steps": 2, "gp_weight": 0.0})
    c.objective.discriminator.mbstd_group = 4
    c.optim.lr = 1e-3
    c.optim.b1 = 0.0
    c.optim.b2 = 0.99
    c.train.update(steps=5, log_every=1, sample_every=0, checkpoint_every=3, progress=False,
                   async_checkpoint=False, ema_decays=(0.9,), aot_compile=aot_compile)
    c.sample.num = 4
    return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 5-step run (compiled ahead of time) that checkpoints at step 3, in the
    middle of the fade-in; and that run stopped after step 3 (its later checkpoint and metrics
    removed) and resumed to 5 (jit compiling on first use). Records the stage each train step
    was built and traced for, and the log."""
    built, traced, logged = [], [], []
    original = loop.make_train_step

    def counting(objective, **kw):
        fn = original(objective, **kw)
        built.append(objective.stage)

        def step(*args):
            traced.append(objective.stage)
            return fn(*args)
        return step

    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "make_train_step", counting)
    logger, handler = logging.getLogger("genjax"), logging.Handler(logging.INFO)
    handler.emit = lambda record: logged.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    root = tmp_path_factory.mktemp("progan")
    out = {}
    try:
        for name, aot in (("straight", True), ("resumed", False)):
            if name == "resumed":  # stop after step 3: as if preempted right after that checkpoint
                shutil.copytree(root / "a", root / "b")
                shutil.rmtree(root / "b" / "checkpoints" / "5")
                rows = (root / "b" / "metrics.jsonl").read_text().splitlines()[:3]
                (root / "b" / "metrics.jsonl").write_text("\n".join(rows) + "\n")
            built.clear(), traced.clear(), logged.clear()
            state = run(_config(aot), root / ("a" if name == "straight" else "b"))
            out[name] = (jax.device_get(state), list(built), list(traced), list(logged))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        mp.undo()
    return root, out


def _metrics(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow  # two short runs: ~30 s of compilation on 2 CPU cores
def test_run_recompiles_exactly_at_the_stage_boundary(runs):
    root, out = runs
    _, built, traced, logged = out["straight"]
    assert built == traced == [0, 1]  # one train step per stage
    compiled = [m for m in logged if m.startswith("compiled the train step")]
    assert len(compiled) == 2 and "stage 1" in compiled[1]
    rows = _metrics(root / "a" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    # logged step s is train step s - 1: stage 1 starts at train step 2 with alpha 0
    assert [r["generator/stage"] for r in rows] == [0, 0, 1, 1, 1]
    assert [r["generator/alpha"] for r in rows] == [1, 1, 0, 0.5, 1]
    assert all(np.isfinite(r["loss/discriminator"]) for r in rows)
    assert (root / "a" / "samples" / "step_00000005.png").exists()


@pytest.mark.slow  # two short runs: ~30 s of compilation on 2 CPU cores
def test_resume_mid_fade_in_is_exact(runs):
    root, out = runs
    # resumed straight into stage 1; jit traced it once for its two steps (no retrace)
    assert out["resumed"][1] == out["resumed"][2] == [1]
    assert "resumed from step 3" in out["resumed"][3]
    straight, resumed = out["straight"][0], out["resumed"][0]
    assert int(resumed.step) == 5
    leaves = lambda s: jax.tree.leaves((s.params, s.opt_state, s.ema, s.model_state, s.rng, s.step))  # noqa: E731
    for x, y in zip(leaves(resumed), leaves(straight), strict=True):
        np.testing.assert_array_equal(x, y)
    rows = _metrics(root / "b" / "metrics.jsonl")
    assert [(r["step"], r["generator/alpha"]) for r in rows] == [(1, 1), (2, 1), (3, 0), (4, 0.5), (5, 1)]
    assert int(resumed.model_state["generator"][PROGRESS]["step"]) == 5

