"""Per-player optax optimizers from `config.optim` (+ `config.optim.players.<player>`)."""

from __future__ import annotations

import optax
from ml_collections import ConfigDict

from genjax.config import optim_config
from genjax.config_schema import OptimFields
from genjax.schema import check_section


def player_optim_config(config: ConfigDict, player: str) -> ConfigDict:
    """`config.optim` with the player's overrides applied; unknown override keys are errors."""
    merged = optim_config()
    for key in merged.keys():
        merged[key] = config.optim[key]
    overrides = config.optim.players.get(player, ConfigDict())
    for key, value in overrides.items():
        if key not in merged:
            raise ValueError(f"unknown key config.optim.players.{player}.{key}; known: {sorted(merged.keys())}")
        merged[key] = value
    check_section(OptimFields, merged, f"config.optim (player {player})")
    return merged


def lr_schedule(cfg: ConfigDict, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 to `lr`, then constant, cosine decay to 0 or linear decay to 0."""
    warmup = max(int(cfg.warmup_steps), 0)
    if cfg.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, cfg.lr, warmup, max(total_steps, warmup + 1))
    decay = (
        optax.constant_schedule(cfg.lr)
        if cfg.schedule == "constant"
        else optax.linear_schedule(cfg.lr, 0.0, max(total_steps - warmup, 1))
    )
    if not warmup:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, cfg.lr, warmup), decay], [warmup])


def make_optimizer(cfg: ConfigDict, total_steps: int) -> optax.GradientTransformation:
    lr = lr_schedule(cfg, total_steps)
    if cfg.name == "adam":
        opt = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    elif cfg.name == "adamw":
        opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay)
    elif cfg.name == "lion":
        opt = optax.lion(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
    else:
        opt = optax.sgd(lr, momentum=cfg.b1 or None)
    if cfg.clip_norm > 0:
        opt = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), opt)
    return opt


def make_optimizers(config: ConfigDict, players: tuple[str, ...]) -> dict[str, optax.GradientTransformation]:
    unknown = sorted(set(config.optim.players.keys()) - set(players))
    if unknown:
        raise ValueError(
            f"config.optim.players names {unknown}, which the objective does not have; its players are {list(players)}"
        )
    return {p: make_optimizer(player_optim_config(config, p), config.train.steps) for p in players}
