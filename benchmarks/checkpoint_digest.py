"""Cost of checkpoint integrity digests: save and restore of a train state with and without them.

    python benchmarks/checkpoint_digest.py [--params 10_000_000] [--repeats 3] [--dir /tmp/ckpt_bench]

The state is an MLP-shaped params tree of about `--params` float32 parameters (1024 x 1024
kernels), with Adam's mu and nu and one EMA: four copies, so 10M parameters are 160 MB of
arrays. Prints the median seconds of: the digest alone; a synchronous save; the blocking part
of an asynchronous save (what the train loop waits for); and a restore, each with digests and
with them switched off (the digest item stays, hashing is skipped / verification is skipped).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import time
from pathlib import Path
from unittest import mock

import jax
import jax.numpy as jnp
import optax

from genjax.train import integrity
from genjax.train.checkpoint import Checkpointer, _state_tree
from genjax.train.state import TrainState


def make_state(num_params: int) -> TrainState:
    width = 1024
    layers = max(1, round(num_params / (width * width + width)))
    keys = jax.random.split(jax.random.PRNGKey(0), layers)
    params = {
        "model": {
            f"dense_{i}": {"kernel": jax.random.normal(k, (width, width)), "bias": jnp.zeros((width,))}
            for i, k in enumerate(keys)
        }
    }
    tx = optax.adam(1e-3)
    opt_state = {"model": tx.init(params["model"])}
    opt_state = jax.tree.map(lambda x: x + 1e-3 if x.dtype == jnp.float32 else x, opt_state)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=opt_state,
        ema=(jax.tree.map(lambda x: x * 0.5, params),),
        model_state={"model": {}},
        rng=jax.random.PRNGKey(1),
        nonfinite_steps=jnp.zeros((), jnp.int32),
        txs=(("model", tx),),
        ema_decays=(0.999,),
    )


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/genjax_ckpt_bench")
    args = parser.parse_args()
    logging.getLogger("genjax").setLevel(logging.ERROR)  # the unverified-restore warning
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)

    state = make_state(args.params)
    jax.block_until_ready(state)
    num = sum(x.size for x in jax.tree.leaves(state.params))
    size = sum(x.nbytes for x in jax.tree.leaves(state))
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
    shardings = jax.tree.map(lambda x: x.sharding, state)
    print(
        f"{jax.devices()[0].device_kind} ({jax.default_backend()}): {num / 1e6:.1f}M params, state {size / 2**20:.0f} MiB"
    )

    off = mock.patch.object(integrity, "digest", lambda tree, items: {"format": "off"})
    counter = iter(range(1, 10**6))
    results = {}

    def save(ckpt: Checkpointer, wait: bool) -> None:
        ckpt.save(state.replace(step=jnp.asarray(next(counter), jnp.int32)), {}, json.dumps({"seed": 0}))
        if wait:
            ckpt.wait()

    for name, patch in (("with digest", None), ("without", off)):
        if patch:
            patch.start()
        sync = Checkpointer(root / name.replace(" ", "_") / "sync", keep=2, async_save=False)
        asyn = Checkpointer(root / name.replace(" ", "_") / "async", keep=2, async_save=True)
        save(sync, True)  # warm-up
        save(asyn, True)
        results[name] = {
            "digest alone": _time(lambda: integrity.digest(_state_tree(state), {}), args.repeats) if not patch else 0.0,
            "sync save": _time(lambda: save(sync, True), args.repeats),
            "async save, blocking part": _blocking(asyn, save, args.repeats),
        }
        if patch:
            patch.stop()
        verify = patch is None
        with mock.patch.object(Checkpointer, "_has_digest", lambda self, step: verify):
            sync.restore(like, shardings)  # warm-up
            results[name]["restore"] = _time(
                lambda: jax.block_until_ready(sync.restore(like, shardings)[0]), args.repeats
            )
        sync.close()
        asyn.close()
    for what in results["with digest"]:
        a, b = results["with digest"][what], results["without"][what]
        print(f"{what:28s} with digest {a:7.3f}s   without {b:7.3f}s   overhead {a - b:+7.3f}s")
    shutil.rmtree(root, ignore_errors=True)


def _blocking(ckpt: Checkpointer, save, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        ckpt.wait()
        start = time.perf_counter()
        save(ckpt, False)
        times.append(time.perf_counter() - start)
    ckpt.wait()
    return statistics.median(times)


if __name__ == "__main__":
    main()
