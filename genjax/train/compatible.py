"""Whether a config may resume the run in a workdir: the same experiment, trained longer.

A workdir with a checkpoint holds one experiment. Training it again with a config that differs
in the model, the data, the optimizer or the seed would resume a checkpoint that belongs to
something else (at best an Orbax tree mismatch, at worst a silent mix of two runs), so `run`
refuses it with `WorkdirConfigMismatch`, naming what differs, unless `force=True`
(`genjax train --force`). What may change between resumes is the length of training, logging,
sampling, evaluation and checkpointing cadence, the input pipeline's performance settings, and
the mesh (a checkpoint restores onto any mesh): the keys under `RESUMABLE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax.errors import UsageError

# Config keys (and sections, with every key below them) that may differ from the saved run's.
RESUMABLE = (
    "train.steps",
    "train.log_every",
    "train.sample_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.best_metric",
    "train.best_mode",
    "train.async_checkpoint",
    "train.restore_fallback",
    "train.nonfinite_guard",
    "train.progress",
    "train.aot_compile",
    "data.num_workers",
    "data.prefetch",
    "data.cache",
    "data.data_dir",
    "eval",
    "sample",
    "mesh",
    "sharding",
    "distributed",
)


class WorkdirConfigMismatch(UsageError):
    """The config differs from that of the run whose checkpoints are in the workdir."""


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, (ConfigDict, dict)):
        items = tree.items()
        return {k: v for key, value in items for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tuple(tree) if isinstance(tree, list) else tree}


def _resumable(key: str) -> bool:
    return any(key == r or key.startswith(r + ".") for r in RESUMABLE)


def config_differences(saved: ConfigDict, config: ConfigDict) -> list[tuple[str, Any, Any]]:
    """(key, saved value, new value) for every key outside `RESUMABLE` whose value differs
    (None for a key one side lacks), in key order."""
    old, new = _flat(saved), _flat(config)
    keys = sorted(k for k in old.keys() | new.keys() if not _resumable(k))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def check_resumable(config: ConfigDict, workdir: str | Path, *, force: bool = False) -> list[str]:
    """Raises WorkdirConfigMismatch when `workdir` holds checkpoints of a run whose config.json
    differs from `config` outside `RESUMABLE` (unless `force`); returns the differing keys."""
    workdir = Path(workdir)
    checkpoints = workdir / "checkpoints"
    saved = workdir / "config.json"
    if not saved.exists() or not checkpoints.is_dir() or not any(p.name.isdigit() for p in checkpoints.iterdir()):
        return []
    diffs = config_differences(config_lib.from_json(saved.read_text()), config)
    if diffs and not force:
        shown = ", ".join(f"{k} ({a!r} -> {b!r})" for k, a, b in diffs[:4])
        more = f" and {len(diffs) - 4} more" if len(diffs) > 4 else ""
        raise WorkdirConfigMismatch(
            f"{workdir} holds the checkpoints of another experiment: its config differs in {shown}{more}. "
            "Train into another --workdir, or pass --force to resume that run with this config."
        )
    return [k for k, _, _ in diffs]
