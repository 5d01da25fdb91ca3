"""Schedules of growing objectives (genjax.train.stages): the staged data stream against the plain
one, optimizer resets, the learning-rate factor of the train step, per-stage batch checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

from genjax.config import data_config
from genjax.data import DataError, check_batch_size, make_iterator
from genjax.parallel import make_mesh
from genjax.testing import Regression, ToyGAN
from genjax.train import init_train_state, make_train_step
from genjax.objectives.base import Stage, TrainingPlan, training_plan
from genjax.train.stages import StagedIterator, reset_opt_state


@pytest.fixture
def ids_cfg(tmp_path):
    """40 one-dimensional points x = index: every example is identifiable; no augmentation."""
    np.savez(tmp_path / "ids.npz", x=np.arange(40, dtype=np.float32)[:, None], y=np.arange(40) % 4)
    cfg = data_config()
    cfg.source = f"npz:{tmp_path / 'ids.npz'}"
    return cfg


def _ids(batches):
    return np.concatenate([b["x"][:, 0] for b in batches]).astype(int).tolist()


@pytest.mark.parametrize("process_count", [1, 2])
def test_stages_cut_one_stream_into_their_batch_sizes(ids_cfg, process_count):
    """Stages of 3, 2 and 4 steps at global batches 8, 4, 12: each process sees the examples of
    its plain stream (batch 1 per process) in order, each stage starting where the last stopped."""
    sizes, starts, steps = (8, 4, 12), (0, 3, 5), (3, 2, 4)
    for p in range(process_count):
        it = StagedIterator(ids_cfg, sizes, starts, seed=0, process_index=p, process_count=process_count)
        seen = []
        for k, n in enumerate(steps):
            it.set_stage(k)
            batches = [next(it) for _ in range(n)]
            assert [len(b["x"]) for b in batches] == [sizes[k] // process_count] * n
            seen += _ids(batches)
        plain = make_iterator(ids_cfg, seed=0, process_index=p, process_count=process_count, batch_size=process_count)
        assert seen == _ids([next(plain) for _ in range(len(seen))])


def _after_four_steps(ids_cfg):
    """A two-stage stream (batch 8 for steps 0-2, then 4) after step 4, and its state."""
    it = StagedIterator(ids_cfg, (8, 4), (0, 3), seed=0)
    it.set_stage(0)
    [next(it) for _ in range(3)]
    it.set_stage(1)
    next(it)
    return it, it.get_state()


def test_staged_state_resumes_mid_stage_and_rejects_plain_states(ids_cfg):
    it, state = _after_four_steps(ids_cfg)
    assert state["stage"] == 1 and state["next_batch"] == 1
    expected = _ids([next(it) for _ in range(3)])
    again = StagedIterator(ids_cfg, (8, 4), (0, 3), seed=0)
    again.set_state(state)
    again.set_stage(1)  # the loop's call after restoring: same stage, keeps the position
    assert _ids([next(again) for _ in range(3)]) == expected
    with pytest.raises(ValueError, match="no stage"):
        again.set_state(make_iterator(ids_cfg, seed=0).get_state())
    with pytest.raises(ValueError, match="different input stream"):  # stage 1's state into stage 0's stream
        again.set_state({**state, "stage": 0})


def test_staged_state_is_checked_against_its_stage_and_the_checkpoint_step(ids_cfg):
    it, state = _after_four_steps(ids_cfg)  # stage 1 (from step 3), its batch 1 next
    again = StagedIterator(ids_cfg, (8, 4), (0, 3), seed=0)
    again.set_state(state, step=4)
    with pytest.raises(
        DataError, match=r"next_batch=1, but the checkpoint was saved after 2 train steps on this stream"
    ):
        again.set_state(state, step=5)
    for stage in (2, -1, "1", True, None):
        with pytest.raises(DataError, match=rf"state .*is invalid: stage must be an int in \[0, 2\), got {stage!r}"):
            again.set_state({**state, "stage": stage})
    # A run that stops before stage 1's first step, after entering it: its stream is at stage 1's start.
    it.set_stage(0)
    it.set_stage(1)
    again.set_state(it.get_state(), step=2)


def test_training_plan_tiles_the_steps():
    toy = ToyGAN()
    plan = TrainingPlan((Stage(0, 3, toy, 8), Stage(3, 5, toy, 4), Stage(5, None, toy, 8)))
    assert [plan.stage_at(s) for s in range(8)] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert training_plan(toy, 8) == TrainingPlan((Stage(0, None, toy, 8),))  # not Planned: one stage
    for stages, match in (
        ((Stage(1, None, toy, 8),), "start at step 0"),
        ((Stage(0, 3, toy, 8),), "last must have end=None"),
        ((Stage(0, 3, toy, 8), Stage(4, None, toy, 8)), "tile the steps"),
        ((Stage(0, 0, toy, 8), Stage(0, None, toy, 8)), "tile the steps"),
    ):
        with pytest.raises(ValueError, match=match):
            TrainingPlan(stages)


def test_batch_size_checks():
    check_batch_size(12, "stage 1", process_count=2, num_shards=4, grad_accum=3)
    for kw, match in (
        (dict(process_count=8), "stage 1: the global batch 12 is not divisible by the 8 processes"),
        (dict(num_shards=8), "8 data shards"),
        (dict(grad_accum=5), "5 micro-batches"),
    ):
        kw = {**dict(process_count=1, num_shards=1, grad_accum=1), **kw}
        with pytest.raises(ValueError, match=match):
            check_batch_size(12, "stage 1", **kw)


def _state(objective, tx, batch):
    spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
    mesh = make_mesh(ConfigDict(dict(data=1, fsdp=1, tensor=1)), jax.devices()[:1])
    return init_train_state(
        objective,
        {p: tx for p in objective.players},
        jax.random.PRNGKey(0),
        spec,
        mesh,
        rules=(),
        min_fsdp_size=1 << 30,
        ema_decays=(),
    )[0]


def test_reset_restarts_the_moments_and_keeps_the_schedule_count():
    rng = np.random.default_rng(0)
    batch = {"x": jnp.asarray(rng.normal(size=(8, 3)), jnp.float32), "y": jnp.asarray(rng.normal(size=8), jnp.float32)}
    schedule = optax.linear_schedule(0.0, 1e-2, 10)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule, b1=0.5))
    state = _state(Regression(), tx, batch)
    step = jax.jit(make_train_step(Regression()))
    for _ in range(3):
        state, _ = step(state, batch)
    _, (adam, sched) = state.opt_state["model"]
    assert int(adam.count) == int(sched.count) == 3 and float(jnp.abs(adam.mu["w"]).sum()) > 0
    reset = reset_opt_state(state)
    _, (adam, sched) = reset.opt_state["model"]
    assert int(adam.count) == 0 and int(sched.count) == 3
    np.testing.assert_array_equal(adam.mu["w"], 0.0)
    np.testing.assert_array_equal(adam.nu["w"], 0.0)
    np.testing.assert_array_equal(reset.params["model"]["w"], state.params["model"]["w"])


@pytest.mark.parametrize("player,scale", [("discriminator", 3.0), ("generator", 0.25)])
def test_lr_scale_multiplies_the_players_update(player, scale):
    """With SGD the update is -lr g: the stage's factor s makes it -s lr g. The discriminator
    updates first; the generator's gradient then depends on it, so one player is scaled at a time."""
    batch = {"x": jnp.asarray(np.random.default_rng(0).normal(2.0, 0.5, (16, 1)), jnp.float32)}
    deltas = []
    objective = ToyGAN()
    for lr_scale in ({}, {player: scale}):
        state = _state(objective, optax.sgd(0.1), batch)
        new, _ = jax.jit(make_train_step(objective, lr_scale=lr_scale))(state, batch)
        deltas.append(jax.tree.map(lambda a, b: np.asarray(a - b), new.params, state.params))
    plain, scaled = deltas
    assert all(np.abs(x).sum() > 0 for x in jax.tree.leaves(plain[player]))
    for x, ref in zip(jax.tree.leaves(scaled[player]), jax.tree.leaves(plain[player]), strict=True):
        np.testing.assert_allclose(x, scale * ref, rtol=1e-4, atol=1e-7)  # float32 differences
    if player == "generator":  # the discriminator's update is untouched
        for x, ref in zip(jax.tree.leaves(scaled["discriminator"]), jax.tree.leaves(plain["discriminator"])):
            np.testing.assert_array_equal(x, ref)
