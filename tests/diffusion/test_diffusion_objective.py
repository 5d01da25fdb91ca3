"""The diffusion objective: config errors, a tiny model overfits one batch, guidance scale 1 is
the conditional model, every sampler runs through `sample`, and the configs train one step."""

import dataclasses
import importlib

import numpy as np
import optax
import pytest
from ml_collections import ConfigDict

import jax
import jax.numpy as jnp

from genjax.data.metadata import DatasetMetadata
from genjax.diffusion import samplers
from genjax.objectives import make_objective
from genjax.objectives.diffusion import Diffusion

POINTS = DatasetMetadata("builtin:grid25", "points", (2,), None, (-4.5, 4.5), 1000)
LABELED = DatasetMetadata("builtin:ring8", "points", (2,), 3, (-2.0, 2.0), 100)


def _objective(metadata, **fields):
    return make_objective(ConfigDict({"objective": {"name": "diffusion", **fields}}), metadata)


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(proces="ddpm"), "proces"),
        (dict(parameterization="score"), "parameterization"),
        (dict(weighting="p2"), "weighting"),
        (dict(process="edm", schedule="cosine"), "schedule"),
        (dict(backbone="mlp", net=dict(width=3)), "width"),
        (dict(sampler="plms"), "plms"),
        (dict(p_uncond=1.0), "p_uncond"),
    ],
)
def test_config_errors_name_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        _objective(POINTS, **fields)


@pytest.mark.parametrize("param, process", [("eps", "ddpm"), ("v", "vp"), ("edm", "edm")])
def test_tiny_model_overfits_one_batch(param, process):
    obj = _objective(
        POINTS,
        process=process,
        parameterization=param,
        backbone="mlp",
        net=dict(hidden=64, depth=2),
        weighting="edm" if param == "edm" else "none",
    )
    batch = {"x": jax.random.normal(jax.random.key(0), (16, 2))}
    params = {"model": obj.init(jax.random.key(1), batch)["model"].params}
    tx = optax.adam(3e-3)
    # a fixed key: the same noise and times every step, so the batch can be fitted exactly
    loss = lambda p: obj.loss("model", p, {}, batch, jax.random.key(2), 0).loss.mean()

    @jax.jit
    def run(p):
        def body(carry, _):
            p, s = carry
            value, g = jax.value_and_grad(loss)(p)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), value

        return jax.lax.scan(body, (p, tx.init(p)), None, length=400)

    (_, _), values = run(params)
    assert values[-1] < 0.02 * values[0], (values[0], values[-1])


def test_guidance_scale_one_equals_conditional_and_all_samplers_run():
    obj = _objective(LABELED, backbone="mlp", net=dict(hidden=32, depth=1), p_uncond=0.2)
    batch = {"x": jnp.zeros((2, 2)), "y": jnp.zeros((2,), jnp.int32)}
    params = {"model": obj.init(jax.random.key(0), batch)["model"].params}
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(tree, [p + 0.5 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    labels = jnp.array([1, 2])
    y = jax.random.normal(jax.random.key(2), (2, 2))
    d = jax.jit(lambda y, w: obj.denoiser(params, labels, w)(y, 500.0), static_argnums=1)
    # the conditional eps-model by hand: x_t = alpha y, x0 = (x_t - sigma eps(x_t, t, label)) / alpha
    alpha, sigma = obj.process.alpha_sigma(jnp.float32(500.0))
    eps = obj.net.apply({"params": params["model"]}, alpha * y, jnp.full((2,), 500.0), labels)
    cond = (alpha * y - sigma * eps) / alpha
    np.testing.assert_allclose(d(y, 1.0), cond, rtol=1e-4, atol=1e-5)
    assert not np.allclose(d(y, 3.0), cond, atol=1e-4)

    def by_hand(y, t):  # Ho & Salimans 2022: D(y | null) + w (D(y | 1) - D(y | null)), w = 2, null class 3
        alpha, sigma = obj.process.alpha_sigma(jnp.float32(t))
        t_b = jnp.full((y.shape[0],), t, jnp.float32)
        x0 = [
            (alpha * y - sigma * obj.net.apply({"params": params["model"]}, alpha * y, t_b, jnp.full((2,), c))) / alpha
            for c in (1, 3)
        ]
        return x0[1] + 2.0 * (x0[0] - x0[1])

    for sampler in ("ddpm", "ddim", "dpmpp_2m", "euler", "heun"):
        x = jax.jit(lambda p, k: obj.sample(p, {}, k, 2, sampler=sampler, steps=3, guidance_scale=2.0, label=1))(
            params, jax.random.key(0)
        )
        # the sampler's own run on the guided denoiser written above, with the key's second half
        # (the first draws labels)
        rng = jax.random.split(jax.random.key(0))[1]
        want = jax.jit(lambda k: samplers.sample(sampler, by_hand, obj.process, k, (2, 2), 3))(rng)
        np.testing.assert_allclose(x, want, rtol=1e-4, atol=1e-4, err_msg=sampler)
    with pytest.raises(ValueError, match="label"):
        obj.sample(params, {}, jax.random.key(0), 2, label=3)


CONFIGS = ["digits_ddpm", "mnist_ddpm", "fashion_mnist_edm", "mnist_dit", "grid25_diffusion", "cifar10_ddpm"]


def _load(name):
    return importlib.import_module(f"genjax.configs.{name}").get_config


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_build_their_objective(name):
    from genjax.config import validate

    config = _load(name)()
    validate(config)
    shapes = {
        "digits_ddpm": (16, 16, 1),
        "mnist_ddpm": (28, 28, 1),
        "fashion_mnist_edm": (28, 28, 1),
        "mnist_dit": (28, 28, 1),
        "grid25_diffusion": (2,),
        "cifar10_ddpm": (32, 32, 3),
    }
    md = DatasetMetadata(
        name,
        "points" if name.startswith("grid") else "image",
        shapes[name],
        None if name.startswith("grid") else 10,
        (-1.0, 1.0),
        100,
    )
    obj = make_objective(config, md)
    batch = {"x": jnp.zeros((1, *shapes[name])), "y": jnp.zeros((1,), jnp.int32)}
    variables = jax.eval_shape(lambda: obj.init(jax.random.key(0), batch))
    n = sum(x.size for x in jax.tree.leaves(variables))
    if name == "cifar10_ddpm":
        assert n == 35_746_307


def test_options_that_cannot_apply_are_errors():
    obj = _objective(POINTS, sample_steps=3)
    params = {"model": obj.init(jax.random.key(0), {"x": jnp.zeros((2, 2))})["model"].params}
    key = jax.random.key(0)
    for kwargs, match in (
        (dict(label=1), "apply to class-conditional models; this one is unconditional"),
        (dict(guidance_scale=2.0), "apply to class-conditional models"),
        (dict(sampler="euler", eta=0.5), "eta applies to the ddim sampler only, not to 'euler'"),
    ):
        with pytest.raises(ValueError, match=match):
            obj.sample(params, {}, key, 2, **kwargs)
    assert obj.sample(params, {}, key, 2, sampler="ddim", eta=0.5).shape == (2, 2)


def test_every_label_samples_and_the_configured_eta_is_ddims_only():
    eta = "".join(["e", "t", "a"])  # a key read from a config file, not an interned literal
    obj = _objective(LABELED, backbone="mlp", net=dict(hidden=8, depth=1), sample_steps=2, sampler_options={eta: 1.0})
    batch = {"x": jnp.zeros((2, 2)), "y": jnp.zeros((2,), jnp.int32)}
    params = {"model": obj.init(jax.random.key(0), batch)["model"].params}
    key = jax.random.key(0)
    for label in range(LABELED.num_classes):
        assert obj.sample(params, {}, key, 2, label=label).shape == (2, 2)
    for label in (-1, LABELED.num_classes):
        with pytest.raises(ValueError, match=f"label={label} is outside"):
            obj.sample(params, {}, key, 2, label=label)
    assert obj.sample(params, {}, key, 2, sampler="euler").shape == (2, 2)  # the config's eta is not euler's
    configured = obj.sample(params, {}, key, 2, sampler="ddim")
    np.testing.assert_allclose(configured, obj.sample(params, {}, key, 2, sampler="ddim", eta=1.0))
    assert not np.allclose(configured, obj.sample(params, {}, key, 2, sampler="ddim", eta=0.0))


def test_the_objective_is_immutable():
    """Objectives are static arguments of compiled functions: their fields cannot change."""
    obj = _objective(POINTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.sample_steps = 3


def test_a_diffusion_built_in_python_has_the_configs_defaults():
    """Diffusion(...) written by hand (genjax.fit, notebooks) behaves like a config that sets
    nothing: every field both declare has the same default. (`schedule` names different things:
    the players' update schedule here, the noise schedule in the config.)"""
    from genjax.objectives.diffusion import DiffusionHParams

    config = {f.name: f.default for f in dataclasses.fields(DiffusionHParams)}
    shared = [
        f.name
        for f in dataclasses.fields(Diffusion)
        if f.name in config and f.name != "schedule" and dataclasses.MISSING not in (f.default, config[f.name])
    ]
    assert {"likelihood_rtol", "likelihood_atol", "guidance_scale", "p_uncond", "sample_steps"} <= set(shared)
    for name in shared:
        assert getattr(Diffusion, name) == config[name], name
