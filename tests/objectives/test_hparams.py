"""Hyper-parameters declared once: from_config's checks and errors, and every family's defaults
equal to the defaults its factory used before they were declared as dataclasses."""

import dataclasses
import typing
from typing import Any

import ml_collections
import pytest

from genjax.diffusion import schedules
from genjax.objectives.cyclegan import CycleGANHParams
from genjax.objectives.diffusion import PROCESS_FIELDS, DiffusionHParams
from genjax.objectives.gan import GANHParams
from genjax.objectives.hparams import convert, from_config, hparam
from genjax.objectives.progan import ProGANHParams
from genjax.objectives.vae import VAEHParams


@dataclasses.dataclass(frozen=True)
class Example:
    steps: int = hparam(10, ge=1)
    rate: float = hparam(0.5, gt=0, le=1)
    mode: str = hparam("a", choices=("a", "b"))
    flag: bool = False
    widths: tuple[int, ...] = hparam((4, 8), ge=1)
    pair: tuple[str, float] = ("x", 1.0)
    net: dict[str, Any] = hparam({})
    seed: int | None = None
    policy: tuple[str, ...] = hparam((), choices=("color", "cutout"))


def build(**fields):
    return from_config(Example, ml_collections.ConfigDict({"name": "example", **fields}), "example")


def test_values_are_converted_and_defaults_fill_the_rest():
    hp = build(rate=1, widths=[2, 3], net={"inner": {"depth": 2}, "acts": ["relu"]}, seed=3, policy=["cutout"])
    assert hp == Example(
        rate=1.0, widths=(2, 3), net={"inner": {"depth": 2}, "acts": ["relu"]}, seed=3, policy=("cutout",)
    )
    assert type(hp.rate) is float and type(hp.net) is dict and type(hp.net["inner"]) is dict
    assert build() == Example() and build(seed=None).seed is None
    assert build().net is not Example().net  # a mutable default is copied per instance
    assert from_config(Example, {"pair": ("y", 2)}, "example").pair == ("y", 2.0)


def test_unknown_field_names_it_and_lists_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"config.objective has unknown field\(s\) \['step'\] for objective "
        r"'example'; known fields: \['flag', 'mode', 'net', 'pair', 'policy', "
        r"'rate', 'seed', 'steps', 'widths'\]",
    ):
        build(step=3)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("steps", 2.5, "config.objective.steps must be an int, got 2.5"),
        ("steps", True, "config.objective.steps must be an int, got True"),
        ("rate", "0.1", "config.objective.rate must be a number, got '0.1'"),
        ("flag", "yes", "config.objective.flag must be true or false, got 'yes'"),
        ("mode", 1, "config.objective.mode must be a string, got 1"),
        ("widths", 4, "config.objective.widths must be a tuple of ints, got 4"),
        ("widths", (4, "8"), r"config.objective.widths\[1\] must be an int, got '8'"),
        ("pair", ("x",), r"config.objective.pair must be a tuple \(a string, a number\), got \('x',\)"),
        ("net", 3, "config.objective.net must be a mapping, got 3"),
        ("seed", "s", "config.objective.seed must be an int or None, got 's'"),
    ],
)
def test_wrong_type_names_the_field_the_value_and_the_type(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        build(**{field: value})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("steps", 0, "config.objective.steps must be >= 1, got 0"),
        ("rate", 0.0, r"config.objective.rate must be in \(0, 1\], got 0.0"),
        ("rate", 1.5, r"config.objective.rate must be in \(0, 1\], got 1.5"),
        ("mode", "c", "config.objective.mode must be one of 'a', 'b', got 'c'"),
        ("widths", (4, 0), r"config.objective.widths\[1\] must be >= 1, got 0"),
        ("policy", ("color", "flip"), r"config.objective.policy\[1\] must be one of 'color', 'cutout', got 'flip'"),
    ],
)
def test_out_of_range_names_the_field_the_value_and_the_range(field, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        build(**{field: value})


@pytest.mark.parametrize(
    "bounds, value, text",
    [
        (dict(ge=0), -1, ">= 0"),
        (dict(gt=0), 0, "> 0"),
        (dict(le=1), 2, "<= 1"),
        (dict(lt=1), 1, "< 1"),
        (dict(ge=0, lt=1), 1, "in [0, 1)"),
        (dict(gt=-1, le=2.5), 3, "in (-1, 2.5]"),
    ],
)
def test_every_kind_of_bound_is_described(bounds, value, text):
    allowed = hparam(0.0, **bounds).metadata["hparam"]
    with pytest.raises(ValueError) as error:
        convert(value, float, "x", allowed)
    assert str(error.value) == f"x must be {text}, got {float(value)!r}"
    assert convert(0.5, float, "x", allowed) == 0.5


# The defaults of each factory before its hyper-parameters were declared as a dataclass.
OLD_DEFAULTS = {
    GANHParams: dict(
        loss="non_saturating",
        arch="mlp",
        z_dim=64,
        generator={},
        discriminator={},
        n_critic=1,
        pack=1,
        gp_weight=0.0,
        gp_target=1.0,
        r1_gamma=0.0,
        r2_gamma=0.0,
        r1_every=1,
        pl_weight=0.0,
        pl_every=4,
        pl_decay=0.01,
        diffaugment="",
        mixing_prob=0.0,
        conditional=False,
        rescale="none",
        topk_gamma=1.0,
        topk_min=0.5,
        topk_every=1000,
        num_discriminators=1,
        discriminator_choice="mean",
    ),
    ProGANHParams: dict(
        loss="wasserstein",
        z_dim=512,
        generator={},
        discriminator={},
        n_critic=1,
        gp_weight=10.0,
        gp_target=1.0,
        drift=0.001,
        fade_steps=50_000,
        stable_steps=50_000,
        batch_sizes={},
        lr_scales={},
        reset_optimizer=True,
    ),
    CycleGANHParams: dict(
        ch=32, n_blocks=2, d_ch=32, d_layers=2, lambda_cyc=10.0, lambda_id=5.0, pool_size=50, domain_b="invert"
    ),
    VAEHParams: dict(
        latent_dim=16,
        backbone="mlp",
        hidden=(512, 256),
        activation="relu",
        channels=(32, 64),
        num_blocks=1,
        likelihood="bernoulli",
        obs_std=0.1,
        num_logistic_mix=5,
        beta=1.0,
        kl_warmup_steps=0,
        free_bits=0.0,
        iwae_k=1,
        eval_k=1000,
        eval_chunk=100,
    ),
    DiffusionHParams: dict(
        process="ddpm",
        **dict.fromkeys(PROCESS_FIELDS),  # unset: the process's own defaults
        parameterization="eps",
        weighting="none",
        min_snr_gamma=5.0,
        sigma_data=0.5,
        backbone=None,
        net={},
        p_uncond=0.1,
        conditional=None,
        sampler="ddim",
        sample_steps=50,
        eta=None,
        guidance_scale=1.0,
        sampler_options={},
        latent_scale=1.0,
        likelihood_t_min=None,
        likelihood_rtol=1e-5,
        likelihood_atol=1e-5,
    ),
}


@pytest.mark.parametrize("cls", list(OLD_DEFAULTS), ids=lambda c: c.__name__)
def test_defaults_equal_the_old_defaults_and_pass_their_own_checks(cls):
    defaults = dataclasses.asdict(from_config(cls, {}, "family"))
    assert defaults == OLD_DEFAULTS[cls]
    assert [type(v) for v in defaults.values()] == [type(v) for v in OLD_DEFAULTS[cls].values()]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # each default is a value the field accepts
        assert convert(defaults[f.name], hints[f.name], f.name, f.metadata.get("hparam")) == defaults[f.name]


@pytest.mark.parametrize(
    "cls, fields, message",
    [
        (GANHParams, dict(pl_weight=1.0), "pl_weight and mixing_prob need a style-based arch"),
        (GANHParams, dict(arch="stylegan2", pl_weight=1.0, pack=2, conditional=True), "cannot be combined"),
        (GANHParams, dict(diffaugment="color,flip"), "comma-separated subset"),
        (GANHParams, dict(loss="bce"), "config.objective.loss must be one of 'minimax', 'non_saturating'"),
        (ProGANHParams, dict(stable_steps=0), "config.objective.stable_steps must be >= 1, got 0"),
        (CycleGANHParams, dict(domain_b="fashion"), "config.objective.domain_b must be one of 'invert', 'unpaired'"),
        (VAEHParams, dict(activation="swish"), "config.objective.activation must be one of 'relu'"),
        (VAEHParams, dict(obs_std=0.0), r"config.objective.obs_std must be > 0, got 0.0"),
        (DiffusionHParams, dict(p_uncond=1.0), r"config.objective.p_uncond must be in \[0, 1\), got 1.0"),
        (DiffusionHParams, dict(num_steps=0), "config.objective.num_steps must be >= 1, got 0"),
        (DiffusionHParams, dict(sampler="plms"), "config.objective.sampler must be one of 'ddpm', 'ddim'"),
    ],
)
def test_family_checks(cls, fields, message):
    with pytest.raises(ValueError, match=message):
        from_config(cls, fields, "family")


@pytest.mark.parametrize("process", sorted(schedules.PROCESSES))
def test_unset_process_fields_keep_the_process_defaults(process):
    hp = from_config(DiffusionHParams, {"process": process}, "diffusion")
    assert hp.make_process() == schedules.PROCESSES[process]()
    default = schedules.PROCESSES[process]()
    field = next(f.name for f in dataclasses.fields(default) if type(getattr(default, f.name)) in (int, float))
    changed = getattr(default, field) * 2
    hp = from_config(DiffusionHParams, {"process": process, field: changed}, "diffusion")
    assert getattr(hp.make_process(), field) == changed


@pytest.mark.parametrize(
    "family, field, value, bound",
    [("vae", "iwae_k", 0, ">= 1"), ("diffusion", "sigma_max", 0.0, "> 0"), ("diffusion", "sigma_max", -1.0, "> 0")],
)
def test_family_fields_refuse_values_outside_their_documented_range(family, field, value, bound):
    """iwae_k counts samples (at least one); sigma_max is a noise level (positive)."""
    from genjax.objectives.vae import VAEHParams

    cls = {"vae": VAEHParams, "diffusion": DiffusionHParams}[family]
    with pytest.raises(ValueError, match=f"config.objective.{field} must be {bound}"):
        from_config(cls, ml_collections.ConfigDict({"name": family, field: value}), family)


def test_importance_sampling_needs_a_sample():
    from genjax.objectives.iwae import importance_log_likelihood

    with pytest.raises(ValueError, match="k must be an int >= 1 .*, got 0"):
        importance_log_likelihood(lambda i: None, 0, 4, 2)
    with pytest.raises(ValueError, match="chunk must be an int >= 1 .*, got 0"):
        importance_log_likelihood(lambda i: None, 4, 0, 2)
    with pytest.raises(ValueError, match="k must be an int >= 1 .*, got 'many'"):
        importance_log_likelihood(lambda i: None, "many", 4, 2)
