"""Device mesh from `config.mesh`."""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genjax.parallel.axes import BATCH_AXES, MESH_AXES


def mesh_shape(mesh_cfg: Any, num_devices: int) -> tuple[int, int, int]:
    """Sizes of (data, fsdp, tensor); one of them may be -1, meaning the remaining devices."""
    sizes = [int(mesh_cfg[a]) for a in MESH_AXES]
    if sizes.count(-1) > 1:
        raise ValueError(f"config.mesh: at most one of data/fsdp/tensor may be -1, got {sizes}")
    if any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"config.mesh sizes must be positive or -1, got {dict(zip(MESH_AXES, sizes))}")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % known:
            raise ValueError(
                f"config.mesh {dict(zip(MESH_AXES, sizes))}: {num_devices} devices are not "
                f"divisible by the fixed axes' product {known}"
            )
        sizes[sizes.index(-1)] = num_devices // known
    if math.prod(sizes) != num_devices:
        raise ValueError(
            f"config.mesh data*fsdp*tensor = {'*'.join(map(str, sizes))} = {math.prod(sizes)} "
            f"but there are {num_devices} devices; set one axis to -1 to use the rest"
        )
    return tuple(sizes)


def make_mesh(mesh_cfg: Any, devices: Sequence[jax.Device] | None = None) -> Mesh:
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(mesh_cfg, len(devices))
    if len(devices) == jax.device_count() and len(devices) > 1:
        try:  # topology-aware device order where the platform provides one
            from jax.experimental import mesh_utils

            array = mesh_utils.create_device_mesh(shape, devices=devices)
        except Exception:  # noqa: BLE001 - fake CPU devices have no topology
            array = np.asarray(devices).reshape(shape)
    else:
        array = np.asarray(devices).reshape(shape)
    return Mesh(array, MESH_AXES)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis over (data, fsdp), the rest replicated."""
    return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def num_batch_shards(mesh: Mesh) -> int:
    return math.prod(mesh.shape[a] for a in BATCH_AXES)
