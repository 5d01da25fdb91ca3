"""CycleGAN: image pool semantics, losses by hand, one objective evaluation at tiny size."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genjax.data import DatasetMetadata
from genjax.objectives import cyclegan as C

META = DatasetMetadata("tiny", "image", (8, 8, 1), 10, (-1.0, 1.0), 100)


def test_pool_fills_then_swaps_half():
    pool, count = jnp.zeros((4, 1)), jnp.int32(0)
    out, pool, count = C.query_pool(pool, count, jnp.array([[1.0], [2.0], [3.0]]), jax.random.key(0))
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3])  # not full: returns the new images
    np.testing.assert_array_equal(pool[:3, 0], [1, 2, 3])
    assert int(count) == 3
    returned_old = 0
    for i in range(40):  # full pool: each image is swapped with probability 1/2
        new = jnp.full((2, 1), 100.0 + i)
        before = np.asarray(pool)
        out, pool, count = C.query_pool(pool, count, new, jax.random.key(i + 1))
        for o in np.asarray(out[:, 0]):
            if o != 100.0 + i:
                assert o in before[:, 0]
                returned_old += 1
        assert int(count) == 4
    assert 25 <= returned_old <= 55  # ~Binomial(80, 1/2) (40 is the mean)


def test_cyclegan_losses_and_sampling():
    cfg = ml_collections.ConfigDict(dict(name="cyclegan", ch=4, n_blocks=1, d_ch=4, d_layers=2, pool_size=4))
    obj = C.make(cfg, META)
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1), minval=-1, maxval=1)
    batch = {"x": x, "y": jnp.zeros(4, jnp.int32)}
    a, b = obj.domains(batch)
    np.testing.assert_allclose(b, -x[2:])  # inverted, from the other half of the batch
    v = obj.init(jax.random.key(1), batch)
    params = {p: w.params for p, w in v.items()}
    state = {p: dict(w.state) for p, w in v.items()}

    @jax.jit
    def run(params, state):
        d = obj.loss("discriminator", params, state, batch, jax.random.key(2), jnp.int32(0))
        g = obj.loss("generator", params, state, batch, jax.random.key(3), jnp.int32(0))
        fb, fa = obj.translate(params, a, "ab"), obj.translate(params, b, "ba")
        parts = (
            obj._d(params, fb, "b"),
            obj._d(params, fa, "a"),
            obj.translate(params, fb, "ba"),
            obj.translate(params, fa, "ab"),
            obj.translate(params, a, "ba"),
            obj.translate(params, b, "ab"),
            obj._d(params, a, "a"),
            obj._d(params, b, "b"),
        )
        return d, g, parts, obj.sample(params, d.state, jax.random.key(4), 3)

    d, g, (db, da, cyc_a, cyc_b, id_a, id_b, real_a, real_b), samples = run(params, state)
    l1 = lambda u, w: np.abs(np.asarray(u) - np.asarray(w)).reshape(u.shape[0], -1).mean(-1)
    expect = np.concatenate(
        [
            0.5 * (np.asarray(db) - 1) ** 2 + 10 * l1(cyc_a, a) + 5 * l1(id_a, a),
            0.5 * (np.asarray(da) - 1) ** 2 + 10 * l1(cyc_b, b) + 5 * l1(id_b, b),
        ]
    )
    np.testing.assert_allclose(g.loss, expect, rtol=1e-5)
    # D_A on real A and on F(b), D_B on real B and on G(a): the pools are filling, so they pass
    # the new fakes through
    ls_d = lambda r, f: 0.5 * (np.asarray(r) - 1) ** 2 + 0.5 * np.asarray(f) ** 2  # noqa: E731
    np.testing.assert_allclose(d.loss, np.concatenate([ls_d(real_a, da), ls_d(real_b, db)]), rtol=1e-5, atol=1e-6)
    assert int(d.state["discriminator"]["pool"]["count_a"]) == 2
    assert samples.shape == (3, 8, 8, 1)
    with pytest.raises(ValueError, match="domain_b"):
        C.make(ml_collections.ConfigDict(dict(name="cyclegan", domain_b="fashion")), META)


def test_unpaired_domains_and_eval_reference():
    """domain_b='unpaired': a and b are the channel halves of x [B, H, W, 2C] (the whole batch for
    both), and samples are evaluated against domain B; 'invert' against the inverted images."""
    unpaired = DatasetMetadata("unpaired:npz:a.npz|npz:b.npz", "image", (8, 8, 2), None, (-1.0, 1.0), 100)
    cfg = ml_collections.ConfigDict(
        dict(name="cyclegan", ch=4, n_blocks=1, d_ch=4, d_layers=2, pool_size=4, domain_b="unpaired")
    )
    obj = C.make(cfg, unpaired)
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 2), minval=-1, maxval=1)
    a, b = obj.domains({"x": x})
    np.testing.assert_array_equal(a, x[..., :1])
    np.testing.assert_array_equal(b, x[..., 1:])
    np.testing.assert_array_equal(obj.eval_reference(x), x[..., 1:])
    v = obj.init(jax.random.key(1), {"x": x})
    params = {p: w.params for p, w in v.items()}
    state = {p: dict(w.state) for p, w in v.items()}
    g = obj.loss("generator", params, state, {"x": x}, jax.random.key(3), jnp.int32(0))
    assert g.loss.shape == (8,) and np.all(np.isfinite(g.loss))  # 4 A->B terms, 4 B->A terms
    assert obj.sample(params, state, jax.random.key(4), 3).shape == (3, 8, 8, 1)

    inverted = C.make(ml_collections.ConfigDict(dict(name="cyclegan", ch=4, n_blocks=1)), META)
    np.testing.assert_allclose(inverted.eval_reference(x[..., :1]), -x[..., :1])
    with pytest.raises(ValueError, match="goes with data.source='unpaired:SRC_A|SRC_B'"):
        C.make(ml_collections.ConfigDict(dict(name="cyclegan", domain_b="unpaired")), META)
    with pytest.raises(ValueError, match="domain_b='invert' with a single dataset"):
        C.make(ml_collections.ConfigDict(dict(name="cyclegan")), unpaired)


@pytest.mark.slow
def test_eval_compares_translations_with_domain_b(tmp_path, capsys):
    """`genjax eval --metrics fid` on a CycleGAN workdir (digits -> inverted digits): G(a) against
    the inverted eval images, the same number as the metric computed directly on those."""
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
                "mnist_cyclegan:runlocal",
                "--workdir",
                str(tmp_path),
                "--config.train.progress=false",
                "--config.data.source=builtin:digits",
                "--config.data.split=train[:90%]",
                "--config.data.eval_split=train[90%:]",
                "--config.data.batch_size=8",
                "--config.eval.kwargs.features=raw",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", "--workdir", str(tmp_path), "--metrics", "fid", "--num", "16", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = load_run(str(tmp_path))
    fake = r.sample(16, 3, ema_index=0)
    real = load_examples(r.config.data, 16, split="train[90%:]")["x"]
    inverted = metrics.compute(["fid"], fake, -real, metadata=r.metadata, rng_seed=3, features="raw")
    as_is = metrics.compute(["fid"], fake, real, metadata=r.metadata, rng_seed=3, features="raw")
    np.testing.assert_allclose(printed["fid"], inverted["fid"], rtol=1e-4)
    assert not np.isclose(printed["fid"], as_is["fid"], rtol=1e-2)
