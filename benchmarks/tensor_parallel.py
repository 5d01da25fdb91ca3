"""Per-device FLOPs and collective bytes of a compiled UNet / DiT gradient step on a mesh, against
the same step compiled for one device (docs/scaling.md, "Tensor parallelism").

    XLA_FLAGS=--xla_force_host_platform_device_count=8 JAX_PLATFORMS=cpu \\
        python benchmarks/tensor_parallel.py [--mesh 1,1,8 --mesh 2,2,2] [--check] [--json]

Compile only (no step runs) unless --check, which also runs the step sharded and on one device
and prints the largest relative difference of the loss and the gradients. The step is
grad(mean ||net(x, t) - x||^2) w.r.t. the params, params sharded by the config's logical rules
(`config.sharding.rules`) and the activations constrained under them (genjax.parallel.constrain).
"""

from __future__ import annotations

import argparse
import json
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from ml_collections import ConfigDict

from genjax.config_schema import SHARDING_RULES
from genjax.nn.dit import DiT
from genjax.nn.unet import UNet
from genjax.parallel import activation_rules, make_mesh, tree_shardings
from genjax.parallel.axes import BATCH_AXES
from genjax.parallel.cost import compiled_cost

MODELS = {
    "unet": lambda: UNet(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_heads=8, dropout=0.0),
    "dit": lambda: DiT(patch=2, hidden=64, depth=2, num_heads=8, mlp_ratio=4.0),
}
BATCH, SIZE = 8, 8  # x [8, 8, 8, 3]


def inputs() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(1), (BATCH, SIZE, SIZE, 3))
    return x, jnp.linspace(0.1, 5.0, BATCH)


def grad_step(net: nn.Module):
    """(params, x, t) -> (loss, grads) of the denoising-style loss mean ||net(x, t) - x||^2."""

    def loss(params, x, t):
        return jnp.mean((net.apply({"params": params}, x, t) - x) ** 2)

    return jax.value_and_grad(loss)


def measure(name: str, mesh_shape: tuple[int, int, int], check: bool = False, rules=SHARDING_RULES) -> dict:
    """Per-device cost of the model's gradient step on `mesh_shape` (data, fsdp, tensor) and on one
    device; with `check`, also the largest relative differences of loss and gradients."""
    net, (x, t) = MODELS[name](), inputs()
    boxed = jax.eval_shape(lambda: net.init(jax.random.key(0), x, t))["params"]
    params = jax.jit(lambda: nn.meta.unbox(net.init(jax.random.key(0), x, t)["params"]))()
    # moved off the zero initialisations, so that every gradient is non-zero
    params = jax.jit(partial(jax.tree.map, lambda p: p + 0.01 * jnp.cos(jnp.arange(p.size).reshape(p.shape))))(params)
    step = grad_step(net)
    one = jax.jit(step).lower(params, x, t).compile()
    mesh = make_mesh(ConfigDict(dict(zip(("data", "fsdp", "tensor"), mesh_shape))))
    param_sh = tree_shardings(boxed, mesh, rules, 1 << 16)
    batch_sh = NamedSharding(mesh, P(BATCH_AXES))

    def sharded_step(params, x, t):
        with activation_rules(mesh, rules):
            return step(params, x, t)

    fn = jax.jit(
        sharded_step, in_shardings=(param_sh, batch_sh, batch_sh), out_shardings=(NamedSharding(mesh, P()), param_sh)
    )
    compiled = fn.lower(params, x, t).compile()
    cost, total = compiled_cost(compiled), compiled_cost(one)
    param_bytes = sum(int(p.size) * p.dtype.itemsize for p in jax.tree.leaves(params))
    out = {
        "model": name,
        "mesh": list(mesh_shape),
        "flops_total": total["flops"],
        "flops_per_device": cost["flops"],
        "flops_ratio": cost["flops"] / (total["flops"] / mesh.size),
        "param_bytes": param_bytes,
        "collective_bytes": cost["collective_bytes"],
        "collectives": {k: cost[k] for k in ("all-gather", "all-reduce", "reduce-scatter", "all-to-all")},
    }
    if check:
        loss1, grads1 = one(params, x, t)
        loss8, grads8 = compiled(
            jax.device_put(params, param_sh), jax.device_put(x, batch_sh), jax.device_put(t, batch_sh)
        )
        flat = lambda tree: np.concatenate([np.ravel(v) for v in jax.tree.leaves(jax.device_get(tree))])  # noqa: E731
        rel = lambda a, b: float(np.max(np.abs(flat(a) - flat(b))) / np.max(np.abs(flat(b))))  # noqa: E731
        out["loss_rel_diff"] = rel(loss8, loss1)
        out["grad_rel_diff"] = rel(grads8, grads1)  # max |difference| / max |gradient| over all params
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), action="append")
    parser.add_argument("--mesh", action="append", help="data,fsdp,tensor (default: 1,1,8 and 2,2,2)")
    parser.add_argument("--check", action="store_true", help="also run the step and compare with one device")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args()
    meshes = [tuple(int(v) for v in m.split(",")) for m in (args.mesh or ["1,1,8", "2,2,2"])]
    for name in args.model or sorted(MODELS, reverse=True):
        for shape in meshes:
            r = measure(name, shape, args.check)
            if args.json:
                print(json.dumps(r), flush=True)
                continue
            line = (
                f"{name:5s} mesh data={shape[0]} fsdp={shape[1]} tensor={shape[2]}: "
                f"{r['flops_per_device'] / 1e6:8.1f} MFLOP/device = {r['flops_ratio']:.2f} x total/{np.prod(shape)} "
                f"(total {r['flops_total'] / 1e6:.1f}); collectives {r['collective_bytes'] / 2**20:.2f} MiB "
                f"= {r['collective_bytes'] / r['param_bytes']:.2f} x params ({r['param_bytes'] / 2**20:.2f} MiB)"
            )
            if args.check:
                line += f"; rel. diff loss {r['loss_rel_diff']:.1e}, grads {r['grad_rel_diff']:.1e}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
