"""Configs: packaged and file configs, variants, config_flags overrides, validation, JSON."""

import numpy as np
import pytest

import genjax
from genjax import config as config_lib
from genjax.errors import UsageError

VAE = "digits_vae"


def test_overrides_are_typed():
    c = config_lib.load_config(
        VAE,
        [
            "--config.train.steps=7",
            "--config.optim.lr=1",
            "--config.train.progress=false",
            "--config.objective.hidden=(8,4)",
            "--config.train.ema_decays=0.5",
            "--config.data.source=builtin:ring8",
        ],
    )
    assert c.train.steps == 7 and c.optim.lr == 1.0 and isinstance(c.optim.lr, float)
    assert c.train.progress is False and c.objective.hidden == (8, 4) and c.train.ema_decays == (0.5,)
    assert c.data.source == "builtin:ring8"


def test_override_forms_give_the_same_config():
    """config_flags' forms: `--config.x=v`, `--config.x v`, `--noconfig.flag`, repeated tuple
    flags; and, in load_config, `x=v` without the prefix."""
    equals = [
        "--config.train.steps=7",
        "--config.optim.lr=0.5",
        "--config.data.source=builtin:ring8",
        "--config.train.ema_decays=(0.9,0.99)",
        "--config.train.progress=false",
        "--config.distributed.process_id=-1",
    ]
    spaced = [
        "--config.train.steps",
        "7",
        "--config.optim.lr",
        "0.5",
        "--config.data.source",
        "builtin:ring8",
        "--config.train.ema_decays",
        "0.9",
        "--config.train.ema_decays",
        "0.99",
        "--noconfig.train.progress",
        "--config.distributed.process_id",
        "-1",
    ]
    bare = [
        "train.steps=7",
        "optim.lr=0.5",
        "data.source=builtin:ring8",
        "train.ema_decays=(0.9, 0.99)",
        "train.progress=False",
        "distributed.process_id",
        "-1",
    ]
    configs = [config_lib.load_config(VAE, overrides).to_dict() for overrides in (equals, spaced, bare)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0]["train"]["steps"] == 7 and configs[0]["train"]["ema_decays"] == (0.9, 0.99)
    assert configs[0] != config_lib.load_config(VAE).to_dict()


@pytest.mark.parametrize(
    "override, match",
    [
        ("--config.train.stepz=3", r"^unknown config key 'train.stepz'; did you mean 'train.steps'\?"),
        ("--config.trian.steps=3", r"^unknown config key 'trian'"),
        ("--config.train.steps=abc", r"^--config.train.steps=abc: expected int$"),
        ("--config.train.steps=1.5", r"^--config.train.steps=1.5: expected int$"),
        ("--config.optim.lr=fast", r"^--config.optim.lr=fast: expected float$"),
        ("--config.train.progress=maybe", r"^--config.train.progress=maybe: expected true or false$"),
        ("--config.train=5", r"^--config.train=5: expected ConfigDict"),
        ("--config.train.steps.x=1", r"config key 'train.steps' is a value, not a section"),
        ("--config.train.steps", r"^Missing value for flag --config.train.steps$"),
        ("--workdir=x", r"Unknown command line flag 'workdir'"),
    ],
)
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(UsageError, match=match):
        config_lib.load_config(VAE, [override])


def test_a_value_after_a_bool_or_a_new_key_needs_the_equals_sign():
    with pytest.raises(UsageError, match=r"unexpected argument 'false'.*--config.KEY=VALUE"):
        config_lib.load_config(VAE, ["--config.train.progress", "false"])
    with pytest.raises(UsageError, match=r"unexpected argument '3'"):
        config_lib.load_config(VAE, ["--config.objective.new_field", "3"])
    with pytest.raises(UsageError, match=r"unexpected argument 'test'"):
        config_lib.load_config(VAE, ["--config.data.eval_split", "test"])  # its default is None


def test_free_sections_take_new_keys_and_none_defaults_take_literals():
    c = config_lib.load_config(
        "mnist_progan",
        [
            "--config.objective.batch_sizes.32=48",
            "--config.objective.lr_scales.16=0.5",
            "--config.data.data_dir=/tmp/tfds",
            "--config.data.eval_split=test[:10%]",
            "--config.sample.kwargs.sampler=ddim",
        ],
    )
    assert c.objective.batch_sizes.to_dict() == {"4": 128, "8": 128, "16": 128, "32": 48}
    assert c.objective.lr_scales.to_dict() == {"16": 0.5} and c.sample.kwargs.sampler == "ddim"
    assert c.data.data_dir == "/tmp/tfds" and c.data.eval_split == "test[:10%]"
    c = config_lib.load_config(
        "mnist_dcgan", ["--config.data.image_size=(12, 14)", "--config.objective.batch_sizes={'4': 8}"]
    )
    assert c.data.image_size == (12, 14) and c.objective.batch_sizes.to_dict() == {"4": 8}
    assert config_lib.from_json(config_lib.to_json(c)).data.image_size == (12, 14)


def test_unknown_key_in_a_config_file_is_named(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text(
        "from genjax.config import base_config\n"
        "def get_config(arg=None):\n"
        "    c = base_config()\n"
        "    c.train.learning_rate = 0.1\n"
        "    return c\n"
    )
    with pytest.raises(UsageError, match=r"unknown config key 'train.learning_rate'"):
        config_lib.load_config(str(f))
    f.write_text(f.read_text().replace("c.train.learning_rate = 0.1", "c.train.steps = 'many'"))
    with pytest.raises(UsageError, match=r"bad.py.*field 'steps'.*cannot be casted"):
        config_lib.load_config(str(f))
    f.write_text("def get_config(arg=None)\n")
    with pytest.raises(UsageError, match=r"bad.py.*SyntaxError"):
        config_lib.load_config(str(f))


def test_missing_file_name_and_variant():
    with pytest.raises(
        FileNotFoundError, match="does not exist; the packaged config is named without a path: digits_vae"
    ):
        config_lib.load_config("configs/digits_vae.py")
    with pytest.raises(UsageError, match=r"no packaged config 'nope' \(known: cifar10_ddpm, .*digits_vae"):
        config_lib.load_config("nope")
    with pytest.raises(UsageError, match=r"config 'digits_vae:huge': unknown variant 'huge'; known: iwae, runlocal$"):
        config_lib.load_config(VAE + ":huge")
    with pytest.raises(UsageError, match=r"config 'cifar10_ddpm:huge': unknown variant 'huge'; known: runlocal$"):
        config_lib.load_config("cifar10_ddpm:huge")
    with pytest.raises(UsageError, match=r"unknown variant 'runlocal'; known: none$"):
        config_lib.variants(config_lib.base_config(), "runlocal")


def test_packaged_configs_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "digits_vae" in config_lib.config_names() and "default" in config_lib.config_names()
    assert config_lib.load_config("digits_vae:runlocal").train.steps == 10
    assert config_lib.load_config("default").to_dict() == config_lib.load_config("digits_ddpm").to_dict()
    from genjax.configs import digits_vae

    assert digits_vae.__file__.startswith(genjax.__path__[0])


def test_a_config_file_with_variants(tmp_path):
    f = tmp_path / "my_config.py"
    f.write_text(
        "from genjax.config import variants\n"
        "from genjax.configs import digits_vae\n"
        "def get_config(arg=None):\n"
        "    c = digits_vae.get_config()\n"
        "    return variants(c, arg, small=lambda c: c.objective.update(hidden=(8,)), short=short)\n"
        "def short(c):\n"
        "    c.train.steps = 3\n"
    )
    c = config_lib.load_config(f"{f}:small,short", ["--config.train.log_every=1"])
    assert c.objective.hidden == (8,) and c.train.steps == 3 and c.train.log_every == 1
    assert config_lib.load_config(str(f)).objective.hidden == (512, 256)
    with pytest.raises(UsageError, match=r"unknown variant 'tiny'; known: short, small$"):
        config_lib.load_config(f"{f}:short,tiny")


def test_variants_apply_in_order():
    both = config_lib.load_config("ring8_gan:baseline,runlocal")
    assert both.objective.generator.to_dict() == {"width": 16, "depth": 2}  # runlocal's, after baseline's
    assert both.objective.z_dim == 2 and both.train.steps == 2 and both.data.batch_size == 8


def test_with_variant_appends_the_variant_last():
    assert config_lib.with_variant("ring8_gan", "runlocal") == "ring8_gan:runlocal"
    spec = config_lib.with_variant("ring8_gan:baseline", "runlocal")
    assert spec == "ring8_gan:baseline,runlocal"
    assert config_lib.load_config(spec).to_dict() == config_lib.load_config("ring8_gan:baseline,runlocal").to_dict()


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


@pytest.mark.parametrize("name", ["adam", "adamw", "lion", "sgd"])
@pytest.mark.parametrize("clip_norm", [0.0, 0.5])
def test_optimizers_are_optax_references(name, clip_norm):
    """Each optim.name builds optax's optimizer with the config's hyper-parameters, behind
    clip_by_global_norm only when clip_norm > 0 (0: no clipping)."""
    import jax.numpy as jnp
    import optax

    from genjax.train.optim import make_optimizer

    c = config_lib.optim_config()
    # The name as parsed from a command line: a new string object, not the interned literal.
    c.update(name="".join(list(name)), lr=0.1, b1=0.8, b2=0.9, eps=1e-6, weight_decay=0.3, clip_norm=clip_norm)
    reference = {
        "adam": optax.adam(0.1, b1=0.8, b2=0.9, eps=1e-6),
        "adamw": optax.adamw(0.1, b1=0.8, b2=0.9, eps=1e-6, weight_decay=0.3),
        "lion": optax.lion(0.1, b1=0.8, b2=0.9, weight_decay=0.3),
        "sgd": optax.sgd(0.1, momentum=0.8),
    }[name]
    if clip_norm:
        reference = optax.chain(optax.clip_by_global_norm(clip_norm), reference)
    params, grads = {"w": jnp.array([1.0, -2.0, 3.0])}, {"w": jnp.array([0.3, 2.0, -1.5])}
    updates = []
    for tx in (make_optimizer(c, 100), reference):
        state = tx.init(params)
        for _ in range(3):
            update, state = tx.update(grads, state, params)
        updates.append(update["w"])
    np.testing.assert_allclose(updates[0], updates[1], rtol=1e-6)


def test_a_schedule_without_warmup_starts_at_the_peak():
    from genjax.train.optim import lr_schedule

    c = config_lib.optim_config()
    c.lr, c.warmup_steps, c.schedule = 1.0, 0, "".join(list("linear"))  # as parsed: not an interned literal
    assert float(lr_schedule(c, 100)(0)) == pytest.approx(1.0)
    assert float(lr_schedule(c, 100)(50)) == pytest.approx(0.5)
    c.schedule = "".join(list("cosine"))
    assert float(lr_schedule(c, 100)(25)) == pytest.approx(0.5 * (1 + np.cos(np.pi / 4)))
