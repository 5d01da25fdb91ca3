"""Model families as objectives for the one training core, and their registry."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from genjax.objectives.base import LossOutput, Objective, PlayerVariables

_REGISTRY: dict[str, Callable[..., Objective]] = {}
_COMPONENTS: dict[str, tuple[str, ...]] = {}


def register(
    name: str, components: tuple[str, ...] = ()
) -> Callable[[Callable[..., Objective]], Callable[..., Objective]]:
    """Decorator: `@register("vae") def make(cfg, metadata) -> Objective`; registering the same
    factory again (or a new version of it: same module and name) replaces it. `components` names the
    frozen networks of other runs the family may use (config.components.<name>); the factory
    receives each one that the config names as a keyword argument, the component run's Objective."""

    def wrap(factory: Callable[..., Objective]) -> Callable[..., Objective]:
        known = _REGISTRY.get(name)
        same = known is factory or (
            known is not None and (known.__module__, known.__qualname__) == (factory.__module__, factory.__qualname__)
        )  # the same factory, or its new version from a re-run notebook cell or a reloaded module
        if known is not None and not same:
            raise ValueError(
                f"objective {name!r} is already registered by {known.__module__}.{known.__qualname__}; "
                "choose another name"
            )
        _REGISTRY[name] = factory
        _COMPONENTS[name] = tuple(components)
        return factory

    return wrap


def registered() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def make_objective(config: Any, metadata: Any, components: Mapping[str, Objective] | None = None) -> Objective:
    """Builds the objective named by `config.objective.name` for a dataset's metadata, with the
    objectives of the frozen components the config names (`genjax.train.components`)."""
    name = config.objective.get("name")
    if name not in _REGISTRY:
        raise ValueError(
            f"config.objective.name={name!r} is not a known objective; choose one of {', '.join(registered())}"
        )
    components = dict(components or {})
    unknown = sorted(set(components) - set(_COMPONENTS[name]))
    if unknown:
        raise ValueError(
            f"config.components names {unknown}, which objective {name!r} does not use; it takes "
            f"{list(_COMPONENTS[name]) or 'no components'}"
        )
    return _REGISTRY[name](config.objective, metadata, **components)


def check_fields(cfg: Any, allowed: set[str], family: str) -> None:
    """Raises a ValueError naming each field of `cfg` that the family does not know."""
    unknown = sorted(set(cfg.keys()) - allowed - {"name"})
    if unknown:
        raise ValueError(
            f"config.objective has unknown field(s) {unknown} for objective {family!r}; known fields: {sorted(allowed)}"
        )


def import_family(spec: str) -> None:
    """Imports a user's module that registers objectives (`@register("name")`): a module name
    (`mypkg.my_objective`, looked up from the working directory too) or a file (`path/to/family.py`).
    Importing the same module again does nothing."""
    path = Path(spec)
    try:
        if spec.endswith(".py"):
            if not path.is_file():
                raise FileNotFoundError(f"--import {spec}: no such file")
            name = f"genjax_user_{path.stem}_{abs(hash(str(path.resolve())))}"
            if name not in sys.modules:
                module_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
            return
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        importlib.import_module(spec)
    except ModuleNotFoundError as e:
        raise ValueError(f"--import {spec}: {e}; give an importable module name or a .py file") from None


def _import_families() -> None:
    """Imports every module of this package: each family registers itself on import."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


_import_families()

__all__ = [
    "LossOutput",
    "Objective",
    "PlayerVariables",
    "check_fields",
    "import_family",
    "make_objective",
    "register",
    "registered",
]
