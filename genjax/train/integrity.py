"""Checkpoint integrity: a SHA-256 digest of every array and JSON item of a checkpoint.

What is hashed: each leaf of the saved train state, as the host sees it when it is saved — its
dtype, its shape and its C-order bytes. A sharded array is hashed whole (`np.asarray` gathers one
whose shards are all on this process, `process_allgather` one spread over processes), so the
digest does not depend on the mesh: a checkpoint saved on 8 devices verifies on 4. The JSON items
(every process's data-iterator state, the config) are hashed in canonical form (sorted keys).

`genjax.train.checkpoint` saves the digest as one more JSON item of the same Orbax save, so it
commits atomically with the step, and at restore compares it with the digest of the values Orbax
gave back. One flipped bit in a file that Orbax reads (array chunks, the OCDBT b-tree, array or
tree metadata, the JSON items) either makes Orbax fail or changes a restored value, and a changed
value changes its leaf's digest. Bytes that Orbax never reads back (commit markers, timestamps,
the per-process OCDBT manifests that the merged root supersedes) cannot change the restored state;
they are not checked.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

FORMAT = "genjax-checkpoint-digest/1"


def _host(x: Any) -> np.ndarray:
    """The whole value of a leaf on the host (gathered over processes when it is spread)."""
    if isinstance(x, jax.Array):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if not x.is_fully_addressable:  # a collective: every process calls it, in tree order
            x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)


def _record(x: Any) -> dict[str, Any]:
    """{dtype, shape, sha256} of one leaf; sha256 covers dtype and shape too."""
    a = np.ascontiguousarray(_host(x))
    head = f"{a.dtype.name}{list(a.shape)}"
    h = hashlib.sha256(head.encode())
    h.update(a.ravel().view(np.uint8))  # hashlib releases the GIL: leaves hash in parallel
    return {"dtype": a.dtype.name, "shape": list(a.shape), "sha256": h.hexdigest()}


def array_digests(tree: Any) -> dict[str, dict[str, Any]]:
    """{leaf path (jax keystr): {dtype, shape, sha256}} of every leaf of `tree`, in tree order."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    names = [jax.tree_util.keystr(path) for path, _ in leaves]
    values = [x for _, x in leaves]
    spread = {i for i, x in enumerate(values) if isinstance(x, jax.Array) and not x.is_fully_addressable}
    records: dict[int, dict[str, Any]] = {i: _record(values[i]) for i in sorted(spread)}  # collectives in order
    local = [i for i in range(len(values)) if i not in spread]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # pragma: no mutate (speed only)
        records.update(zip(local, pool.map(lambda i: _record(values[i]), local)))
    return {name: records[i] for i, name in enumerate(names)}


def json_digest(value: Any) -> str:
    """SHA-256 of `value` as canonical JSON (what a JSON round trip gives back, keys sorted)."""
    canonical = json.dumps(json.loads(json.dumps(value)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def digest(tree: Any, json_items: dict[str, Any]) -> dict[str, Any]:
    """The digest of a checkpoint: its arrays (`tree`) and its JSON items ({name: value})."""
    return {
        "format": FORMAT,
        "algorithm": "sha256",
        "arrays": array_digests(tree),
        "json": {name: json_digest(value) for name, value in json_items.items()},
    }


def _describe(record: Any) -> str:
    record = record if isinstance(record, dict) else {}
    return f"{record.get('dtype')}{record.get('shape')}"


def first_mismatch(saved: Any, restored: dict[str, Any]) -> str | None:
    """None when `restored` (the digest of the restored values) equals `saved` (the stored one);
    else a description of the first difference: an array leaf in tree order, then a JSON item."""
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        return f"its digest is not a {FORMAT} record"
    arrays, items = saved.get("arrays"), saved.get("json")
    if not isinstance(arrays, dict) or not isinstance(items, dict):
        return "its digest has no 'arrays' or 'json' section"
    for name, record in restored["arrays"].items():
        want = arrays.get(name)
        if want is None:
            return f"array {name} has no saved digest"
        if _describe(want) != _describe(record):
            return f"array {name} was saved as {_describe(want)}, restored as {_describe(record)}"
        if want.get("sha256") != record["sha256"]:
            return f"array {name} ({_describe(record)}) does not match its saved sha256"
    for name in arrays:
        if name not in restored["arrays"]:
            return f"array {name} has a saved digest but was not restored"
    for name, value in restored["json"].items():
        if items.get(name) != value:
            return f"JSON item {name!r} does not match its saved sha256"
    return None
