"""Hyper-parameters of a model family, declared once as a frozen dataclass.

A family declares every `config.objective` field it reads as one field of a frozen dataclass:
its type in the annotation, its default, and its allowed values beside it with `hparam`:

    @dataclasses.dataclass(frozen=True)
    class VAEHParams:
        latent_dim: int = hparam(16, ge=1)
        hidden: tuple[int, ...] = hparam((512, 256), ge=1)     # bounds apply to each element
        likelihood: str = hparam("bernoulli", choices=("bernoulli", "gaussian"))
        obs_std: float = hparam(0.1, gt=0)
        encoder: dict[str, Any] = hparam({})                     # nested keyword arguments
        seed: int | None = None                                  # optional

    hp = from_config(VAEHParams, config.objective, "vae")

`from_config` takes the config's value of each field (the default where it is unset), checks
its type and range, and builds the dataclass (whose `__post_init__` may check fields against
each other). Errors are ValueErrors naming `config.objective.<field>`, the value and what is
allowed; a field the dataclass does not declare is an error listing the known fields.

The types and bounds a field may declare are those of `genjax.schema`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, TypeVar

from genjax.objectives import check_fields
from genjax.schema import Allowed, allowed, convert, hparam

__all__ = ["Allowed", "convert", "from_config", "hparam", "module_kwargs"]
T = TypeVar("T")


def from_config(cls: type[T], cfg: Mapping[str, Any], family: str) -> T:
    """`cls` (a dataclass of hyper-parameters) built from `config.objective` of `family`: each
    field's config value or default, type- and range-checked; unknown config fields (other
    than `name`) are errors."""
    fields = dataclasses.fields(cls)
    check_fields(cfg, {f.name for f in fields}, family)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields:
        if f.name in cfg:
            values[f.name] = convert(cfg[f.name], hints[f.name], f"config.objective.{f.name}", allowed(f))
    return cls(**values)


def module_kwargs(
    cls: type, kwargs: Mapping[str, Any], section: str, reserved: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Keyword arguments of the Flax module `cls` from the nested config field `section`
    (e.g. `generator={...}`): unknown names are errors, lists become tuples. `reserved` names
    are fields the family sets itself (from the data), which the config may not set."""
    taken = sorted(set(kwargs) & reserved)
    if taken:
        raise ValueError(f"config.objective.{section}.{taken[0]} comes from the data; remove it")
    known = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"} - reserved
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(
            f"config.objective.{section} has unknown field(s) {unknown} for {cls.__name__}; known: {sorted(known)}"
        )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
