"""Configs: defaults, overrides, validation, JSON round trip."""

from pathlib import Path

import pytest

from genjax import config as config_lib

ROOT = Path(__file__).resolve().parents[1]
VAE = str(ROOT / "configs/digits_vae.py")


def test_overrides_are_typed():
    c = config_lib.load_config(VAE, ["--config.train.steps=7", "--config.optim.lr=1", "--config.train.progress=false",
                                     "--config.objective.hidden=(8,4)", "--config.train.ema_decays=0.5",
                                     "--config.data.source=builtin:ring8"])
    assert c.train.steps == 7 and c.optim.lr == 1.0 and isinstance(c.optim.lr, float)
    assert c.train.progress is False and c.objective.hidden == (8, 4) and c.train.ema_decays == (0.5,)
    assert c.data.source == "builtin:ring8"


@pytest.mark.parametrize("override, match", [
    ("--config.train.stepz=3", r"unknown config key 'train.stepz'"),
    ("--config.trian.steps=3", r"unknown config key 'trian'"),
    ("--config.train.steps=abc", r"train.steps=abc: cannot parse as int"),
    ("--config.train.steps=1.5", r"train.steps=1.5: expected int"),
    ("--config.train.progress=maybe", r"train.progress=maybe: expected true or false"),
    ("--config.train.steps", r"must look like"),
])
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ValueError, match=match):
        config_lib.load_config(VAE, [override])


def test_unknown_key_in_a_config_file_is_named(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text("from genjax.config import base_config\n"
                 "def get_config(arg=None):\n"
                 "    c = base_config()\n"
                 "    c.train.learning_rate = 0.1\n"
                 "    return c\n")
    with pytest.raises(ValueError, match=r"unknown config key 'train.learning_rate'"):
        config_lib.load_config(str(f))
    f.write_text(f.read_text().replace("c.train.learning_rate = 0.1", "c.train.steps = 'many'"))
    with pytest.raises(ValueError, match=r"bad.py.*field 'steps'.*cannot be casted"):
        config_lib.load_config(str(f))


def test_missing_file_and_variant():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        config_lib.load_config("configs/nope.py")
    with pytest.raises(ValueError, match="unknown variant"):
        config_lib.load_config(VAE + ":huge")


def test_json_round_trip():
    c = config_lib.load_config(VAE + ":runlocal", ["--config.train.ema_decays=(0.9,0.99)"])
    again = config_lib.from_json(config_lib.to_json(c))
    assert again.to_dict() == c.to_dict()


def test_unknown_objective_field_and_name():
    from genjax.data import load_metadata
    from genjax.objectives import make_objective

    c = config_lib.load_config(VAE, ["--config.objective.latnt_dim=3"])
    with pytest.raises(ValueError, match="unknown field.*latnt_dim"):
        make_objective(c, load_metadata(c.data))
    c = config_lib.load_config(VAE, ["--config.objective.name=nope"])
    with pytest.raises(ValueError, match="objective.name='nope' is not a known objective"):
        make_objective(c, load_metadata(c.data))


def test_per_player_optimizer_overrides():
    from genjax.train.optim import make_optimizers, player_optim_config

    c = config_lib.base_config()
    c.optim.lr = 2e-4
    c.optim.players.discriminator = config_lib.ConfigDict({"lr": 4e-4, "b1": 0.0})
    d = player_optim_config(c, "discriminator")
    assert (d.lr, d.b1, d.b2) == (4e-4, 0.0, 0.999)
    assert player_optim_config(c, "generator").lr == 2e-4
    with pytest.raises(ValueError, match="does not have"):
        make_optimizers(c, ("generator",))
    c.optim.players.discriminator.lrr = 1.0
    with pytest.raises(ValueError, match="optim.players.discriminator.lrr"):
        player_optim_config(c, "discriminator")
    # a player's group may be created from the command line
    c = config_lib.apply_overrides(c, ["--config.optim.players.generator.lr=5e-4"])
    assert player_optim_config(c, "generator").lr == 5e-4
    with pytest.raises(ValueError, match="unknown config key 'optim.nope'"):
        config_lib.apply_overrides(c, ["optim.nope.lr=1.0"])


def test_lr_schedules_against_closed_forms():
    import math

    from genjax.train.optim import lr_schedule

    c = config_lib.optim_config()
    c.lr, c.warmup_steps, c.schedule = 1.0, 10, "cosine"
    f = lr_schedule(c, 110)
    assert float(f(5)) == pytest.approx(0.5)
    assert float(f(60)) == pytest.approx(0.5 * (1 + math.cos(math.pi * 50 / 100)))
    c.schedule = "linear"
    assert float(lr_schedule(c, 110)(60)) == pytest.approx(0.5)
    c.schedule = "constant"
    assert float(lr_schedule(c, 110)(100)) == pytest.approx(1.0)
