"""Multi-process start-up and host-local -> global arrays."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding

_ENV_HINTS = ("JAX_COORDINATOR_ADDRESS", "COORDINATOR_ADDRESS", "SLURM_JOB_ID", "TPU_WORKER_HOSTNAMES")


def maybe_initialize(dist_cfg: Any) -> bool:
    """Calls `jax.distributed.initialize` when the config or the environment asks for it.

    `initialize`: "always", "never" or "auto" (when a coordinator address is configured or the
    environment names a cluster). On CPU, cross-process collectives use gloo.
    Returns whether the process runs in a multi-process job.
    """
    mode = dist_cfg.initialize
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"config.distributed.initialize must be auto|always|never, got {mode!r}")
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    wanted = mode == "always" or (
        mode == "auto" and (dist_cfg.coordinator_address or any(k in os.environ for k in _ENV_HINTS))
    )
    if not wanted:
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if dist_cfg.coordinator_address:
        kwargs["coordinator_address"] = dist_cfg.coordinator_address
    if dist_cfg.num_processes > 0:
        kwargs["num_processes"] = dist_cfg.num_processes
    if dist_cfg.process_id >= 0:
        kwargs["process_id"] = dist_cfg.process_id
    jax.distributed.initialize(**kwargs)
    return jax.process_count() > 1


def to_host(tree: Any) -> Any:
    """numpy copies of replicated arrays, also when they span devices of several processes."""
    return jax.tree.map(
        lambda x: np.asarray(x.addressable_data(0)) if isinstance(x, jax.Array) else np.asarray(x), tree
    )


def global_batch(local: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
    """Assembles each process's slice of the batch into global arrays sharded by `sharding`."""
    n = jax.process_count()

    def one(x: np.ndarray) -> jax.Array:
        global_shape = (x.shape[0] * n, *x.shape[1:])
        return jax.make_array_from_process_local_data(sharding, x, global_shape)

    return {k: one(np.asarray(v)) for k, v in local.items()}
