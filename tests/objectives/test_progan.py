"""The ProGAN objective: growth schedule, real-image fading, the loss against its formula,
samples across a stage boundary, per-resolution batch sizes and learning rates, optimizer resets
against the reference's lod rule, config errors; and training runs through `run()` across a stage
boundary, uninterrupted, resumed in the middle of a fade-in and resumed right at the boundary."""

import dataclasses
import json
import logging
import math
import shutil
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
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
    alpha = lambda k, s: float(obj.at_stage(k).nets.alpha(jnp.int32(s)))  # noqa: E731
    assert [alpha(1, s) for s in range(1, 8)] == pytest.approx([0, 0, 1 / 3, 2 / 3, 1, 1, 1])
    assert [alpha(2, s) for s in range(7, 12)] == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    assert alpha(0, 0) == alpha(0, 5) == 1.0
    assert float(objective(fade_steps=0).at_stage(1).nets.alpha(jnp.int32(0))) == 1.0  # no fade-in
    with pytest.raises(ValueError, match="stage 3 out of range 0..2"):
        obj.at_stage(3)


def test_real_images_are_pooled_and_faded_like_the_paper():
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype(np.float32)
    blocks = lambda v, f: v.reshape(v.shape[0], v.shape[1] // f, f, v.shape[2] // f, f, 1).mean((2, 4))  # noqa: E731
    x8 = blocks(x, 2)  # stage 1 (8x8) of 16x16 images
    low = np.repeat(np.repeat(blocks(x8, 2), 2, 1), 2, 2)
    obj = objective().at_stage(1)
    np.testing.assert_allclose(obj.nets.real_images(jnp.asarray(x), 0.25), 0.75 * low + 0.25 * x8, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(objective().at_stage(0).nets.real_images(jnp.asarray(x), 0.25), blocks(x, 4), atol=1e-6)
    np.testing.assert_array_equal(objective().at_stage(2).nets.real_images(jnp.asarray(x), 1.0), x)


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
    real = obj.nets.real_images(x, alpha)
    G = lambda z: obj.nets.generator.apply({"params": params["generator"]}, z, 1, alpha)  # noqa: E731
    D = lambda v: obj.nets.discriminator.apply({"params": params["discriminator"]}, v, 1, alpha)  # noqa: E731
    no_gp = dataclasses.replace(obj, d_terms=tuple(t for t in obj.d_terms if t.name != "gp"))
    out = no_gp.loss("discriminator", params, state, {"x": x}, rng, step)
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


def test_per_resolution_batch_sizes_and_learning_rates():
    """Keys are resolutions (str, or int from Python); a stage's values apply from its first
    (fade-in) step: the lr factor at the steps on both sides of each boundary."""
    obj = objective(
        fade_steps=3,
        stable_steps=2,
        batch_sizes={4: 16, 16: 8},
        lr_scales={"generator": {"8": 0.5, "16": 2}, "discriminator": {"16": 0.25}},
    )
    assert obj.batch_sizes == (16, None, 8)
    lr = lambda p, s: obj.at_stage(obj.stage_at(s)).lr_scale(p)  # noqa: E731
    # boundaries before steps 2 (8x8) and 7 (16x16)
    assert [lr("generator", s) for s in (0, 1, 2, 6, 7, 20)] == [1, 1, 0.5, 0.5, 2, 2]
    assert [lr("discriminator", s) for s in (0, 1, 2, 6, 7, 20)] == [1, 1, 1, 1, 0.25, 0.25]
    shared = objective(fade_steps=3, stable_steps=2, lr_scales={"8": 0.5})
    assert [shared.at_stage(k).lr_scale(p) for k in range(3) for p in shared.players] == [1, 1, 0.5, 0.5, 1, 1]
    plain = objective()
    assert plain.batch_sizes == () and plain.lr_scales == () and plain.at_stage(2).lr_scale("generator") == 1.0


def test_plan_is_one_gan_stage_per_resolution():
    """plan(): stages [0, 2), [2, 7), [7, end) of GAN objectives at stages 0, 1, 2 with ProGAN's
    terms; their batch sizes (data.batch_size where unset), lr factors and optimizer resets
    (each fade-in's first step and its first step at alpha = 1)."""
    from genjax.objectives.base import Stage, training_plan
    from genjax.objectives.gan import GAN

    obj = objective(
        fade_steps=3,
        stable_steps=2,
        batch_sizes={4: 16, 16: 8},
        lr_scales={"generator": {"8": 0.5, "16": 2}, "discriminator": {"16": 0.25}},
    )
    plan = training_plan(obj, 4)
    assert plan == obj.plan(4)
    assert plan.stages == (
        Stage(0, 2, obj.at_stage(0), 16, {"generator": 1.0, "discriminator": 1.0}, ()),
        Stage(2, 7, obj.at_stage(1), 4, {"generator": 0.5, "discriminator": 1.0}, (2, 5)),
        Stage(7, None, obj.at_stage(2), 8, {"generator": 2.0, "discriminator": 0.25}, (7, 10)),
    )
    for k, stage in enumerate(plan.stages):
        assert isinstance(stage.objective, GAN) and stage.objective.stage == k
        assert [t.name for t in stage.objective.d_terms] == ["adv", "gp", "drift"]
        assert [t.name for t in stage.objective.g_terms] == ["adv"]
    plain = objective(fade_steps=3, stable_steps=2, reset_optimizer=False).plan(4)
    assert [(s.batch_size, s.lr_scale, s.reset_optimizer) for s in plain.stages] == [(4, {}, ())] * 3


def _reference_lod(step, fade, stable, final_stage):
    """The reference's TrainingSchedule lod (in steps instead of kimg): each phase stabilises,
    then fades the next resolution in; lod = final_stage at the first resolution, 0 at the last."""
    idx, t = divmod(step, fade + stable)
    lod = final_stage - idx - (max(t - stable, 0) / fade if fade else 0)
    return max(lod, 0.0)


@pytest.mark.parametrize("fade,stable", [(3, 2), (0, 2), (1, 1)])
def test_optimizer_resets_at_stage_starts_and_where_the_reference_lod_ceil_changes(fade, stable):
    """train.py resets when floor(lod) or ceil(lod) changes: when a fade-in starts (stage k starts
    here, at alpha 0, one step before floor(lod) moves) and when it ends (ceil(lod) moves)."""
    obj = objective(fade_steps=fade, stable_steps=stable)
    starts = {stable + (k - 1) * (fade + stable) for k in (1, 2)}
    lods = [_reference_lod(s, fade, stable, obj.final_stage) for s in range(40)]
    ceil_moves = {s for s in range(1, 40) if math.ceil(lods[s]) != math.ceil(lods[s - 1])}
    assert [s for s in range(40) if obj.reset_optimizer_at(s)] == sorted(starts | ceil_moves)
    assert sorted(starts | ceil_moves)[:2] == ([stable, stable + fade] if fade else [stable, 2 * stable])
    off = objective(fade_steps=fade, stable_steps=stable, reset_optimizer=False)
    assert not any(off.reset_optimizer_at(s) for s in range(40))


@pytest.mark.parametrize(
    "fields,meta,match",
    [
        (dict(fade_step=3), IMAGES, r"unknown field\(s\) \['fade_step'\]"),
        (dict(fade_steps=-1), IMAGES, "fade_steps must be >= 0"),
        (dict(stable_steps=0), IMAGES, "stable_steps must be >= 1"),
        (dict(discriminator=dict(in_shape=(8, 8, 1))), IMAGES, "in_shape comes from the data"),
        (dict(generator=dict(width=3)), IMAGES, r"generator has unknown field\(s\) \['width'\]"),
        ({}, DatasetMetadata("ring", "points", (2,), None, (-1.0, 1.0), 10), "needs square images"),
        ({}, DatasetMetadata("odd", "image", (9, 9, 1), None, (-1.0, 1.0), 10), "set data.image_size"),
        (
            dict(batch_sizes={"32": 8}),
            IMAGES,
            (
                r"batch_sizes has key '32', which is not a stage resolution; "
                r"the stages train at 4, 8, 16$"
            ),
        ),
        (dict(batch_sizes={"six": 8}), IMAGES, "key 'six', which is not a stage resolution"),
        (dict(batch_sizes={"8": 0}), IMAGES, r"batch_sizes\['8'\] must be a positive int"),
        (dict(batch_sizes={"8": 4.0}), IMAGES, r"batch_sizes\['8'\] must be a positive int"),
        (
            dict(batch_sizes={"8": 6}),
            IMAGES,
            r"batch_sizes\['8'\]=6 is not divisible by the minibatch-std group size 4",
        ),
        (dict(batch_sizes=64), IMAGES, "config.objective.batch_sizes must be a mapping, got 64"),
        (dict(lr_scales={"generator": 2}), IMAGES, "lr_scales.generator must map stage resolutions to values"),
        (dict(drift=-0.1), IMAGES, r"config.objective.drift must be >= 0, got -0.1"),
        (dict(lr_scales={"8": 0}), IMAGES, r"lr_scales\['8'\] must be a positive number"),
        (dict(lr_scales={"8": "x"}), IMAGES, r"lr_scales\['8'\] must be a positive number"),
        (dict(lr_scales={"gen": {"8": 2}}), IMAGES, r"key 'gen'.*or name a player: generator, discriminator"),
        (dict(lr_scales={"generator": {"8": 2}, "8": 1}), IMAGES, "mixes player names and resolutions"),
        (dict(lr_scales={"generator": {"7": 2}}), IMAGES, "lr_scales.generator has key '7'"),
        (dict(reset_optimizer="yes"), IMAGES, "reset_optimizer must be true or false"),
    ],
)
def test_config_errors_name_the_field(fields, meta, match):
    with pytest.raises(ValueError, match=match):
        objective(meta, **fields)


# ---- training through run() -------------------------------------------------------------------
LR, B2, EPS = 1e-3, 0.99, 1e-8
LR_SCALES = {"generator": {"4": 2.0, "8": 0.5}, "discriminator": {"8": 0.25}}  # 4x4: (2, 1), 8x8: (0.5, 0.25)


def _config(aot_compile):
    """5 steps on 8x8 digits: stage 0 (4x4, batch 8) trains steps 0-1, stage 1 (8x8, batch 4)
    fades in over steps 2-3 and is stable from step 4; per-resolution learning-rate factors;
    Adam(b1 = 0) restarts before steps 2 and 4; a checkpoint after every step. No gradient
    penalty (it is tested above; compile time)."""
    c = config_lib.base_config()
    c.data.source = "builtin:digits"
    c.data.batch_size = 8
    c.objective = ml_collections.ConfigDict(
        {
            "name": "progan",
            "z_dim": 4,
            **NETS,
            "fade_steps": 2,
            "stable_steps": 2,
            "gp_weight": 0.0,
            "batch_sizes": {"8": 4},
            "lr_scales": LR_SCALES,
        }
    )
    c.objective.discriminator.mbstd_group = 4
    c.optim.lr = LR
    c.optim.b1 = 0.0
    c.optim.b2 = B2
    c.optim.eps = EPS
    c.train.update(
        steps=5,
        log_every=1,
        sample_every=5,
        checkpoint_every=1,
        keep_checkpoints=5,
        progress=False,
        async_checkpoint=False,
        ema_decays=(0.9,),
        aot_compile=aot_compile,
    )
    c.sample.num = 4
    return c


def test_run_checks_every_stage_batch_before_training(tmp_path):
    c = _config(False)
    c.train.grad_accum = 8  # data.batch_size 8 splits; stage 1's batch 4 does not
    with pytest.raises(
        ValueError,
        match=r"the batch size of stage 1 of objective 'progan': the global "
        r"batch 4 is not divisible by the 8 micro-batches of config.train.grad_accum",
    ):
        loop.build_run(c, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def _resume_from(root, src, dst, step):
    """A copy of run `src` stopped after `step`, as if preempted right after that checkpoint."""
    shutil.copytree(root / src, root / dst)
    for later in range(step + 1, 6):
        shutil.rmtree(root / dst / "checkpoints" / str(later))
    rows = (root / dst / "metrics.jsonl").read_text().splitlines()[:step]
    (root / dst / "metrics.jsonl").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 5-step run (compiled ahead of time); that run stopped after step 3 (in the
    middle of the fade-in) and resumed to 5, and stopped after step 2 (right at the stage
    boundary) and resumed (jit compiling on first use). Records the stage each train step was
    built and traced for, the log, and per train step the params, optimizer states and batch
    size it got (`seen`) and the optimizer states before a reset (`pre_reset`)."""
    rec = dict(built=[], traced=[], logged=[], seen={}, pre_reset={})
    original, next_batch, reset = loop.make_train_step, loop.Run.next_batch, loop.reset_optimizer

    def counting(objective, **kw):
        fn = original(objective, **kw)
        rec["built"].append(objective.stage)

        def step(*args):
            rec["traced"].append(objective.stage)
            return fn(*args)

        return step

    def recording_next_batch(self):  # run() calls it right before the step, after any reset
        batch = next_batch(self)
        state = jax.device_get((self.state.params, self.state.opt_state))
        rec["seen"][int(self.state.step)] = (*state, batch["x"].shape[0])
        return batch

    def recording_reset(r):
        rec["pre_reset"][int(r.state.step)] = jax.device_get(r.state.opt_state)
        reset(r)

    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "make_train_step", counting)
    mp.setattr(loop.Run, "next_batch", recording_next_batch)
    mp.setattr(loop, "reset_optimizer", recording_reset)
    logger, handler = logging.getLogger("genjax"), logging.Handler(logging.INFO)
    handler.emit = lambda record: rec["logged"].append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    root = tmp_path_factory.mktemp("progan")
    out = {}
    try:
        for name, aot, src, stop in (("a", True, None, None), ("b", False, "a", 3), ("c", False, "a", 2)):
            if src:
                _resume_from(root, src, name, stop)
            for v in rec.values():
                v.clear()
            state = run(_config(aot), root / name)
            out[name] = SimpleNamespace(state=jax.device_get(state), **{k: type(v)(v) for k, v in rec.items()})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        mp.undo()
    return root, out


def _metrics(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _leaves(s):
    return jax.tree.leaves((s.params, s.opt_state, s.ema, s.model_state, s.rng, s.step))


def _adam(opt_state):
    """The ScaleByAdamState and the ScaleByScheduleState of one player's optax.adam state."""
    nodes = jax.tree.leaves(
        opt_state, is_leaf=lambda x: isinstance(x, (optax.ScaleByAdamState, optax.ScaleByScheduleState))
    )
    (adam,) = [n for n in nodes if isinstance(n, optax.ScaleByAdamState)]
    (schedule,) = [n for n in nodes if isinstance(n, optax.ScaleByScheduleState)]
    return adam, schedule


@pytest.mark.slow  # three short runs: ~45 s of compilation on 2 CPU cores
def test_run_recompiles_exactly_at_the_stage_boundary(runs):
    root, out = runs
    a = out["a"]
    assert a.built == a.traced == [0, 1]  # one train step per stage
    compiled = [m for m in a.logged if m.startswith("compiled the train step")]
    assert len(compiled) == 2 and "stage 1" in compiled[1]
    rows = _metrics(root / "a" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    # logged step s is train step s - 1: stage 1 starts at train step 2 with alpha 0
    assert [r["generator/stage"] for r in rows] == [0, 0, 1, 1, 1]
    assert [r["generator/alpha"] for r in rows] == [1, 1, 0, 0.5, 1]
    assert all(np.isfinite(r["loss/discriminator"]) for r in rows)
    assert (root / "a" / "samples" / "step_00000005.png").exists()


@pytest.mark.slow
def test_each_stage_trains_on_its_batch_size(runs):
    _, out = runs
    assert [out["a"].seen[s][2] for s in range(5)] == [8, 8, 4, 4, 4]  # {"8": 4}; 4x4: data.batch_size
    assert [out["b"].seen[s][2] for s in (3, 4)] == [4, 4]
    assert [out["c"].seen[s][2] for s in (2, 3, 4)] == [4, 4, 4]


@pytest.mark.slow
def test_adam_restarts_at_the_boundary_and_the_lr_follows_the_stage(runs):
    """Adam (b1 = 0) from the recorded states alone: before steps 2 and 4 the moments and the
    count are zero; after step s the count is the number of updates since the last reset, and
    the param change is -lr f_k mu / (sqrt(nu / (1 - b2^count)) + eps), with stage k's factor f_k
    on both sides of the boundary. The learning-rate schedule's count never restarts."""
    _, out = runs
    a = out["a"]
    assert sorted(a.pre_reset) == [2, 4]
    assert [m for m in a.logged if m.startswith("reset the optimizer")] == [
        "reset the optimizer states before train step 2 (stage 1)",
        "reset the optimizer states before train step 4 (stage 1)",
    ]
    final = (a.state.params, a.state.opt_state)
    factor = {0: {"generator": 2.0, "discriminator": 1.0}, 1: {"generator": 0.5, "discriminator": 0.25}}
    for s, count in zip(range(5), [1, 2, 1, 2, 1]):
        params, opt_state, _ = a.seen[s]
        new_params = a.seen[s + 1][0] if s < 4 else final[0]
        after = a.pre_reset.get(s + 1, a.seen[s + 1][1] if s < 4 else final[1])  # before a reset
        for p in ("generator", "discriminator"):
            adam, schedule = _adam(opt_state[p])
            if s in (0, 2, 4):  # fresh; right after the boundary and after the fade-in: zero
                assert int(adam.count) == 0
                assert all(not np.any(x) for x in jax.tree.leaves((adam.mu, adam.nu)))
            else:
                assert int(adam.count) > 0 and any(np.any(x) for x in jax.tree.leaves(adam.nu))
            assert int(schedule.count) == s
            adam, _ = _adam(after[p])
            assert int(adam.count) == count
            f = factor[0 if s < 2 else 1][p]
            expected = jax.tree.map(lambda m, v: -LR * f * m / (np.sqrt(v / (1 - B2**count)) + EPS), adam.mu, adam.nu)
            delta = jax.tree.map(lambda x, y: x - y, new_params[p], params[p])
            for d, e in zip(jax.tree.leaves(delta), jax.tree.leaves(expected), strict=True):
                np.testing.assert_allclose(d, e, rtol=1e-3, atol=5e-7)  # float32 param differences
            assert max(np.abs(d).max() for d in jax.tree.leaves(delta)) > 0.5 * LR * f


@pytest.mark.slow
def test_resume_mid_fade_in_is_exact_and_does_not_reset(runs):
    root, out = runs
    b = out["b"]
    # resumed straight into stage 1; jit traced it once for its two steps (no retrace)
    assert b.built == b.traced == [1]
    assert "resumed from step 3" in b.logged
    assert sorted(b.pre_reset) == [4]  # the end of the fade-in, not the resume at step 3
    assert [int(_adam(b.seen[3][1][p])[0].count) for p in ("generator", "discriminator")] == [1, 1]
    assert int(b.state.step) == 5
    for x, y in zip(_leaves(b.state), _leaves(out["a"].state), strict=True):
        np.testing.assert_array_equal(x, y)
    rows = _metrics(root / "b" / "metrics.jsonl")
    assert [(r["step"], r["generator/alpha"]) for r in rows] == [(1, 1), (2, 1), (3, 0), (4, 0.5), (5, 1)]
    assert int(b.state.model_state["generator"][PROGRESS]["step"]) == 5


@pytest.mark.slow
def test_resume_at_the_stage_boundary_resets_and_is_exact(runs):
    """Checkpoint 2 comes after stage 0's last train step, with stage 0's data state; the resumed run
    switches to stage 1's batches and resets Adam before step 2, like the uninterrupted run."""
    _, out = runs
    c = out["c"]
    assert "resumed from step 2" in c.logged
    assert sorted(c.pre_reset) == [2, 4]
    for x, y in zip(_leaves(c.state), _leaves(out["a"].state), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow  # two subprocess runs of three stages each: ~1-2 min on 2 CPU cores
def test_per_stage_batches_sharded_over_4_devices_equal_1(tmp_path, sub):
    """mnist_progan:runlocal on digits resized to 32x32 through stages 0-2 (batches 16,
    16, 8; lr factor 0.5 at 16x16; optimizer resets before steps 1, 3 and 4): a (data 2, fsdp 2)
    mesh on 4 devices trains the same params as 1 device. SGD with momentum (reset like Adam's
    moments): the config's Adam(b1 = 0) steps lr g / |g| amplify the reduction-order noise of tiny
    gradients to a good part of lr on any two meshes, with or without per-stage settings."""
    config = "mnist_progan:runlocal"
    common = [
        config,
        "--config.data.source=builtin:digits",
        "--config.objective.lr_scales.16=0.5",
        "--config.optim.name=sgd",
        "--config.optim.b1=0.9",
        "--config.train.steps=6",
        "--config.train.progress=false",
        "--config.train.sample_every=0",
        "--config.train.checkpoint_every=0",
        "--config.train.async_checkpoint=false",
        "--config.sharding.min_fsdp_size=1",
    ]
    sub.run_worker(["train", tmp_path / "one.npz", tmp_path / "one", *common, "--config.mesh.data=1"], devices=1)
    sub.run_worker(
        ["train", tmp_path / "four.npz", tmp_path / "four", *common, "--config.mesh.data=2", "--config.mesh.fsdp=2"],
        devices=4,
    )
    one, four = sub.load(tmp_path / "one.npz"), sub.load(tmp_path / "four.npz")
    assert any("fsdp" in s for s in four["specs"])
    for key in one:
        if key != "specs":  # params move by up to ~1e-2 in these 6 steps
            np.testing.assert_allclose(four[key], one[key], rtol=1e-3, atol=1e-4, err_msg=key)
    rows = _metrics(tmp_path / "four" / "metrics.jsonl")
    assert [r["generator/stage"] for r in rows] == [2, 2]  # logged at steps 5 and 6 (runlocal's log_every)
