"""Discriminator ensembles (GMAN): K discriminators with their own params, each player's loss the
mean over them (or one drawn per loss), checked against K single-discriminator GANs holding the
members' params; and one core train step of the ensemble."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import genjax.objectives.gan as G
from genjax.data import DatasetMetadata
from genjax.parallel import make_mesh
from genjax.train.init import init_train_state
from genjax.train.step import make_train_step

POINTS = DatasetMetadata("builtin:ring8", "points", (2,), 8, (-1.0, 1.0), 100)
K = 3


def cfg(**fields):
    base = dict(name="gan", z_dim=4, generator=dict(width=8, depth=1), discriminator=dict(width=8, depth=1))
    return ml_collections.ConfigDict({**base, **fields})


def _setup(**fields):
    obj = G.make(cfg(num_discriminators=K, **fields), POINTS)
    single = G.make(cfg(**fields), POINTS)
    batch = {"x": jax.random.uniform(jax.random.key(0), (8, 2), minval=-1, maxval=1)}
    variables = obj.init(jax.random.key(1), batch)
    params = jax.tree.map(jnp.asarray, {p: v.params for p, v in variables.items()})
    params = {
        p: jax.tree.map(lambda a: getattr(a, "value", a), v, is_leaf=lambda a: hasattr(a, "value"))
        for p, v in params.items()
    }
    state = {p: dict(v.state) for p, v in variables.items()}
    return obj, single, batch, params, state


def _member(params, k):
    return {**params, "discriminator": jax.tree.map(lambda a: a[k], params["discriminator"]["member"])}


def test_k_heads_with_their_own_params():
    _, _, _, params, _ = _setup()
    leaves = jax.tree.leaves(params["discriminator"])
    assert leaves and all(a.shape[0] == K for a in leaves)
    kernel = params["discriminator"]["member"]["hidden_0"]["kernel"]
    assert not np.allclose(kernel[0], kernel[1])


@pytest.mark.parametrize("player", ["discriminator", "generator"])
def test_loss_is_the_mean_of_the_members_losses(player):
    obj, single, batch, params, state = _setup(pack=2, r1_gamma=2.0)
    key, step = jax.random.key(4), jnp.int32(0)
    ensemble = obj.loss(player, params, state, batch, key, step).loss
    members = [single.loss(player, _member(params, k), state, batch, key, step).loss for k in range(K)]
    assert ensemble.shape == (8,)
    np.testing.assert_allclose(ensemble, np.mean(members, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(members[0], members[1])


def test_random_choice_takes_one_members_loss():
    obj, single, batch, params, state = _setup(discriminator_choice="random")
    picked = set()
    for seed in range(12):
        key = jax.random.key(seed)
        loss = obj.loss("discriminator", params, state, batch, key, jnp.int32(0)).loss
        members = [
            single.loss("discriminator", _member(params, k), state, batch, key, jnp.int32(0)).loss for k in range(K)
        ]
        matches = [k for k in range(K) if np.allclose(loss, members[k], rtol=1e-5, atol=1e-6)]
        assert len(matches) == 1
        picked.add(matches[0])
    assert picked == set(range(K))


def test_core_step_trains_every_member():
    obj = G.make(cfg(num_discriminators=K, r1_gamma=1.0), POINTS)
    txs = {"generator": optax.adam(1e-2), "discriminator": optax.adam(1e-2)}
    spec = {"x": jax.ShapeDtypeStruct((8, 2), jnp.float32)}
    mesh = make_mesh(ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1)))
    state, _ = init_train_state(
        obj, txs, jax.random.PRNGKey(0), spec, mesh, rules=(), min_fsdp_size=2**16, ema_decays=()
    )
    new, metrics = jax.jit(make_train_step(obj))(state, {"x": jnp.linspace(-1, 1, 16).reshape(8, 2)})
    assert int(metrics["nonfinite_steps"]) == 0
    before, after = state.params["discriminator"], new.params["discriminator"]
    moved = jax.tree.map(lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).reshape(K, -1).max(1), before, after)
    assert all(np.all(m > 0) for m in jax.tree.leaves(moved))


def test_path_length_with_an_ensemble_is_a_clear_error():
    with pytest.raises(ValueError, match="num_discriminators"):
        G.make(cfg(num_discriminators=2, arch="stylegan2", pl_weight=1.0), POINTS)


def test_runlocal_training_with_two_discriminators(tmp_path):
    from genjax.cli import main
    from genjax.train.loop import load_run

    args = ["train", "--config", "ring8_gan:runlocal", "--workdir", str(tmp_path), "--config.train.progress=false"]
    assert main([*args, "--config.objective.num_discriminators=2"]) == 0
    params = load_run(tmp_path).state.params["discriminator"]
    assert all(np.asarray(a).shape[0] == 2 for a in jax.tree.leaves(params))
