"""DiT: adaLN-Zero initialisation, logical axis names, sharding over an 8-device mesh."""

import os
import subprocess
import sys

import numpy as np
import pytest

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.nn.dit import DiT, sincos_2d
from genjax.parallel import axes


def _init(net, x):
    return net.init(jax.random.key(0), x, jnp.ones((x.shape[0],)), jnp.zeros((x.shape[0],), jnp.int32))


def test_adaln_zero_output_and_names():
    net = DiT(patch=2, hidden=32, depth=2, num_heads=4, num_classes=5)
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
    variables = _init(net, x)
    out = net.apply(variables, x, jnp.array([1.0, 2.0]), jnp.array([0, 4]))
    assert out.shape == x.shape
    np.testing.assert_array_equal(out, 0.0)  # adaLN-Zero: every residual branch and the head start at zero
    boxed = jax.tree.leaves(variables["params"], is_leaf=lambda v: isinstance(v, nn.LogicallyPartitioned))
    named = [b for b in boxed if isinstance(b, nn.LogicallyPartitioned)]
    assert len(named) >= 10
    assert {n for b in named for n in b.names if n} <= set(axes.ALL)
    qkv = variables["params"]["block_0"]["qkv"]["kernel"]
    assert qkv.names == (axes.EMBED, None, axes.HEADS, axes.KV)


def test_patchify_roundtrip_and_position_embedding():
    """With a non-zero head, the output at a patch depends on that patch's tokens only through the
    transformer: a network of depth 0 maps each patch independently."""
    net = DiT(patch=2, hidden=16, depth=0, num_heads=2)
    x = jax.random.normal(jax.random.key(1), (1, 4, 4, 1))
    params = nn.meta.unbox(_init(net, x)["params"])
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(2), len(leaves))
    params = jax.tree.unflatten(tree, [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    f = lambda x: net.apply({"params": params}, x, jnp.ones((1,)))
    base = f(x)
    x2 = x.at[0, 0, 0, 0].add(1.0)  # changes the top-left patch only
    diff = np.abs(np.asarray(f(x2) - base))[0, :, :, 0]
    assert diff[:2, :2].max() > 0 and diff[2:, :].max() == 0 and diff[:, 2:].max() == 0
    pe = sincos_2d(4, 8)
    assert pe.shape == (16, 8) and np.allclose(pe[0], [0, 0, 1, 1, 0, 0, 1, 1])


SHARDED = """
import jax, jax.numpy as jnp, numpy as np, flax.linen as nn
from jax.sharding import PartitionSpec as P
from genjax.config import base_config
from genjax.nn.dit import DiT
from genjax.parallel import make_mesh, tree_shardings
from ml_collections import ConfigDict
c = base_config()
mesh = make_mesh(ConfigDict(dict(data=2, fsdp=2, tensor=2)))
net = DiT(patch=2, hidden=32, depth=1, num_heads=4, num_classes=3)
x = jax.random.normal(jax.random.key(1), (8, 8, 8, 1))
t, y = jnp.linspace(1.0, 900.0, 8), jnp.arange(8) % 3
abstract = jax.eval_shape(lambda: net.init(jax.random.key(0), x, t, y))["params"]
sh = tree_shardings(abstract, mesh, c.sharding.rules, 1)
assert sh["block_0"]["qkv"]["kernel"].spec == P("fsdp", None, "tensor", None), sh["block_0"]["qkv"]["kernel"].spec
assert sh["block_0"]["fc1"]["kernel"].spec == P("fsdp", "tensor")
params = jax.jit(lambda: nn.meta.unbox(net.init(jax.random.key(0), x, t, y)["params"]), out_shardings=sh)()
params = jax.tree.map(lambda p: p + 0.01, params)
f = jax.jit(lambda p, x: net.apply({"params": p}, x, t, y))
sharded = f(params, jax.device_put(x, jax.sharding.NamedSharding(mesh, P(("data", "fsdp")))))
single = f(jax.device_get(params), x)
np.testing.assert_allclose(np.asarray(sharded), np.asarray(single), rtol=2e-4, atol=2e-5)
print("ok")
"""


@pytest.mark.slow
def test_dit_shards_over_fsdp_and_tensor():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]
