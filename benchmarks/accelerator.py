"""Train-step throughput on an accelerator: DiT-B/2 and DiT-XL/2 on 32x32x4 latents (the latent
diffusion setting of Peebles & Xie 2023) and the CIFAR-10 DDPM UNet (Ho et al. 2020, 35.7M
params), bf16 compute with f32 params: examples/s, TFLOP/s, MFU and peak memory, through the same
train step, mesh and sharding rules as `genjax train`.

    python benchmarks/accelerator.py                      # all three models, batch 256/128
    python benchmarks/accelerator.py --tiny               # a CPU smoke run of tiny stand-ins

FLOPs per step come from XLA's cost analysis of the compiled step (per device, times devices); MFU
divides the achieved FLOP/s by the peak bf16 FLOP/s of `genjax.train.telemetry.PEAK_BF16_TFLOPS`
(no MFU on CPUs). Peak memory is the device's `peak_bytes_in_use` where the backend reports it,
else the compiled step's argument + temporary bytes.
"""

from __future__ import annotations

import argparse
import json
import time

import genjax

genjax.configure_cpu()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from ml_collections import ConfigDict  # noqa: E402

from genjax import config as config_lib  # noqa: E402
from genjax.data.metadata import DatasetMetadata  # noqa: E402
from genjax.objectives import make_objective  # noqa: E402
from genjax.parallel import batch_sharding, make_mesh  # noqa: E402
from genjax.train import telemetry  # noqa: E402
from genjax.train.init import batch_spec, init_train_state  # noqa: E402
from genjax.train.optim import make_optimizers  # noqa: E402
from genjax.train.step import make_train_step  # noqa: E402

DIT = dict(name="diffusion", process="ddpm", schedule="cosine", parameterization="v", backbone="dit", p_uncond=0.1)
MODELS = {  # name: (objective fields, per-example shape, classes, batch)
    "dit_b2": ({**DIT, "net": dict(patch=2, hidden=768, depth=12, num_heads=12)}, (32, 32, 4), 1000, 256),
    "dit_xl2": ({**DIT, "net": dict(patch=2, hidden=1152, depth=28, num_heads=16)}, (32, 32, 4), 1000, 256),
    "unet_cifar10": (
        dict(
            name="diffusion", process="ddpm", schedule="linear", parameterization="eps", backbone="unet",
            net=dict(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1),
        ),
        (32, 32, 3), None, 128,
    ),
}  # fmt: skip
TINY = {  # the same families at CPU size
    "dit_b2": ({**DIT, "net": dict(patch=2, hidden=32, depth=2, num_heads=2)}, (8, 8, 4), 10, 8),
    "unet_cifar10": (
        {**MODELS["unet_cifar10"][0], "net": dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,))},
        (8, 8, 3), None, 8,
    ),
}  # fmt: skip


def bench(name: str, spec: tuple, *, steps: int, dtype: str, remat: str) -> dict:
    objective_cfg, shape, classes, batch = spec
    config = config_lib.base_config()
    config.objective.update(ConfigDict(objective_cfg))
    if remat != "none":
        config.objective.net.remat = remat
    meta = DatasetMetadata(
        name=name, kind="image", shape=shape, num_classes=classes, value_range=(-1.0, 1.0), num_examples=None, bits=8
    )
    objective = make_objective(config, meta)
    mesh = make_mesh(config.mesh)
    rules = tuple(tuple(r) for r in config.sharding.rules)
    spec_ = batch_spec(meta, batch)
    state, shardings = init_train_state(
        objective, make_optimizers(config, objective.players), jax.random.PRNGKey(0), spec_, mesh,
        rules=rules, min_fsdp_size=config.sharding.min_fsdp_size, ema_decays=(0.9999,),
    )  # fmt: skip
    step = make_train_step(objective, compute_dtype_name=dtype, mesh=mesh, rules=rules)
    data_sharding = batch_sharding(mesh)
    step = jax.jit(step, in_shardings=(shardings, data_sharding), donate_argnums=0)
    rng = np.random.default_rng(0)
    data = {"x": jax.device_put(rng.standard_normal((batch, *shape)).astype(np.float32), data_sharding)}
    if classes:
        data["y"] = jax.device_put(rng.integers(0, classes, batch).astype(np.int32), data_sharding)
    t0 = time.perf_counter()
    compiled = step.lower(state, data).compile()
    compile_s = time.perf_counter() - t0
    state, metrics = compiled(state, data)  # warm-up
    jax.block_until_ready(metrics)
    t0 = time.perf_counter()
    for _ in range(steps):
        state, metrics = compiled(state, data)
    jax.block_until_ready((state, metrics))
    seconds = time.perf_counter() - t0
    row = telemetry.throughput(steps, seconds, 0.0, batch, telemetry.compiled_flops(compiled))
    row.pop("data_wait_frac")
    stats = jax.devices()[0].memory_stats() or {}
    analysis = compiled.memory_analysis()
    peak = stats.get("peak_bytes_in_use") or (analysis.argument_size_in_bytes + analysis.temp_size_in_bytes)
    params = sum(x.size for x in jax.tree.leaves(state.params))
    return dict(
        model=name, params_M=params / 1e6, batch=batch, dtype=dtype, remat=remat, step_ms=1e3 * seconds / steps,
        compile_s=compile_s, peak_mem_GiB=peak / 2**30, device=jax.devices()[0].device_kind,
        devices=len(jax.devices()), **row,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--tiny", action="store_true", help="CPU smoke run of tiny stand-ins")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float32"))
    ap.add_argument("--remat", default="none")
    ap.add_argument("--batch", type=int, default=None, help="override every model's batch")
    args = ap.parse_args()
    table = TINY if args.tiny else MODELS
    names = args.models.split(",") if args.models else list(table)
    for name in names:
        objective_cfg, shape, classes, batch = table[name]
        row = bench(
            name,
            (objective_cfg, shape, classes, args.batch or batch),
            steps=args.steps,
            dtype=args.dtype,
            remat=args.remat,
        )
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
