"""Every registered objective against the capability protocols of genjax.objectives.base.

For each family: which capabilities it declares (an exact set: a family that gains or loses one
must say so here), and each declared capability exercised on a tiny config through the run
builder: a compiled train step, samples, a likelihood, an encode/decode round trip, label
sampling, the eval reference, and a plan's stage change in a real training run.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.config import load_config
from genjax.objectives import registered
from genjax.objectives.base import (
    Autoencoder,
    Conditional,
    LatentModel,
    LikelihoodModel,
    Objective,
    PairedDomains,
    Planned,
)
from genjax.testing import tiny, write_spoken_digits, write_text_corpus
from genjax.train import run
from genjax.train.build import build_run
from genjax.train.evaluate import evaluate_likelihood, sample
from genjax.train.loop import compile_stage, load_run

CAPABILITIES = (Planned, LikelihoodModel, Autoencoder, LatentModel, Conditional, PairedDomains)
DIGITS = ["data.source=builtin:digits", "data.split=train[:90%]", "data.eval_split=train[90%:]"]
# family -> (config, overrides, declared capabilities, likelihood options)
CASES = {
    "vae": ("digits_vae:runlocal", ["data.binarize=True"], {LikelihoodModel, Autoencoder, LatentModel}, {}),
    "diffusion": (
        "digits_ddpm:runlocal",
        ["objective.conditional=True"],
        {LikelihoodModel, Conditional},
        {"solver": "heun", "steps": 4},
    ),
    "vqvae": ("mnist_vqvae:runlocal", DIGITS, {Autoencoder}, {}),
    "hvae": ("mnist_binarized_hvae:runlocal", DIGITS, {LikelihoodModel, Autoencoder, LatentModel}, {}),
    "pixelcnn": ("mnist_binarized_pixelcnn:runlocal", DIGITS, {LikelihoodModel, Conditional}, {}),
    "gan": ("ring8_gan:runlocal", [], set(), {}),
    "progan": ("mnist_progan:runlocal", DIGITS, {Planned}, {}),
    "cyclegan": ("mnist_cyclegan:runlocal", DIGITS, {PairedDomains}, {}),
    # {corpus}: a small text folder written by the text_corpus fixture
    "autoregressive": ("shakespeare_char:runlocal", ["data.source=text:{corpus}"], {LikelihoodModel}, {}),
    # {audio}: a data dir with FSDD-like recordings written by the spoken_digits fixture
    "wavenet": ("spoken_digit_wavenet:runlocal", ["data.data_dir={audio}"], {LikelihoodModel, Conditional}, {}),
}


def test_every_registered_objective_has_a_case():
    assert set(CASES) == set(registered())


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory):
    return write_text_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def spoken_digits(tmp_path_factory):
    return write_spoken_digits(tmp_path_factory.mktemp("audio"))


def _config(family, corpus=None, audio=None):
    spec, overrides, _, _ = CASES[family]
    overrides = [o.format(corpus=corpus, audio=audio) for o in overrides]
    return tiny(load_config(spec, [*overrides, "optim.warmup_steps=0"]))  # the first step moves the params


@pytest.mark.parametrize("family", sorted(CASES))
def test_objective_conformance(family, tmp_path, text_corpus, spoken_digits):
    _, _, expected, ll_options = CASES[family]
    r = build_run(_config(family, text_corpus, spoken_digits), tmp_path)
    obj = r.objective
    assert isinstance(obj, Objective)
    assert {c for c in CAPABILITIES if isinstance(obj, c)} == expected

    # a compiled train step: finite losses for every player, params changed, step counted
    batch = r.next_batch()
    before = jax.device_get(r.state.params)
    state, metrics = compile_stage(r, r.enter_stage(r.stage))(r.state, batch)
    r.state = state
    assert int(state.step) == 1
    chex.assert_tree_all_finite(state.params)
    for player in obj.players:
        assert np.isfinite(float(metrics[f"loss/{player}"])), player
        moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), state.params[player], before[player])
        assert max(jax.tree.leaves(moved)) > 0, f"{player}'s params did not move"

    x = sample(r, 4, seed=0)
    chex.assert_shape(x, (4, *r.metadata.shape))
    chex.assert_tree_all_finite(x)

    params, data = r.state.sampling_params(0), jnp.asarray(batch["x"])
    if LikelihoodModel in expected:
        assert obj.likelihood_kind in ("exact", "bound", "estimate") and isinstance(obj.discrete, bool)
        result = evaluate_likelihood(r, 8, seed=0, **ll_options)
        assert np.isfinite(result["bits_per_dim"]) and result["bits_per_dim"] > 0
    if Autoencoder in expected:
        z = obj.encode(params, data, r.state.model_state)
        assert z.shape[0] == data.shape[0] and z.ndim >= 2
        chex.assert_equal_shape([obj.decode(params, z, r.state.model_state), data])
    if LatentModel in expected:
        kl, mean = obj.latent_stats(params, r.state.model_state, data, jax.random.PRNGKey(0))
        assert kl.shape == mean.shape and kl.shape[0] == data.shape[0] and kl.ndim == 2
        assert float(kl.min()) >= -1e-5
    if Conditional in expected:
        labels = np.asarray(obj.sample_labels(jax.random.PRNGKey(0), 64))
        assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() < obj.num_classes
        assert len(np.unique(labels)) > 1
        chex.assert_shape(sample(r, 2, seed=0, label=1), (2, *r.metadata.shape))
    if PairedDomains in expected:
        chex.assert_equal_shape([obj.eval_reference(data), data])


@pytest.mark.slow
def test_a_plan_changes_stage_in_training(tmp_path):
    """A Planned family trains into its second stage: the run resumes in stage 1 with that stage's
    objective and batch size."""
    config = _config("progan")
    plan = build_run(config, tmp_path / "probe", data=False).plan
    assert len(plan.stages) > 1
    config.train.steps = plan.stages[1].start + 1
    config.train.checkpoint_every = config.train.steps
    run(config, tmp_path / "run")
    r = load_run(tmp_path / "run")
    assert r.step == plan.stages[1].start + 1 and r.stage == 1
    assert r.objective == plan.stages[1].objective and r.batch_spec["x"].shape[0] == plan.stages[1].batch_size
