"""Experiment configs: ml_collections ConfigDicts with defaults, validation and overrides.

A config file in `configs/` defines `get_config(arg=None)` that starts from `base_config()` and
changes what the experiment needs. `load_config("configs/x.py:variant", overrides)` imports it,
applies command-line overrides such as `--config.train.steps=500`, and validates the result:
an unknown key or a value of the wrong type is an error that names the key.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterable

import ml_collections

ConfigDict = ml_collections.ConfigDict

# The repository's config files; `load_config("digits_vae")` finds configs/digits_vae.py here.
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

# Sections whose keys belong to a model family, a sampler or a player and are checked there.
FREE_SECTIONS = ("objective", "components", "sample.kwargs", "optim.players", "eval.kwargs")


def optim_config() -> ConfigDict:
    """One player's optimizer; `optim.players.<player>` may override any of these fields."""
    return ConfigDict(
        dict(
            name="adam",  # adam | adamw | sgd | lion
            lr=1e-3,
            b1=0.9,
            b2=0.999,
            eps=1e-8,
            weight_decay=0.0,
            schedule="constant",  # constant | cosine | linear
            warmup_steps=0,
            clip_norm=0.0,  # global-norm gradient clipping; 0 disables
        )
    )


def data_config() -> ConfigDict:
    """Every field of `config.data` with its default; `genjax.data` validates them."""
    return ConfigDict(
        dict(
            # builtin:NAME[?k=v&...] | tfds:NAME[:VERSION] | npz:PATH | folder:PATH
            source="builtin:digits",
            split="train",  # TFDS split string, e.g. "train[:90%]"
            eval_split=None,  # None: "test" when the source has it, else `split`
            batch_size=128,  # GLOBAL batch; each of P processes gets batch_size // P
            shuffle=True,
            shuffle_seed=None,  # None: config.seed
            image_size=None,  # None: native size; an int or (height, width) resizes
            value_range=(-1.0, 1.0),  # images map to [low, high]
            dequantize=False,  # uniform dequantization (x + U[0,1)) / 256 of 8-bit images
            random_flip=False,  # random horizontal flips (training batches only)
            binarize=False,  # dynamic binarization: x ~ Bernoulli(intensity)
            num_workers=0,  # grain worker processes (0: in the main process)
            prefetch=2,  # batches read ahead (per worker when num_workers > 0)
            cache=False,  # decode this process's part of the split into memory once (if it fits)
            data_dir=None,  # TFDS data dir; None: $TFDS_DATA_DIR or ~/tensorflow_datasets
            drop_remainder=False,  # finite eval passes: drop the last partial batch, or pad + mask
        )
    )


def base_config() -> ConfigDict:
    """Every known field with its default."""
    c = ConfigDict()
    c.seed = 0
    c.data = data_config()
    c.objective = ConfigDict({"name": "vae"})
    # frozen networks of other runs: {name: {workdir, ema_index}} (genjax.train.components)
    c.components = ConfigDict()
    c.optim = optim_config()
    c.optim.players = ConfigDict()
    c.train = ConfigDict(
        dict(
            steps=1000,
            log_every=50,
            sample_every=500,
            eval_every=0,  # 0: no periodic evaluation
            checkpoint_every=500,
            keep_checkpoints=3,
            best_metric="",  # e.g. "eval/fid": also keep the best checkpoint by it
            best_mode="min",
            async_checkpoint=True,
            ema_decays=(0.999,),
            compute_dtype="float32",  # float32 | bfloat16
            grad_accum=1,  # micro-batches per step (lax.scan)
            nonfinite_guard=True,
            progress=True,
            aot_compile=True,  # lower().compile() before the loop: logs compile time, fails early
        )
    )
    c.mesh = ConfigDict(dict(data=-1, fsdp=1, tensor=1))
    c.sharding = ConfigDict(
        dict(
            # logical axis name -> mesh axes (None: replicated); see genjax/parallel/axes.py
            rules=(
                ("batch", ("data", "fsdp")),
                ("embed", "fsdp"),
                ("mlp", "tensor"),
                ("heads", "tensor"),
                ("kv", None),
                ("vocab", "tensor"),
                ("conv_in", None),
                ("conv_out", "fsdp"),
                ("norm", None),
            ),
            # params without logical names: shard the largest dimension divisible by the fsdp
            # size when the param has at least this many elements, else replicate
            min_fsdp_size=2**16,
        )
    )
    c.eval = ConfigDict(dict(metrics=(), num=1000, split="", use_ema=True))
    c.eval.kwargs = ConfigDict()
    c.sample = ConfigDict(dict(num=64, use_ema=True))
    c.sample.kwargs = ConfigDict()  # passed to Objective.sample (sampler, steps, ...)
    c.distributed = ConfigDict(
        dict(
            initialize="auto",  # auto | always | never
            coordinator_address="",
            num_processes=0,
            process_id=-1,
        )
    )
    return c


def runlocal(config: ConfigDict, batch_size: int = 8) -> ConfigDict:
    """The training part of a config's tiny "runlocal" variant: 10 steps of a small batch,
    logging, sampling and checkpointing along the way. The model part is each config's own."""
    config.data.batch_size = batch_size
    config.train.steps = 10
    config.train.log_every = 5
    config.train.sample_every = 10
    config.train.checkpoint_every = 10
    config.sample.num = 4
    return config


def _is_free(path: str) -> bool:
    return any(path == s or path.startswith(s + ".") for s in FREE_SECTIONS)


def validate(config: ConfigDict, reference: ConfigDict | None = None, prefix: str = "") -> None:
    """Raises ValueError naming every key absent from `base_config()` or of the wrong type."""
    reference = base_config() if reference is None else reference
    for key in config.keys():
        path = f"{prefix}{key}"
        if _is_free(path):
            continue
        if key not in reference:
            near = difflib.get_close_matches(key, list(reference.keys()), n=1)
            hint = f"; did you mean {prefix}{near[0]!r}?" if near else ""
            raise ValueError(f"unknown config key {path!r}{hint} (known: {sorted(reference.keys())})")
        value, ref = config[key], reference[key]
        if isinstance(ref, ConfigDict):
            if not isinstance(value, ConfigDict):
                raise ValueError(f"config key {path!r} must be a section, got {value!r}")
            validate(value, ref, path + ".")
        elif ref is not None and value is not None and not _compatible(value, ref):
            raise ValueError(
                f"config key {path!r} must be of type {type(ref).__name__}, "
                f"got {type(value).__name__} {value!r}"
            )


def _compatible(value: Any, ref: Any) -> bool:
    if isinstance(ref, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(ref, bool)
    if isinstance(ref, int):
        return isinstance(value, int)
    if isinstance(ref, float):
        return isinstance(value, (int, float))
    if isinstance(ref, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(ref))


def parse_value(text: str, current: Any, path: str) -> Any:
    """Converts an override's text to the type of the field it replaces."""
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"--config.{path}={text}: expected true or false")
    if isinstance(current, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if current is None:
            return text
        raise ValueError(
            f"--config.{path}={text}: cannot parse as {type(current).__name__}"
        ) from None
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(current, tuple) and not isinstance(value, tuple):
        value = (value,)
    if current is not None and not _compatible(value, current):
        raise ValueError(
            f"--config.{path}={text}: expected {type(current).__name__}, got {type(value).__name__}"
        )
    return value


def apply_overrides(config: ConfigDict, overrides: Iterable[str]) -> ConfigDict:
    """Applies `a.b=v` (or `--config.a.b=v`) overrides; unknown keys are errors naming the key."""
    for item in overrides:
        item = item.removeprefix("--").removeprefix("config.")
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like --config.section.key=value")
        path, text = item.split("=", 1)
        *parents, leaf = path.split(".")
        node = config
        for i, part in enumerate(parents):
            if part not in node:
                prefix = ".".join(parents[: i + 1])
                if not _is_free(prefix) or prefix in FREE_SECTIONS:
                    raise ValueError(f"unknown config key {prefix!r} in --config.{path}")
                with node.ignore_type():  # a new group inside a free section: optim.players.generator
                    node[part] = ConfigDict()
            node = node[part]
        if leaf not in node:
            if not _is_free(path):
                raise ValueError(f"unknown config key {path!r} in --config.{path}={text}")
            current = None
        else:
            current = node[leaf]
        if isinstance(current, ConfigDict) and _is_free(path) and path not in FREE_SECTIONS:
            # a mapping inside a free section, replaced whole: --config.objective.batch_sizes='{"4": 64}'
            current = None
        value = parse_value(text, current, path)
        with node.ignore_type():
            node[leaf] = value
    return config


def _load_module(path: str):
    file = Path(path)
    if not file.exists() and (CONFIG_DIR / f"{file.stem}.py").exists() and file.parent == Path("."):
        file = CONFIG_DIR / f"{file.stem}.py"
    if not file.exists():
        raise FileNotFoundError(f"config file {path!r} does not exist (nor {CONFIG_DIR / (file.stem + '.py')})")
    spec = importlib.util.spec_from_file_location(f"genjax_config_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"config file {path!r} has no get_config(arg=None) function")
    return module


def load_config(spec: str, overrides: Iterable[str] = ()) -> ConfigDict:
    """Loads `path.py[:arg]` (or a bare name from configs/, e.g. "digits_vae:runlocal"), applies
    overrides and validates."""
    path, _, arg = spec.partition(":")
    module = _load_module(path)
    try:
        config = module.get_config(arg or None)
    except TypeError as e:  # ConfigDict's type safety, e.g. a str assigned to an int field
        raise ValueError(f"config file {path!r}: {e}") from e
    config = apply_overrides(config, overrides)
    validate(config)
    return config


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
