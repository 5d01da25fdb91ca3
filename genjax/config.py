"""Experiment configs: ml_collections ConfigDicts with defaults, variants, overrides and validation.

A config module defines `get_config(arg=None)`: it starts from `base_config()`, changes what the
experiment needs and applies the variants that `arg` names with `variants(...)`. The packaged
configs are the modules of `genjax/configs/`. `load_config("digits_vae:runlocal", overrides)`
imports one (or a file, "path/to/my_config.py:variant"), applies command-line overrides with
ml_collections' `config_flags` (`--config.train.steps=500` or `--config.train.steps 500`, parsed
by the type of the field's default) and validates the result: an unknown key, an unknown variant
or a value of the wrong type is a `UsageError` that names it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

import ml_collections
from absl import flags
from ml_collections import config_dict, config_flags
from ml_collections.config_flags import config_path

from genjax.config_schema import DataFields, OptimFields, base_config, check_ranges, section
from genjax.errors import UsageError


ConfigDict = ml_collections.ConfigDict

CONFIG_PACKAGE = "genjax.configs"

# Sections whose keys belong to a model family, a sampler or a player and are checked there.
FREE_SECTIONS = ("objective", "components", "sample.kwargs", "optim.players", "eval.kwargs")


def optim_config() -> ConfigDict:
    """One player's optimizer at its defaults; `optim.players.<player>` may override any field."""
    return section(OptimFields)


def data_config() -> ConfigDict:
    """`config.data` at its defaults (fields: `genjax.config_schema.DataFields`)."""
    return section(DataFields)


def variants(config: ConfigDict, arg: str | None, **known: Callable[[ConfigDict], object]) -> ConfigDict:
    """Applies the variants that a config's `arg` names, comma-separated and in order ("runlocal",
    "cond,diffaugment"): each is a function of `known` that changes `config` in place.

        return variants(c, arg, runlocal=tiny, cond=conditional)

    An unknown name is a UsageError that lists the known ones."""
    for name in filter(None, (arg or "").split(",")):
        if name not in known:
            raise UsageError(f"unknown variant {name!r}; known: {', '.join(sorted(known)) or 'none'}")
        known[name](config)
    return config


def short_run(config: ConfigDict, batch_size: int = 8) -> ConfigDict:
    """The training part of a tiny "runlocal" variant: 10 steps of a small batch, logging,
    sampling and checkpointing along the way. The model part is each config's own."""
    config.data.batch_size = batch_size
    config.train.steps = 10
    config.train.log_every = 5
    config.train.sample_every = 10
    config.train.checkpoint_every = 10
    config.sample.num = 4
    return config


def _is_free(path: str) -> bool:
    return any(path == s or path.startswith(s + ".") for s in FREE_SECTIONS)


def _unknown_key(prefix: str, key: Any, known: Iterable[Any]) -> UsageError:
    """The error for `prefix + key`, absent from a section with the keys `known`."""
    known = sorted(map(str, known))
    near = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {prefix + near[0]!r}?" if near else ""
    return UsageError(f"unknown config key {prefix + str(key)!r}{hint} (known: {', '.join(known)})")


def validate(config: ConfigDict) -> None:
    """Raises a UsageError naming a key absent from `base_config()`, or a value of the wrong
    type or out of its declared range (`genjax.config_schema`)."""
    _validate_keys(config, base_config(), "")
    try:
        check_ranges(config)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _validate_keys(config: ConfigDict, reference: ConfigDict, prefix: str) -> None:
    for key in config.keys():
        path = f"{prefix}{key}"
        if _is_free(path):
            continue
        if key not in reference:
            raise _unknown_key(prefix, key, reference.keys())
        value, ref = config[key], reference[key]
        if isinstance(ref, ConfigDict):
            if not isinstance(value, ConfigDict):
                raise UsageError(f"config key {path!r} must be a section, got {value!r}")
            _validate_keys(value, ref, path + ".")


# --config.a.b=v, --config.a.b v, --noconfig.a.b (config_flags' forms); group 1 is the key path
_OVERRIDE = re.compile(r"-{1,2}(?:no)?config\.([^=]+)")


def apply_overrides(config: ConfigDict, overrides: Iterable[str]) -> ConfigDict:
    """Applies command-line overrides to `config` in place with ml_collections' config_flags.

    `overrides` are command-line words: `--config.a.b=v`, `--config.a.b v`, `--noconfig.a.b`
    (a bool), or `a.b=v` without the prefix. A value is parsed by the type of the field's default:
    int, float, bool (`true`/`false`), str, tuple (`(1, 2)`, or one value), a dict for a section.
    A new key of a free section (objective, sample.kwargs, eval.kwargs, optim.players) and a
    field whose default is None take a Python literal, else a string, and only in the `=` form.
    A numeric key part indexes a mapping: `objective.batch_sizes.32=64`."""
    argv = _as_flags(overrides)
    for path in dict.fromkeys(m.group(1) for m in map(_OVERRIDE.match, argv) if m):
        _prepare(config, path)
    flag_values = flags.FlagValues()
    try:
        config_flags.DEFINE_config_dict(
            "config",
            config,
            flag_values=flag_values,
            lock_config=False,
            accept_new_attributes=True,
            sys_argv=["genjax", *argv],
        )
        rest = flag_values(["genjax", *argv])[1:]
    except flags.IllegalFlagValueError as e:
        raise UsageError(_value_error(str(e), config)) from None
    except (flags.Error, KeyError, TypeError) as e:  # a missing value, an unknown flag, a flag order
        raise UsageError(str(e.args[0]) if e.args else repr(e)) from None
    if rest:
        raise UsageError(
            f"unexpected argument {rest[0]!r}: a bool, a new key or a field whose default is "
            "None takes its value after '=' (--config.KEY=VALUE)"
        )
    return config


def split_overrides(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """Splits command-line words into the config overrides, with the values of the two-word form
    (`--config.a.b v`), and the other words."""
    overrides, other, value_next = [], [], False
    for word in words:
        if value_next or _OVERRIDE.match(word):
            overrides.append(word)
            value_next = not value_next and _takes_value(word)
        else:
            other.append(word)
    return overrides, other


def _takes_value(word: str) -> bool:
    """Whether the next word is the value of the override `word`: `--config.a.b v`."""
    return re.match(r"-{1,2}config\.[^=]*$", word) is not None


def _as_flags(overrides: Iterable[str]) -> list[str]:
    """`overrides` as config_flags reads them: `--config.` before `a.b=v`, `a.b['32']` for `a.b.32`."""
    argv, value_next = [], False
    for word in overrides:
        if not value_next and not word.startswith("-"):
            word = "--config." + word
        if not value_next and _OVERRIDE.match(word):
            name, eq, value = word.partition("=")
            word = re.sub(r"\.(\d+)(?=[.\[]|$)", r"['\1']", name) + eq + value
        value_next = not value_next and _takes_value(word)
        argv.append(word)
    return argv


def _prepare(config: ConfigDict, path: str) -> None:
    """Checks that `path` names a field of `config` or a new key of a free section (creating its
    missing groups), and gives a field whose default is None a type config_flags can parse."""
    try:
        parts = config_path.split(path)
    except ValueError:
        raise UsageError(f"--config.{path}: not a config key path such as train.steps") from None
    node = config
    for i, part in enumerate(parts):
        prefix, last = "".join(f"{p}." for p in parts[:i]), i == len(parts) - 1
        if part not in node:
            if not _is_free(prefix + str(part)):
                raise _unknown_key(prefix, part, node.keys())
            if last:
                return
            with node.ignore_type():  # a new group of a free section: optim.players.generator
                node[part] = ConfigDict()
        elif last:
            if node[part] is None:
                node[part] = config_dict.placeholder(object)  # parsed as a literal, like a new key
            return
        node = node[part]
        if not isinstance(node, ConfigDict):
            raise UsageError(f"--config.{path}: config key {prefix + str(part)!r} is a value, not a section")


def _value_error(message: str, config: ConfigDict) -> str:
    """absl's "flag --config.train.steps=abc: <reason>" as "--config.train.steps=abc: expected int"."""
    match = re.fullmatch(r"flag (-{1,2}config\.([^=]+)=.*?): (.*)", message, re.DOTALL)
    if match is None:
        return message
    flag, path, reason = match.groups()
    kind = config_path.get_type(path, config)
    if kind is bool:
        return f"{flag}: expected true or false"
    return f"{flag}: expected {kind.__name__}" + ("" if kind in (int, float) else f" ({reason})")


def config_names() -> list[str]:
    """The packaged configs: the modules of genjax/configs."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent / "configs")]))


def _config_module(where: str) -> ModuleType:
    """The module of the packaged config `where` (a name) or of the config file `where` (a path)."""
    if where.isidentifier():
        if where not in config_names():
            raise UsageError(
                f"no packaged config {where!r} (known: {', '.join(config_names())}); "
                "a config file is named by its path, e.g. ./my_config.py"
            )
        return importlib.import_module(f"{CONFIG_PACKAGE}.{where}")
    path = Path(where)
    if not path.is_file():
        hint = f"; the packaged config is named without a path: {path.stem}" if path.stem in config_names() else ""
        raise FileNotFoundError(f"config file {where!r} does not exist{hint}")
    spec = importlib.util.spec_from_file_location(f"genjax_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (SyntaxError, ImportError) as e:
        raise UsageError(f"config file {where!r}: {type(e).__name__}: {e}") from e
    if not hasattr(module, "get_config"):
        raise UsageError(f"config file {where!r} has no get_config(arg=None) function")
    return module


def load_config(spec: str, overrides: Iterable[str] = ()) -> ConfigDict:
    """Loads a config, applies `overrides` (see `apply_overrides`) and validates it.

    `spec` is `NAME[:arg]` for a packaged config ("digits_vae", "digits_vae:runlocal") or
    `PATH.py[:arg]` for a config file; `arg` is passed to its `get_config`."""
    where, _, arg = spec.partition(":")
    module = _config_module(where)
    try:
        config = module.get_config(*([arg] if arg else []))
    except (TypeError, ValueError) as e:  # ConfigDict's type safety, an unknown variant
        raise UsageError(f"config {spec!r}: {e}") from e
    config = apply_overrides(config, overrides)
    validate(config)
    return config


def with_variant(spec: str, variant: str) -> str:
    """`spec` (NAME[:variants] or PATH.py[:variants]) with one more variant, applied last."""
    return f"{spec},{variant}" if ":" in spec else f"{spec}:{variant}"


def default_workdir(spec: str) -> str:
    """runs/<config name>[-<variants>] for a config NAME[:variants] or PATH.py[:variants]."""
    name, _, variants = spec.partition(":")
    return "runs/" + "-".join([Path(name).stem, *filter(None, variants.split(","))])


def to_json(config: ConfigDict) -> str:
    return config.to_json_best_effort(indent=2, sort_keys=True)


def from_json(text: str) -> ConfigDict:
    """Rebuilds a config saved with `to_json` (lists become the tuples of the defaults)."""
    config = base_config()
    _merge(config, json.loads(text))
    validate(config)
    return config


def _merge(node: ConfigDict, data: dict) -> None:
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in node or not isinstance(node[key], ConfigDict):
                with node.ignore_type():
                    node[key] = ConfigDict()
            _merge(node[key], value)
        else:
            current = node.get(key)
            if isinstance(value, list):
                value = _tuplify(value)
            with node.ignore_type():
                node[key] = float(value) if isinstance(current, float) and isinstance(value, int) else value


def _tuplify(value):
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value
