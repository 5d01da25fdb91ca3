"""Device mesh from `config.mesh`.

One level: `mesh.data x mesh.fsdp x mesh.tensor` devices (one size may be -1: the rest). Two
levels, for multi-slice TPU pods and multi-node GPU clusters: `mesh.dcn_<axis>` > 1 splits an axis
over slices (TPU, by `device.slice_index`) or nodes (processes, elsewhere) joined by the slower
data-center network, while data/fsdp/tensor give the sizes within each slice or node. Each mesh
axis then has size dcn_<axis> * <axis>, built by `mesh_utils.create_hybrid_device_mesh`, so that
only the dcn part of an axis crosses the slow network: put the data axis there (gradients cross it
once per step), keep tensor inside a slice.
"""

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
    known = math.prod(s for s in sizes if s != -1)  # pragma: no mutate (int sizes: `is not -1` is the same)
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


def dcn_shape(mesh_cfg: Any) -> tuple[int, int, int]:
    """Slices or nodes along (data, fsdp, tensor): `mesh.dcn_*`, 1 where unset."""
    return tuple(int(mesh_cfg.get(f"dcn_{a}", 1)) for a in MESH_AXES)


def granules(devices: Sequence[Any]) -> tuple[str, int]:
    """How devices group into slices or nodes: ("slice_index", n) on multi-slice TPUs, else
    ("process_index", number of processes)."""
    attr = "slice_index" if all(getattr(d, "slice_index", None) is not None for d in devices) else "process_index"
    return attr, len({getattr(d, attr) for d in devices})


def hybrid_mesh(mesh_cfg: Any, devices: Sequence[Any]) -> np.ndarray:
    """The device array of a two-level mesh: granules (slices or nodes) along `dcn_shape`, each
    holding a `mesh_shape` block of its own devices."""
    dcn = dcn_shape(mesh_cfg)
    attr, count = granules(devices)
    if math.prod(dcn) != count:
        raise ValueError(
            f"config.mesh dcn_data*dcn_fsdp*dcn_tensor = {'*'.join(map(str, dcn))} = {math.prod(dcn)}, but the "
            f"{len(devices)} devices form {count} {'slices' if attr == 'slice_index' else 'nodes (processes)'}; "
            "set the dcn sizes to multiply to that count"
        )
    ici = mesh_shape(mesh_cfg, len(devices) // count)
    from jax.experimental import mesh_utils

    return mesh_utils.create_hybrid_device_mesh(ici, dcn, devices, process_is_granule=attr == "process_index")


def make_mesh(mesh_cfg: Any, devices: Sequence[jax.Device] | None = None) -> Mesh:
    devices = list(jax.devices() if devices is None else devices)
    if math.prod(dcn_shape(mesh_cfg)) > 1:
        return Mesh(hybrid_mesh(mesh_cfg, devices), MESH_AXES)
    shape = mesh_shape(mesh_cfg, len(devices))
    if len(devices) == jax.device_count() and len(devices) > 1:  # pragma: no mutate (one device has one order)
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
