"""Feature extractors and their jitted, batched, mesh-sharded application.

An `Extractor` maps images in pixel units ([B, H, W, C] float, 0..255), or other examples
([B, T, 1] waveforms) mapped from their value range to 0..255 the same way, to
{"features": [B, D], "logits": [B, K] or absent}. `extract` feeds a host array through it in
fixed-size batches sharded over the ("data", "fsdp") axes of a mesh, with the variables
replicated, so one compiled program serves every batch and device count.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from genjax.metrics import inception

Array = jax.Array
BATCH_AXES = ("data", "fsdp")


@dataclasses.dataclass(frozen=True, eq=False)
class Extractor:
    name: str
    apply: Callable[[Any, Array], dict[str, Array]]  # (variables, pixels [B,H,W,C] 0..255)
    variables: Any
    image_shape: tuple[int, ...] | None = None  # required input shape per example, None: any


def _inception_apply(variables: Any, pixels: Array) -> dict[str, Array]:
    x = inception.preprocess(pixels, (0.0, 255.0))
    features = inception.InceptionV3().apply({"params": variables["params"]}, x)
    out = {"features": features}
    if variables.get("fc") is not None:
        fc = variables["fc"]
        out["logits"] = jnp.dot(features, fc["kernel"], precision=jax.lax.Precision.HIGHEST) + fc["bias"]
    return out


def inception_extractor(path=None) -> Extractor:
    """The FID Inception-v3 (pool3, 2048-d; logits when the weights carry the fc layer)."""
    from genjax.metrics.weights import load_inception_params

    return Extractor("inception", _inception_apply, jax.tree.map(jnp.asarray, load_inception_params(path)))


def _raw_apply(variables: Any, pixels: Array) -> dict[str, Array]:
    del variables
    return {"features": pixels.reshape(pixels.shape[0], -1) / 255.0}


RAW = Extractor("raw", _raw_apply, {})


def default_mesh() -> Mesh:
    """All devices on the data axis: a ("data", "fsdp") mesh of shape (n, 1)."""
    return Mesh(np.array(jax.devices()).reshape(-1, 1), BATCH_AXES)


def batch_spec(mesh: Mesh) -> P:
    axes = tuple(a for a in BATCH_AXES if a in mesh.axis_names)
    if not axes:
        raise ValueError(f"mesh axes {mesh.axis_names} contain none of the batch axes {BATCH_AXES}")
    return P(axes)


@functools.lru_cache(maxsize=32)
def _compiled(apply: Callable, mesh: Mesh, lo: float, hi: float):
    batch = NamedSharding(mesh, batch_spec(mesh))
    replicated = NamedSharding(mesh, P())

    def run(variables, images):
        pixels = (images.astype(jnp.float32) - lo) * (255.0 / (hi - lo))
        return apply(variables, pixels)

    return jax.jit(run, in_shardings=(replicated, batch), out_shardings=batch)


def extract(
    extractor: Extractor,
    images: np.ndarray,
    value_range: tuple[float, float],
    *,
    batch_size: int = 64,
    mesh: Mesh | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """images [N, H, W, C] (or waveforms [N, T, 1]) in `value_range` -> {"features": [N, D], ("logits": [N, K])}.

    batch_size is rounded up to a multiple of the number of batch shards; the last batch is
    zero-padded and trimmed, so every call compiles once per (extractor, shape).
    """
    images = np.asarray(images)
    if not (images.ndim == 4 or images.ndim == 3 and images.shape[-1] == 1):
        raise ValueError(f"examples must be images [N, H, W, C] or waveforms [N, T, 1], got shape {images.shape}")
    if extractor.image_shape is not None and images.shape[1:] != extractor.image_shape:
        raise ValueError(
            f"the {extractor.name!r} extractor needs images of shape {extractor.image_shape}, got {images.shape[1:]}"
        )
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {value_range}")
    mesh = mesh if mesh is not None else default_mesh()
    shards = int(np.prod([mesh.shape[a] for a in batch_spec(mesh)[0]]))
    batch_size = -(-batch_size // shards) * shards
    fn = _compiled(extractor.apply, mesh, lo, hi)
    variables = jax.device_put(extractor.variables, NamedSharding(mesh, P()))
    sharding = NamedSharding(mesh, batch_spec(mesh))
    outputs: dict[str, list[np.ndarray]] = {}
    starts = range(0, len(images), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"{extractor.name} features", unit="batch")
    for start in starts:
        chunk = images[start : start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], chunk.dtype)])
        result = fn(variables, jax.device_put(chunk, sharding))
        for key, value in result.items():
            outputs.setdefault(key, []).append(np.asarray(value)[:n])
    return {key: np.concatenate(parts) for key, parts in outputs.items()}
