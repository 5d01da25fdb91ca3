"""Frozen components: pretrained networks of other runs that an objective uses.

`config.components.<name>` names a trained run (`workdir`, and `ema_index`: which EMA of its params,
-1 for the raw params). The run builder loads that run's config and objective, passes the objective
to the family's factory as the keyword argument `<name>` (latent diffusion takes `autoencoder`),
and holds the component's variables in the train state as non-trainable, sharded params,
`model_state[<name>] = {"params": {player: params}, "state": {player: collections}}`, laid out by
the same logical-axis rules as the run's own params. They are checkpointed and restored with the
run; the component's config is copied to `<workdir>/components/<name>.json`, so a resumed run
needs neither the component's workdir nor its checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax import data as data_lib
from genjax.train.checkpoint import Checkpointer
from genjax.objectives import make_objective
from genjax.objectives.base import Objective
from genjax.train.init import batch_spec, init_train_state
from genjax.train.optim import make_optimizers

FIELDS = {"workdir": str, "ema_index": int}


class Component(NamedTuple):
    """A trained run used frozen by another: its config, dataset metadata and objective."""

    name: str
    workdir: Path
    ema_index: int  # -1: raw params
    config: ConfigDict
    metadata: Any
    objective: Objective


def _spec(name: str, cfg: Any) -> tuple[Path, int]:
    unknown = sorted(set(cfg.keys()) - set(FIELDS))
    if unknown or "workdir" not in cfg or not cfg.workdir:
        raise ValueError(
            f"config.components.{name} takes the fields {sorted(FIELDS)} and needs a workdir; got {sorted(cfg.keys())}"
        )
    return Path(cfg.workdir), int(cfg.get("ema_index", 0))


def load_components(config: ConfigDict, workdir: str | Path) -> dict[str, Component]:
    """The components named in config.components. The config of each is read from the run's own
    copy (`<workdir>/components/<name>.json`) when there is one, else from the component's workdir."""
    out = {}
    for name, cfg in config.components.items():
        path, ema_index = _spec(name, cfg)
        copy = Path(workdir) / "components" / f"{name}.json"
        source = copy if copy.exists() else path / "config.json"
        if not source.exists():
            raise ValueError(
                f"config.components.{name}.workdir={str(path)!r} has no config.json: train that run "
                f"first (e.g. genjax train --config digits_vae --workdir {path})"
            )
        comp_config = config_lib.from_json(source.read_text())
        metadata = data_lib.load_metadata(comp_config.data)
        out[name] = Component(name, path, ema_index, comp_config, metadata, make_objective(comp_config, metadata))
    return out


def save_component_configs(components: dict[str, Component], workdir: str | Path) -> None:
    """Copies each component's config into `<workdir>/components/` (see the module docstring)."""
    for c in components.values():
        copy = Path(workdir) / "components" / f"{c.name}.json"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(config_lib.to_json(c.config))


def component_variables(
    c: Component, mesh: jax.sharding.Mesh, *, rules: Any, min_fsdp_size: int, restore: bool
) -> tuple[dict, dict]:
    """(variables, shardings) of a component on this run's mesh: {"params": ..., "state": ...}.
    restore=False gives the shapes only (a resumed run restores them from its own checkpoint)."""
    cc = c.config
    like, sh = init_train_state(
        c.objective,
        make_optimizers(cc, c.objective.players),
        jax.random.PRNGKey(cc.seed),
        batch_spec(c.metadata, cc.data.batch_size),
        mesh,
        rules=rules,
        min_fsdp_size=min_fsdp_size,
        ema_decays=tuple(cc.train.ema_decays),
        abstract=True,
    )
    index = None if c.ema_index < 0 else c.ema_index
    if index is not None and not 0 <= index < max(len(like.ema), 1):
        raise ValueError(
            f"config.components.{c.name}.ema_index={c.ema_index}: the run in {c.workdir} keeps "
            f"{len(like.ema)} EMA(s); use -1 for its raw params"
        )
    shardings = {"params": sh.sampling_params(index), "state": sh.model_state}
    if not restore:
        return {"params": like.sampling_params(index), "state": like.model_state}, shardings
    checkpointer = Checkpointer(c.workdir, async_save=False)
    try:
        if checkpointer.latest_step() is None:
            raise ValueError(
                f"config.components.{c.name}.workdir={str(c.workdir)!r} has no checkpoint; train that run first"
            )
        state, _, _ = checkpointer.restore(like, sh)
    finally:
        checkpointer.close()
    return {"params": state.sampling_params(index), "state": state.model_state}, shardings
