"""Typed fields with their allowed values, declared once in a frozen dataclass.

A field's type is its annotation, its default and allowed values sit beside it (`hparam`):

    @dataclasses.dataclass(frozen=True)
    class TrainFields:
        steps: int = hparam(1000, ge=1)
        compute_dtype: str = hparam("float32", choices=("float32", "bfloat16"))
        ema_decays: tuple[float, ...] = hparam((0.999,), ge=0, lt=1)   # bounds apply to each element

`convert(value, type, where, allowed)` checks one value and raises a ValueError naming `where`,
the value and what is allowed; `check_section` checks every field of a config section.
The config sections (`genjax.config_schema`) and the families' hyper-parameters
(`genjax.objectives.hparams`) are declared this way.

Types: bool, int, float (ints are accepted), str, `tuple[T, ...]` and `tuple[T1, T2]` (lists
are accepted), `dict[str, Any]` (a mapping or ConfigDict, returned as a plain dict), `Any`, and
unions such as `int | None` or `str | bool` (the first member that fits).
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import types
import typing
from typing import Any, Mapping, Sequence, TypeVar

T = TypeVar("T")
_KEY = "hparam"


@dataclasses.dataclass(frozen=True)
class Allowed:
    """The values a field allows beyond its type: bounds (ge: >=, gt: >, le: <=, lt: <) for
    numbers and a set of choices; for a tuple they apply to each element."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[Any, ...] | None = None

    def admits(self, value: Any) -> bool:
        if self.choices is not None:
            return any(value == c and type(value) is type(c) for c in self.choices)
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def describe(self) -> str:
        if self.choices is not None:
            return f"one of {', '.join(map(repr, self.choices))}"
        low = (self.ge, "[") if self.ge is not None else (self.gt, "(")
        high = (self.le, "]") if self.le is not None else (self.lt, ")")
        if low[0] is not None and high[0] is not None:
            return f"in {low[1]}{low[0]:g}, {high[0]:g}{high[1]}"
        if low[0] is not None:
            return f"{'>=' if low[1] == '[' else '>'} {low[0]:g}"
        return f"{'<=' if high[1] == ']' else '<'} {high[0]:g}"


def hparam(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A dataclass field with `default` (copied per instance when mutable, e.g. `{}`) and its
    allowed values (see `Allowed`)."""
    allowed = Allowed(ge, gt, le, lt, None if choices is None else tuple(choices))
    metadata = {_KEY: allowed}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class _Mismatch(Exception):
    """A value does not have the declared type (caught to try the next member of a union)."""


def _describe(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            plural = {bool: "bools", int: "ints", float: "numbers", str: "strings"}
            return f"a tuple of {plural.get(args[0]) or 'elements each ' + _describe(args[0])}"
        return f"a tuple ({', '.join(_describe(a) for a in args)})"
    if origin is dict or tp is dict:
        return "a mapping"
    names = {bool: "true or false", int: "an int", float: "a number", str: "a string", type(None): "None"}
    if tp not in names:
        raise TypeError(f"hyper-parameter type {tp!r} is not supported")
    return names[tp]


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` as type `tp`, or _Mismatch; the elements of a tuple are checked with their own
    names (`where[i]`), and a mismatch there is reported at once."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for member in args:
            try:
                return _coerce(value, member, where)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise _Mismatch
        members = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(members) != len(value):
            raise _Mismatch
        return tuple(convert(v, m, f"{where}[{i}]") for i, (v, m) in enumerate(zip(value, members)))
    if origin is dict or tp is dict:
        if not hasattr(value, "keys"):
            raise _Mismatch
        return value.to_dict() if hasattr(value, "to_dict") else copy.deepcopy(dict(value))
    if tp is type(None):
        if value is not None:
            raise _Mismatch
        return None
    checks = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool),
        float: lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if tp not in checks:
        raise TypeError(f"hyper-parameter type {tp!r} is not supported")
    if not checks[tp](value):
        raise _Mismatch
    return tp(value)


def convert(value: Any, tp: Any, where: str, allowed: Allowed | None = None) -> Any:
    """`value` checked against type `tp` and `allowed` (each element of a tuple); raises a
    ValueError naming `where`, the value and what is allowed."""
    try:
        out = _coerce(value, tp, where)
    except _Mismatch:
        raise ValueError(f"{where} must be {_describe(tp)}, got {value!r}") from None
    if allowed is not None and out is not None:
        for i, v in enumerate(out) if isinstance(out, tuple) else [(None, out)]:
            if not allowed.admits(v):
                name = where if i is None else f"{where}[{i}]"
                raise ValueError(f"{name} must be {allowed.describe()}, got {v!r}")
    return out


def allowed(f: dataclasses.Field) -> Allowed | None:
    """The allowed values that `hparam` recorded for a dataclass field (None: any of its type)."""
    return f.metadata.get(_KEY)


def check_section(cls: type, section: Mapping[str, Any], where: str) -> None:
    """Type- and range-checks the values of `section` (a config section) that `cls` declares,
    naming each as `<where>.<field>`; keys `cls` does not declare are left to the caller."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in section:
            convert(section[f.name], hints[f.name], f"{where}.{f.name}", allowed(f))


def defaults(cls: type) -> dict[str, Any]:
    """{field: default} of a dataclass declared with `hparam` (fresh copies of mutable ones)."""
    return {
        f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default for f in dataclasses.fields(cls)
    }
