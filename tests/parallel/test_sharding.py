"""Meshes and shardings; sharded training equals single-device training."""

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P
from ml_collections import ConfigDict

from genjax.parallel import logical_spec, mesh_shape
from genjax.parallel.sharding import default_spec


class FakeMesh:
    def __init__(self, **shape):
        self.shape = shape


def test_mesh_shape_fills_the_remaining_axis():
    assert mesh_shape(ConfigDict(dict(data=-1, fsdp=2, tensor=1)), 8) == (4, 2, 1)
    assert mesh_shape(ConfigDict(dict(data=2, fsdp=2, tensor=2)), 8) == (2, 2, 2)


@pytest.mark.parametrize(
    "cfg, match",
    [
        (dict(data=3, fsdp=1, tensor=1), "3 devices|= 3 but there are 8"),
        (dict(data=-1, fsdp=3, tensor=1), "not divisible"),
        (dict(data=-1, fsdp=-1, tensor=1), "at most one"),
        (dict(data=0, fsdp=1, tensor=1), "positive"),
    ],
)
def test_mesh_errors_name_the_problem(cfg, match):
    with pytest.raises(ValueError, match=match):
        mesh_shape(ConfigDict(cfg), 8)


def test_logical_rules():
    mesh = FakeMesh(data=2, fsdp=4, tensor=2)
    rules = (("embed", "fsdp"), ("mlp", "tensor"), ("heads", "tensor"), ("kv", None))
    assert logical_spec(("embed", "mlp"), (64, 32), mesh, rules) == P("fsdp", "tensor")
    # a dimension the mesh axis does not divide stays replicated
    assert logical_spec(("embed", "mlp"), (6, 32), mesh, rules) == P(None, "tensor")
    # one mesh axis shards at most one dimension of an array
    assert logical_spec(("mlp", "heads", "kv"), (8, 8, 4), mesh, rules) == P("tensor", None, None)
    assert logical_spec(("batch",), (8,), mesh, (("batch", ("data", "fsdp")),)) == P(("data", "fsdp"))


TUPLE_RULES = (
    ("batch", ("data", "fsdp")),
    ("embed", ("fsdp", "tensor")),
    ("mlp", "tensor"),
    ("heads", ("data", "tensor")),
)


@pytest.mark.parametrize(
    "names, shape, spec",
    [
        (("batch", "mlp"), (16, 8), P(("data", "fsdp"), "tensor")),
        (("embed",), (8,), P(("fsdp", "tensor"))),
        (("embed",), (12,), P(None)),  # 4 and 2 divide 12, their product 8 does not
        (("embed", "mlp"), (16, 8), P(("fsdp", "tensor"), None)),  # tensor is taken
        (("mlp", "embed"), (8, 16), P("tensor", None)),  # one of embed's axes is taken: all of it stays
        (("batch", "heads"), (16, 8), P(("data", "fsdp"), None)),
        (("heads", "batch"), (8, 16), P(("data", "tensor"), None)),
    ],
)
def test_tuple_rules_shard_over_the_product_of_their_axes(names, shape, spec):
    """Mesh data=2, fsdp=4, tensor=2: a logical name mapped to a tuple of mesh axes shards its
    dimension over all of them (when their product divides it and none is taken by an earlier
    dimension), else leaves it replicated; rules read from a file or flag (lists) are the same."""
    mesh = FakeMesh(data=2, fsdp=4, tensor=2)
    assert logical_spec(names, shape, mesh, TUPLE_RULES) == spec
    as_lists = [[name, list(axes) if isinstance(axes, tuple) else axes] for name, axes in TUPLE_RULES]
    assert logical_spec(names, shape, mesh, as_lists) == spec


def test_tuple_rules_skip_mesh_axes_of_size_one():
    mesh = FakeMesh(data=1, fsdp=4, tensor=2)
    assert logical_spec(("batch",), (8,), mesh, TUPLE_RULES) == P("fsdp")
    assert logical_spec(("batch", "heads"), (8, 4), mesh, TUPLE_RULES) == P("fsdp", "tensor")
    assert logical_spec(("heads", "embed"), (4, 8), mesh, TUPLE_RULES) == P("tensor", None)


def test_tuple_rules_give_each_device_its_block():
    """Boxed abstract params on an 8-device mesh (abstract: no devices needed): each shard holds
    the dimension divided by the product of the mesh axes it is split over."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    from jax.sharding import AbstractMesh

    from genjax.parallel.sharding import tree_shardings

    mesh = AbstractMesh((2, 4, 1), ("data", "fsdp", "tensor"))
    box = lambda shape, names: nn.LogicallyPartitioned(jax.ShapeDtypeStruct(shape, jnp.float32), names)  # noqa: E731
    params = {"w": box((16, 6), ("batch", "mlp")), "v": box((24, 4), ("embed", "heads")), "u": box((6,), ("batch",))}
    shardings = tree_shardings(params, mesh, TUPLE_RULES, min_fsdp_size=1 << 30)
    assert shardings["w"].shard_shape((16, 6)) == (2, 6)  # 16 / (data 2 * fsdp 4)
    assert shardings["v"].shard_shape((24, 4)) == (6, 2)  # 24 / fsdp 4 (tensor is 1), 4 / data 2
    assert shardings["u"].shard_shape((6,)) == (6,)  # 8 does not divide 6


def test_default_rule_shards_largest_divisible_dimension():
    mesh = FakeMesh(data=1, fsdp=4, tensor=1)
    assert default_spec((3, 3, 64, 128), mesh, 1) == P(None, None, None, "fsdp")
    assert default_spec((3, 130, 64), mesh, 1) == P(None, None, "fsdp")
    assert default_spec((10,), mesh, 1) == P()
    assert default_spec((64, 128), mesh, 1 << 20) == P()  # small: replicated


@pytest.mark.slow
def test_sharded_training_equals_single_device(tmp_path, sub):
    """20 steps of the digits VAE: 1 device vs data / fsdp / data x fsdp / data x tensor meshes on
    8 devices."""
    common = [
        "--config.train.steps=20",
        "--config.data.batch_size=16",
        "--config.objective.hidden=(32,)",
        "--config.train.progress=false",
        "--config.train.sample_every=0",
        "--config.train.checkpoint_every=0",
        "--config.train.async_checkpoint=false",
        "--config.sharding.min_fsdp_size=1",
    ]
    sub.run_worker(["train", tmp_path / "one.npz", tmp_path / "one", *common, "--config.mesh.data=1"], devices=1)
    reference = sub.load(tmp_path / "one.npz")
    meshes = {"data": (8, 1, 1), "fsdp": (1, 8, 1), "data_fsdp": (2, 4, 1), "data_tensor": (2, 1, 4)}
    for name, (data, fsdp, tensor) in meshes.items():
        out = tmp_path / f"{name}.npz"
        flags = [f"--config.mesh.data={data}", f"--config.mesh.fsdp={fsdp}", f"--config.mesh.tensor={tensor}"]
        sub.run_worker(["train", out, tmp_path / name, *common, *flags], devices=8)
        got = sub.load(out)
        for axis, size in (("fsdp", fsdp), ("tensor", tensor)):
            if size > 1:
                assert any(axis in s for s in got["specs"]), f"{name}: no param is sharded over {axis}"
        for key in reference:
            if key != "specs":
                np.testing.assert_allclose(got[key], reference[key], rtol=2e-4, atol=2e-5, err_msg=f"{name} {key}")


@pytest.mark.slow
def test_sharded_unet_training_equals_single_device(tmp_path, sub):
    """3 steps of the digits UNet (DDPM): on 1 device its convolution gradients run on the oneDNN
    kernels where they build; on 8 devices, partitioned, on XLA's. Same parameters either way."""
    config = "digits_ddpm:runlocal"
    common = [
        config,
        "--config.train.steps=3",
        "--config.train.progress=false",
        "--config.train.sample_every=0",
        "--config.train.checkpoint_every=0",
        "--config.train.async_checkpoint=false",
    ]
    sub.run_worker(["train", tmp_path / "one.npz", tmp_path / "one", *common, "--config.mesh.data=1"], devices=1)
    sub.run_worker(["train", tmp_path / "eight.npz", tmp_path / "eight", *common, "--config.mesh.data=8"], devices=8)
    one, eight = sub.load(tmp_path / "one.npz"), sub.load(tmp_path / "eight.npz")
    for key in one:
        if key != "specs":
            np.testing.assert_allclose(eight[key], one[key], rtol=1e-4, atol=2e-5, err_msg=key)


@pytest.mark.slow
def test_cli_trains_200_steps_on_8_devices_like_on_one(tmp_path):
    """The README's multi-device command: `genjax train` on 8 fake CPU devices for 200 steps with
    the default logging interval, so up to `train.max_in_flight` steps are queued between host
    syncs (an unbounded queue stalls XLA:CPU's all-reduce on 2 cores). Its logged losses equal
    those of the same run on one device (within float summation order: 200 steps of ~100 nats
    drift by ~4e-4 relative; a gradient all-reduce over a part of the batch drifts far more)."""
    import json
    import os
    import subprocess
    import sys

    overrides = ["--config.train.steps=200", "--config.train.sample_every=0", "--config.train.progress=false"]

    def losses(devices: int) -> list[float]:
        workdir = tmp_path / str(devices)
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
        cmd = [sys.executable, "-m", "genjax.cli", "train", "--config", "digits_vae", "--workdir", str(workdir)]
        proc = subprocess.run([*cmd, *overrides], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["step"] == 200
        return [r["loss/model"] for r in rows]

    np.testing.assert_allclose(losses(8), losses(1), rtol=2e-3)


def _fake_devices(n, per_granule, attr):
    import types

    return [
        types.SimpleNamespace(id=i, platform="cpu", device_kind="cpu", **{attr: i // per_granule}) for i in range(n)
    ]


@pytest.mark.parametrize("attr", ["process_index", "slice_index"])
def test_hybrid_mesh_keeps_each_granule_in_one_block(attr):
    """2 nodes (or TPU slices) x 4 devices, dcn_data=2, fsdp=2 inside: the data axis has 2 * 2 rows,
    and only the step from row 1 to row 2 crosses nodes; fsdp pairs never leave a node."""
    from genjax.parallel.mesh import hybrid_mesh

    devices = _fake_devices(8, 4, attr)
    cfg = ConfigDict(dict(data=-1, fsdp=2, tensor=1, dcn_data=2, dcn_fsdp=1, dcn_tensor=1))
    array = hybrid_mesh(cfg, devices)
    granule = np.vectorize(lambda d: getattr(d, attr))(array)
    assert array.shape == (4, 2, 1)
    np.testing.assert_array_equal(granule[:, :, 0], [[0, 0], [0, 0], [1, 1], [1, 1]])
    assert sorted(d.id for d in array.ravel()) == list(range(8))
    cfg.update(data=2, fsdp=-1, dcn_data=1, dcn_fsdp=2)  # the granules along fsdp instead
    granule = np.vectorize(lambda d: getattr(d, attr))(hybrid_mesh(cfg, devices))
    np.testing.assert_array_equal(granule[:, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_hybrid_mesh_errors_name_the_granules():
    from genjax.parallel.mesh import hybrid_mesh

    cfg = ConfigDict(dict(data=-1, fsdp=1, tensor=1, dcn_data=4, dcn_fsdp=1, dcn_tensor=1))
    with pytest.raises(ValueError, match=r"= 4, but the 8 devices form 2 nodes \(processes\)"):
        hybrid_mesh(cfg, _fake_devices(8, 4, "process_index"))
    cfg.update(dcn_data=2, data=3)
    with pytest.raises(ValueError, match="3 devices|= 3 but there are 4"):
        hybrid_mesh(cfg, _fake_devices(8, 4, "process_index"))


_PLACE_ON_8_DEVICES = """
import json, sys
import flax.linen as nn
import jax
import numpy as np
from ml_collections import ConfigDict
from genjax.parallel import make_mesh
from genjax.parallel.sharding import tree_shardings

rules = json.loads(sys.argv[1])
mesh = make_mesh(ConfigDict(dict(data=2, fsdp=2, tensor=2)))
shapes = {"w": ((8, 6), ("batch", "mlp")), "v": ((12, 4), ("embed", "heads")), "u": ((6,), ("batch",))}
boxed = {k: nn.LogicallyPartitioned(np.arange(np.prod(s), dtype=np.float32).reshape(s), n) for k, (s, n) in shapes.items()}
shardings = tree_shardings(boxed, mesh, rules, min_fsdp_size=1 << 30)
out = {"axes": list(mesh.axis_names)}
for k, (shape, _) in shapes.items():
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    placed = jax.device_put(x, shardings[k])
    shards = []
    for shard in placed.addressable_shards:
        coords = [int(c) for c in np.argwhere(mesh.devices == shard.device)[0]]
        starts = [s.start or 0 for s in shard.index]
        assert np.array_equal(np.asarray(shard.data), x[shard.index])
        shards.append({"coords": coords, "shape": list(shard.data.shape), "starts": starts})
    out[k] = {"spec": repr(shardings[k].spec), "shards": shards}
print(json.dumps(out))
"""


def test_tuple_rules_place_each_block_on_its_device_of_8_fake_cpus():
    """Real arrays on a data=2, fsdp=2, tensor=2 mesh of 8 fake CPU devices (a fresh process):
    a dimension mapped to (data, fsdp) is cut into 4 blocks, block d * 2 + f on the devices at
    data=d, fsdp=f (the first axis of the tuple is the major one, as in a PartitionSpec), and each
    shard's shape and offset are the ones computed by hand here."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    rules = json.dumps([[name, list(axes) if isinstance(axes, tuple) else axes] for name, axes in TUPLE_RULES])
    proc = subprocess.run(
        [sys.executable, "-c", _PLACE_ON_8_DEVICES, rules], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["axes"] == ["data", "fsdp", "tensor"]
    # w [8, 6] (batch, mlp): rows over data x fsdp (8 / 4 = 2 each), columns over tensor (6 / 2 = 3)
    # v [12, 4] (embed, heads): rows over fsdp x tensor (12 / 4 = 3); heads wants data and tensor,
    #   tensor is taken, so the columns stay whole
    # u [6] (batch): 4 does not divide 6, replicated
    assert out["w"]["spec"] == repr(P(("data", "fsdp"), "tensor"))
    assert out["v"]["spec"] == repr(P(("fsdp", "tensor"), None))
    assert out["u"]["spec"] == repr(P(None))
    expected = {
        "w": lambda d, f, t: ([2, 3], [2 * (2 * d + f), 3 * t]),
        "v": lambda d, f, t: ([3, 4], [3 * (2 * f + t), 0]),
        "u": lambda d, f, t: ([6], [0]),
    }
    for name, block in expected.items():
        shards = out[name]["shards"]
        assert sorted(tuple(s["coords"]) for s in shards) == [(d, f, t) for d in (0, 1) for f in (0, 1) for t in (0, 1)]
        for s in shards:
            shape, starts = block(*s["coords"])
            assert (s["shape"], s["starts"]) == (shape, starts), (name, s)


def test_shard_batch_constrains_only_batches_that_divide_over_the_batch_axes():
    """B = 8 over data 2 x fsdp 2 gets a sharding constraint on (data, fsdp); B = 6 (not divisible)
    and a call outside any mesh stay unconstrained."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import AbstractMesh

    from genjax.parallel.sharding import shard_batch

    def constrained(b):
        return "sharding_constraint" in str(jax.make_jaxpr(shard_batch)(jnp.zeros((b, 3))))

    with jax.sharding.use_abstract_mesh(AbstractMesh((2, 2, 1), ("data", "fsdp", "tensor"))):
        assert constrained(8) and constrained(4)
        assert not constrained(6) and not constrained(2)
        jaxpr = jax.make_jaxpr(shard_batch)(jnp.zeros((8, 3)))
        (eqn,) = [e for e in jaxpr.eqns if e.primitive.name == "sharding_constraint"]
        assert eqn.params["sharding"].spec == P(("data", "fsdp"))
    assert not constrained(8)


def test_default_rule_size_threshold_is_inclusive():
    """A param of exactly min_fsdp_size elements is sharded; one element fewer is not."""
    mesh = FakeMesh(data=1, fsdp=4, tensor=1)
    assert default_spec((16, 4), mesh, min_fsdp_size=64) == P("fsdp", None)
    assert default_spec((16, 4), mesh, min_fsdp_size=65) == P()


def test_make_mesh_takes_the_hybrid_layout_when_a_dcn_size_is_set():
    """Devices listed with their nodes interleaved (0, 1, 0, 1, ...): with dcn_data = 2 each node's
    devices form one block of the data axis; a plain reshape would mix them."""
    import dataclasses

    from genjax.parallel.mesh import make_mesh

    @dataclasses.dataclass(frozen=True)
    class Device:  # hashable, as jax.sharding.Mesh needs
        id: int
        process_index: int
        platform: str = "cpu"
        device_kind: str = "cpu"

    devices = [Device(i, i % 2) for i in range(8)]
    cfg = ConfigDict(dict(data=-1, fsdp=2, tensor=1, dcn_data=2, dcn_fsdp=1, dcn_tensor=1))
    nodes = np.vectorize(lambda d: d.process_index)(make_mesh(cfg, devices).devices)[:, :, 0]
    np.testing.assert_array_equal(nodes, [[0, 0], [0, 0], [1, 1], [1, 1]])
