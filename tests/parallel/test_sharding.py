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


def test_default_rule_shards_largest_divisible_dimension():
    mesh = FakeMesh(data=1, fsdp=4, tensor=1)
    assert default_spec((3, 3, 64, 128), mesh, 1) == P(None, None, None, "fsdp")
    assert default_spec((3, 130, 64), mesh, 1) == P(None, None, "fsdp")
    assert default_spec((10,), mesh, 1) == P()
    assert default_spec((64, 128), mesh, 1 << 20) == P()  # small: replicated


@pytest.mark.slow
def test_sharded_training_equals_single_device(tmp_path, sub):
    """20 steps of the digits VAE: 1 device vs data / fsdp / data x fsdp meshes on 8 devices."""
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
    for name, mesh in {"data": (8, 1), "fsdp": (1, 8), "data_fsdp": (2, 4)}.items():
        out = tmp_path / f"{name}.npz"
        sub.run_worker(
            ["train", out, tmp_path / name, *common, f"--config.mesh.data={mesh[0]}", f"--config.mesh.fsdp={mesh[1]}"],
            devices=8,
        )
        got = sub.load(out)
        if mesh[1] > 1:
            assert any("fsdp" in s for s in got["specs"]), f"{name}: no param is sharded over fsdp"
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
