"""`genjax.fit`: train from a notebook or a script in one call, with defaults for everything a
single-machine user does not need to choose (mesh, sharding rules, EMA, logging cadence).

    import genjax

    state = genjax.fit("digits_vae", steps=300)                  # a packaged config
    state = genjax.fit("vae", "builtin:moons", steps=500)         # a registered objective on data
    state = genjax.fit(my_config, workdir="runs/mine", overrides=["optim.lr=3e-4"])

It is the same run as `genjax train` (`genjax.train.run`): checkpoints, metrics.jsonl, sample grids
and TensorBoard files in the workdir, and resuming where a previous call stopped.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

from ml_collections import ConfigDict

from genjax import config as config_lib
from genjax.objectives import registered
from genjax.train import TrainState, run


def fit(
    config: str | ConfigDict,
    data: str | None = None,
    *,
    steps: int | None = None,
    workdir: str | Path | None = None,
    overrides: Sequence[str] = (),
    force: bool = False,
) -> TrainState:
    """Trains `config` and returns the final TrainState.

    config: a config NAME[:variants] or PATH.py[:variants] (as `genjax train --config`), a
        ConfigDict, or the name of a registered objective (`genjax.objectives.registered()`,
        your own included), which trains with `genjax.config.base_config()`'s defaults.
    data: a data source (`builtin:digits`, `tfds:mnist`, `npz:PATH`, `folder:PATH`, ...) to
        train on instead of the config's.
    steps: train steps (default: the config's `train.steps`).
    workdir: default `runs/<config name>` (`runs/<objective>` for an objective name).
    overrides: `--config.KEY=VALUE` overrides (the `--config.` prefix may be left out).
    force: resume a workdir whose checkpoints come from another config (see `genjax train --force`).
    """
    if isinstance(config, ConfigDict):
        cfg, name = config_lib.apply_overrides(copy.deepcopy(config), overrides), "fit"
    elif config not in config_lib.config_names() and config in registered():
        cfg, name = config_lib.apply_overrides(config_lib.base_config(), overrides), config
        cfg.objective.name = config
    else:
        cfg, name = config_lib.load_config(config, overrides), config
    if data is not None:
        cfg.data.source = data
    if steps is not None:
        cfg.train.steps = steps
    return run(cfg, workdir or config_lib.default_workdir(name), force=force)
