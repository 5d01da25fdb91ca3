"""Every field of a config, declared once: its type, default and allowed values (`genjax.schema`).

`base_config()` is built from these declarations and `check_ranges` checks a config against
them, so `--config.train.keep_checkpoints=0` or `--config.optim.lr=-1` is refused before
anything runs. The free sections (`objective`, `components`, `sample.kwargs`, `eval.kwargs`)
belong to a family or a sampler and are checked there; `optim.players.<player>` overrides are
checked against `OptimFields`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ml_collections import ConfigDict

from genjax.schema import check_section, defaults, hparam

# logical axis name -> mesh axes (None: replicated); see genjax/parallel/axes.py
SHARDING_RULES = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv", None),
    ("vocab", "tensor"),
    ("conv_in", "fsdp"),
    ("conv_out", "tensor"),
    ("norm", None),
    ("layers", None),
)


@dataclasses.dataclass(frozen=True)
class OptimFields:
    """One player's optimizer; `optim.players.<player>` may override any of these fields."""

    name: str = hparam("adam", choices=("adam", "adamw", "sgd", "lion"))
    lr: float = hparam(1e-3, ge=0)
    b1: float = hparam(0.9, ge=0, lt=1)  # sgd: momentum (0: none)
    b2: float = hparam(0.999, ge=0, lt=1)
    eps: float = hparam(1e-8, ge=0)
    weight_decay: float = hparam(0.0, ge=0)
    schedule: str = hparam("constant", choices=("constant", "cosine", "linear"))
    warmup_steps: int = hparam(0, ge=0)
    clip_norm: float = hparam(0.0, ge=0)  # global-norm gradient clipping; 0 disables


@dataclasses.dataclass(frozen=True)
class DataFields:
    """`config.data`; `genjax.data.config` checks the fields against each other."""

    # builtin:NAME[?k=v&...] | tfds:NAME[:VERSION] | npz:PATH | folder:PATH | text:PATH[?vocab=byte&val=F] | audio:PATH
    source: str = "builtin:digits"
    split: str = "train"  # TFDS split string, e.g. "train[:90%]"
    eval_split: str | None = None  # None: "test" when the source has it, else `split`
    batch_size: int = hparam(128, ge=1)  # GLOBAL batch; each of P processes gets batch_size // P
    shuffle: bool = True
    shuffle_seed: int | None = hparam(None, ge=0)  # None: config.seed
    image_size: int | tuple[int, int] | None = hparam(None, ge=1)  # None: native size; else resize
    value_range: tuple[float, float] = (-1.0, 1.0)  # images map to [low, high]
    dequantize: bool = False  # uniform dequantization (x + U[0,1)) / 256 of 8-bit images
    random_flip: bool = False  # random horizontal flips (training batches only)
    binarize: bool = False  # dynamic binarization: x ~ Bernoulli(intensity)
    num_workers: int = hparam(0, ge=0)  # grain worker processes (0: in the main process)
    prefetch: int = hparam(2, ge=0)  # batches read ahead (per worker when num_workers > 0)
    cache: bool = False  # decode this process's part of the split into memory once (if it fits)
    # TFDS data dir (None: $TFDS_DATA_DIR or ~/tensorflow_datasets); text sources' relative paths too
    data_dir: str | None = None
    seq_len: int = hparam(256, ge=1)  # text sources: a window is seq_len + 1 tokens (inputs + targets)
    num_samples: int = hparam(8000, ge=1)  # audio sources: waveforms cut or padded to this many samples
    sample_rate: int | None = hparam(None, ge=1)  # audio sources: required rate (Hz); None: the files' own
    resample: bool = False  # audio sources: resample other rates to sample_rate, average channels (logged)
    drop_remainder: bool = False  # finite eval passes: drop the last partial batch, or pad + mask


@dataclasses.dataclass(frozen=True)
class TrainFields:
    steps: int = hparam(1000, ge=1)
    log_every: int = hparam(50, ge=1)
    sample_every: int = hparam(500, ge=0)  # 0: no sample grids
    eval_every: int = hparam(0, ge=0)  # 0: no periodic evaluation
    checkpoint_every: int = hparam(500, ge=0)  # 0: only at the last step
    keep_checkpoints: int = hparam(3, ge=1)
    best_metric: str = ""  # e.g. "eval/fid": also keep the best checkpoint by it
    best_mode: str = hparam("min", choices=("min", "max"))
    async_checkpoint: bool = True
    # resume from the newest checkpoint that verifies, moving damaged newer ones aside
    restore_fallback: bool = False
    ema_decays: tuple[float, ...] = hparam((0.999,), ge=0, lt=1)
    compute_dtype: str = hparam("float32", choices=("float32", "bfloat16"))
    grad_accum: int = hparam(1, ge=1)  # micro-batches per step (lax.scan)
    nonfinite_guard: bool = True
    progress: bool = True
    aot_compile: bool = True  # lower().compile() before the loop: logs compile time, fails early
    # train steps dispatched ahead of the newest finished one (genjax.train.loop: bounds memory,
    # and XLA:CPU's collectives stall with a deeper queue on more fake devices than cores)
    max_in_flight: int = hparam(8, ge=1)
    # (start, stop): a jax.profiler trace of train steps [start, stop) in <workdir>/profile
    profile_steps: tuple[int, ...] = hparam((), ge=1)
    compilation_cache_dir: str = ""  # persist compiled programs here ("": JAX's default, off)


@dataclasses.dataclass(frozen=True)
class MeshFields:
    # one of the three may be -1: the devices left over by the other two (genjax.parallel.mesh)
    data: int = hparam(-1, ge=-1)
    fsdp: int = hparam(1, ge=-1)
    tensor: int = hparam(1, ge=-1)
    # multi-slice TPU / multi-node GPU: slices (or nodes) along each axis, joined by the data-center
    # network (DCN); data/fsdp/tensor above are then the sizes within one slice or node (ICI/NVLink)
    dcn_data: int = hparam(1, ge=1)
    dcn_fsdp: int = hparam(1, ge=1)
    dcn_tensor: int = hparam(1, ge=1)


@dataclasses.dataclass(frozen=True)
class ShardingFields:
    rules: tuple[Any, ...] = SHARDING_RULES
    # params without logical names: shard the largest dimension divisible by the fsdp size when
    # the param has at least this many elements, else replicate
    min_fsdp_size: int = hparam(2**16, ge=1)


@dataclasses.dataclass(frozen=True)
class EvalFields:
    metrics: tuple[str, ...] = ()
    num: int = hparam(1000, ge=1)  # samples (or data examples) per evaluation
    split: str = ""
    use_ema: bool = True


@dataclasses.dataclass(frozen=True)
class SampleFields:
    num: int = hparam(64, ge=1)
    batch_size: int = hparam(256, ge=1)  # samples drawn at once (by `genjax sample` and `eval` too)
    use_ema: bool = True


@dataclasses.dataclass(frozen=True)
class DistributedFields:
    initialize: str = hparam("auto", choices=("auto", "always", "never"))
    coordinator_address: str = ""
    num_processes: int = hparam(0, ge=0)  # 0: from the cluster environment
    process_id: int = hparam(-1, ge=-1)  # -1: from the cluster environment


@dataclasses.dataclass(frozen=True)
class TopFields:
    seed: int = hparam(0, ge=0)


SECTIONS: dict[str, type] = {
    "data": DataFields,
    "optim": OptimFields,
    "train": TrainFields,
    "mesh": MeshFields,
    "sharding": ShardingFields,
    "eval": EvalFields,
    "sample": SampleFields,
    "distributed": DistributedFields,
}


def section(cls: type) -> ConfigDict:
    """A ConfigDict of the fields of `cls` at their defaults."""
    return ConfigDict(defaults(cls))


def base_config() -> ConfigDict:
    """Every known field with its default."""
    c = ConfigDict(defaults(TopFields))
    for name, cls in SECTIONS.items():
        c[name] = section(cls)
    c.objective = ConfigDict({"name": "vae"})
    c.components = ConfigDict()  # frozen networks of other runs: {name: {workdir, ema_index}}
    c.optim.players = ConfigDict()  # per-player overrides of config.optim
    c.eval.kwargs = ConfigDict()  # passed to the evaluation metrics
    c.sample.kwargs = ConfigDict()  # passed to Objective.sample (sampler, steps, ...)
    return c


def check_ranges(config: ConfigDict) -> None:
    """Raises a ValueError naming the first field of `config` whose value has the wrong type or
    lies outside its declared range."""
    check_section(TopFields, config, "config")
    for name, cls in SECTIONS.items():
        if name in config:
            check_section(cls, config[name], f"config.{name}")
    for player, overrides in config.get("optim", {}).get("players", {}).items():
        check_section(OptimFields, overrides, f"config.optim.players.{player}")
    profile = tuple(config.get("train", {}).get("profile_steps", ()))
    if profile and not (len(profile) == 2 and profile[0] < profile[1]):
        raise ValueError(
            f"config.train.profile_steps must be () or (start, stop) with start < stop, got {profile}; "
            "e.g. --config.train.profile_steps=(10,20)"
        )
