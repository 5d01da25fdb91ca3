"""Model families as objectives for the one training core, and their registry."""

from __future__ import annotations

from typing import Any, Callable

from genjax.objectives.base import LossOutput, Objective, PlayerVariables

_REGISTRY: dict[str, Callable[..., Objective]] = {}


def register(name: str) -> Callable[[Callable[..., Objective]], Callable[..., Objective]]:
    """Decorator: `@register("vae") def make(cfg, metadata) -> Objective`."""

    def wrap(factory: Callable[..., Objective]) -> Callable[..., Objective]:
        if name in _REGISTRY:
            raise ValueError(f"objective {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def registered() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def make_objective(config: Any, metadata: Any) -> Objective:
    """Builds the objective named by `config.objective.name` for a dataset's metadata."""
    name = config.objective.get("name")
    if name not in _REGISTRY:
        raise ValueError(
            f"config.objective.name={name!r} is not a known objective; "
            f"choose one of {', '.join(registered())}"
        )
    return _REGISTRY[name](config.objective, metadata)


def check_fields(cfg: Any, allowed: set[str], family: str) -> None:
    """Raises a ValueError naming each field of `cfg` that the family does not know."""
    unknown = sorted(set(cfg.keys()) - allowed - {"name"})
    if unknown:
        raise ValueError(
            f"config.objective has unknown field(s) {unknown} for objective {family!r}; "
            f"known fields: {sorted(allowed)}"
        )


def _import_families() -> None:
    """Imports every module of this package: each family registers itself on import."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_families()

__all__ = [
    "LossOutput",
    "Objective",
    "PlayerVariables",
    "check_fields",
    "make_objective",
    "register",
    "registered",
]
