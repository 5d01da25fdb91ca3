"""Every config field's type and range, declared once (genjax/config_schema.py), is enforced."""

import dataclasses
import typing

import pytest

from genjax import config as config_lib
from genjax import config_schema
from genjax.cli import main
from genjax.errors import UsageError
from genjax.schema import allowed

VAE = "digits_vae:runlocal"

# Numeric fields whose every value of the type is meaningful (no range to declare).
UNBOUNDED = {("data", "value_range")}


def _numeric(tp) -> bool:
    return tp in (int, float) or any(_numeric(a) for a in typing.get_args(tp) if a is not Ellipsis)


@pytest.mark.parametrize("name, cls", [("", config_schema.TopFields), *config_schema.SECTIONS.items()])
def test_every_numeric_field_declares_its_range(name, cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if _numeric(hints[f.name]) and (name, f.name) not in UNBOUNDED:
            a = allowed(f)
            assert a is not None and (a.choices or {a.ge, a.gt, a.le, a.lt} != {None}), f"{name}.{f.name}"


def test_base_config_holds_the_declared_defaults():
    c = config_lib.base_config()
    for name, cls in config_schema.SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            assert c[name][f.name] == default, f"{name}.{f.name}"
    config_lib.validate(c)  # the defaults are in range


BAD = [
    ("train.keep_checkpoints=0", r"config.train.keep_checkpoints must be >= 1, got 0"),
    ("train.steps=0", r"config.train.steps must be >= 1, got 0"),
    ("train.steps=-5", r"config.train.steps must be >= 1, got -5"),
    ("train.log_every=0", r"config.train.log_every must be >= 1, got 0"),
    ("train.checkpoint_every=-1", r"config.train.checkpoint_every must be >= 0"),
    ("optim.lr=-0.001", r"config.optim.lr must be >= 0, got -0.001"),
    ("optim.b2=1.0", r"config.optim.b2 must be in \[0, 1\), got 1.0"),
    ("optim.name=adamax", r"config.optim.name must be one of 'adam', 'adamw', 'sgd', 'lion', got 'adamax'"),
    ("train.compute_dtype=float16", r"config.train.compute_dtype must be one of 'float32', 'bfloat16'"),
    ("train.ema_decays=(0.99,1.5)", r"config.train.ema_decays\[1\] must be in \[0, 1\), got 1.5"),
    ("train.grad_accum=0", r"config.train.grad_accum must be >= 1"),
    ("data.batch_size=0", r"config.data.batch_size must be >= 1"),
    ("data.num_workers=-2", r"config.data.num_workers must be >= 0"),
    ("eval.num=-5", r"config.eval.num must be >= 1, got -5"),
    ("sample.num=0", r"config.sample.num must be >= 1, got 0"),
    ("mesh.fsdp=-2", r"config.mesh.fsdp must be >= -1"),
    ("seed=-1", r"config.seed must be >= 0, got -1"),
    ("distributed.initialize=sometimes", r"config.distributed.initialize must be one of"),
]


@pytest.mark.parametrize("override, match", BAD)
def test_out_of_range_values_are_refused(override, match):
    with pytest.raises(UsageError, match=match):
        config_lib.load_config(VAE, [override])


def test_player_overrides_are_range_checked():
    c = config_lib.load_config(VAE)
    c.optim.players = config_lib.ConfigDict({"model": {"lr": -1.0}})
    with pytest.raises(UsageError, match=r"config.optim.players.model.lr must be >= 0, got -1.0"):
        config_lib.validate(c)


def test_the_cli_refuses_before_training(tmp_path, capsys):
    assert main(["train", "--config", VAE, "--workdir", str(tmp_path), "--config.train.keep_checkpoints=0"]) == 2
    assert "config.train.keep_checkpoints must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "checkpoints").exists()
