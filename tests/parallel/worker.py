"""Subprocess entry for sharding, resume and multi-process tests (run as a script).

python worker.py train OUT.npz WORKDIR [CONFIG[:arg]] [overrides...]
    # genjax.train.run (default config digits_vae), dump final params
python worker.py run WORKDIR process_id num_processes port [overrides...]   # genjax.train.run in a 2-process job
python worker.py sample OUT.npz CONFIG [overrides...]   # samples of a freshly initialised run,
    # one array per sampler when GENJAX_TEST_SAMPLERS=a,b,... names several (diffusion),
    # and the bits/dim of 16 eval images
python worker.py core OUT.npz MESH [process_id num_processes port]
    # the core alone on synthetic global batches; with a process id, a multi-process job
"""

from __future__ import annotations

import os
import sys

import numpy as np


def _flat(tree) -> dict[str, np.ndarray]:
    import jax
    from jax.experimental import multihost_utils

    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not leaf.is_fully_addressable:
            leaf = multihost_utils.process_allgather(leaf, tiled=True)
        out[jax.tree_util.keystr(path)] = np.asarray(leaf)
    return out


def _specs(tree) -> list[str]:
    import jax

    return [str(leaf.sharding.spec) for leaf in jax.tree.leaves(tree)]


def train(out: str, workdir: str, overrides: list[str]) -> None:
    from genjax import config as config_lib
    from genjax.train import run

    spec = "digits_vae"
    if overrides and not overrides[0].startswith("-"):
        spec, overrides = overrides[0], overrides[1:]
    config = config_lib.load_config(spec, overrides)
    state = run(config, workdir)
    np.savez(out, specs=np.array(_specs(state.params)), **_flat({"params": state.params, "ema": state.ema}))


def core(out: str, mesh_spec: str, process_id: int | None, num_processes: int, port: int) -> None:
    import jax

    if process_id is not None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{port}", num_processes=num_processes, process_id=process_id)
    import optax
    from ml_collections import ConfigDict

    from genjax.objectives.vae import VAE, VAENet
    from genjax.parallel import batch_sharding, global_batch, make_mesh, replicated
    from genjax.train import init_train_state, make_train_step
    from genjax.train.checkpoint import Checkpointer

    data, fsdp = (int(v) for v in mesh_spec.split("x"))
    mesh = make_mesh(ConfigDict(dict(data=data, fsdp=fsdp, tensor=1)))
    objective = VAE(VAENet(shape=(4, 4, 1), latent_dim=4, hidden=(16,)))
    batch_size, p, n = 16, jax.process_index(), jax.process_count()
    spec = {"x": jax.ShapeDtypeStruct((batch_size, 4, 4, 1), np.float32)}
    rules = (("embed", "fsdp"), ("mlp", None))
    state, shardings = init_train_state(
        objective,
        {"model": optax.adam(1e-2)},
        jax.random.PRNGKey(0),
        spec,
        mesh,
        rules=rules,
        min_fsdp_size=1,
        ema_decays=(0.9,),
    )
    bs = batch_sharding(mesh)
    step = jax.jit(
        make_train_step(objective), in_shardings=(shardings, bs), out_shardings=(shardings, replicated(mesh))
    )
    for s in range(10):
        x = np.random.RandomState(s).uniform(-1, 1, (batch_size, 4, 4, 1)).astype(np.float32)
        local = x[p * batch_size // n : (p + 1) * batch_size // n]
        state, _ = step(state, global_batch({"x": local}, bs))
    workdir = out + ".ckpt"
    ckpt = Checkpointer(workdir, async_save=False)
    ckpt.save(state, {"position": 10 + p}, "{}")
    ckpt.wait()
    restored, data_state, _ = ckpt.restore(state, shardings)
    assert data_state == {"position": 10 + p}, data_state
    ckpt.close()
    flat, again = _flat(state.params), _flat(restored.params)
    assert all(np.array_equal(flat[k], again[k]) for k in flat), "restored params differ"
    if p == 0:
        np.savez(out, specs=np.array(_specs(state.params)), **flat)


def multiprocess_run(workdir: str, process_id: int, num_processes: int, port: int, overrides: list[str]) -> None:
    from genjax import config as config_lib
    from genjax.train import run

    config = config_lib.load_config(
        "digits_vae:runlocal",
        [
            "--config.train.progress=false",
            f"--config.distributed.coordinator_address=localhost:{port}",
            f"--config.distributed.num_processes={num_processes}",
            f"--config.distributed.process_id={process_id}",
            "--config.mesh.data=2",
            "--config.mesh.fsdp=-1",
            "--config.sharding.min_fsdp_size=1",
            *overrides,
        ],
    )
    state = run(config, workdir)
    step = int(np.asarray(state.step.addressable_data(0)))
    print(f"final step {step}", flush=True)
    assert step == config.train.steps or os.environ.get("GENJAX_TEST_PREEMPTED")


def sample(out: str, spec: str, overrides: list[str]) -> None:
    import tempfile

    from genjax import config as config_lib
    from genjax.train.build import build_run

    r = build_run(config_lib.load_config(spec, overrides), tempfile.mkdtemp(), restore=False, data=False)
    names = [n for n in os.environ.get("GENJAX_TEST_SAMPLERS", "").split(",") if n]
    if not names:
        np.savez(out, x=r.sample(8, seed=0, ema_index=None))
    else:
        from genjax.train.evaluate import evaluate_likelihood

        bpd = evaluate_likelihood(r, 16, seed=0, ema_index=None, solver="heun", steps=8)["bits_per_dim"]
        np.savez(out, bits_per_dim=bpd, **{n: r.sample(8, seed=0, ema_index=None, sampler=n) for n in names})


def nll(out: str, spec: str, overrides: list[str]) -> None:
    """The importance-sampled nll (k = 200 in chunks of 64) of 16 eval examples, as evaluated."""
    import tempfile

    from genjax import config as config_lib
    from genjax.train.build import build_run
    from genjax.train.evaluate import evaluate_likelihood

    r = build_run(config_lib.load_config(spec, overrides), tempfile.mkdtemp(), restore=False, data=False)
    np.savez(out, **evaluate_likelihood(r, 16, seed=0, ema_index=None, k=200, chunk=64))


if __name__ == "__main__":
    import genjax

    genjax.configure_cpu()  # as the command line does
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "train":
        train(out, sys.argv[3], sys.argv[4:])
    elif mode == "sample":
        sample(out, sys.argv[3], sys.argv[4:])
    elif mode == "nll":
        nll(out, sys.argv[3], sys.argv[4:])
    elif mode == "run":
        multiprocess_run(out, int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:])
    else:
        pid = int(sys.argv[4]) if len(sys.argv) > 4 else None
        core(
            out,
            sys.argv[3],
            pid,
            int(sys.argv[5]) if pid is not None else 1,
            int(sys.argv[6]) if pid is not None else 0,
        )
