"""Bits/dim evaluation: the dequantisation and unit conversion against a closed-form density, and
`genjax eval --metrics bits_per_dim` end to end on a trained 2D diffusion run (nats per example)."""

import json
import math
import types

import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

from genjax import data as data_lib
from genjax.cli import main
from genjax.config import load_config
from genjax.parallel import make_mesh
from genjax.testing import tiny
from genjax.train import run
from genjax.train.evaluate import evaluate_likelihood


def _fake_run(config, log_likelihood, discrete=False):
    objective = types.SimpleNamespace(log_likelihood=log_likelihood, likelihood_kind="exact", discrete=discrete)
    state = types.SimpleNamespace(sampling_params=lambda ema_index: {}, model_state={})
    return types.SimpleNamespace(
        objective=objective,
        config=config,
        metadata=data_lib.load_metadata(config.data),
        state=state,
        mesh=make_mesh(config.mesh),
        jitted={},
    )


def test_bits_per_dim_of_a_standard_normal_density():
    """log p = sum log N(x'; 0, 1) on dequantized x' = a + w u, a = -1 + w p, u ~ U(0, 1), w = 2/256
    (pixel p = 255 (x + 1) / 2): E_u[x'^2] = a^2 + a w + w^2 / 3, so E_u[-log p(x')] =
    sum (a^2 + a w + w^2/3)/2 + D/2 log(2 pi) and bpd = (that - D log w) / (D log 2), in batches
    (20 = 8 + 8 + 4); nll = bpd D log 2."""
    config = load_config("digits_ddpm")
    config.data.batch_size = 8
    fake = _fake_run(config, lambda p, s, b, k: jnp.sum(norm.logpdf(b["x"]).reshape(b["x"].shape[0], -1), axis=1))
    got = evaluate_likelihood(fake, 20, seed=0)
    x = data_lib.load_examples(config.data, 20, split=config.data.eval_split)["x"].astype(np.float64)
    d, w = x[0].size, 2.0 / 256
    a = -1 + w * np.round((x + 1) / 2 * 255)
    nll = np.sum((a**2 + a * w + w**2 / 3) / 2, axis=(1, 2, 3)) + d / 2 * math.log(2 * math.pi)
    bpd = (nll - d * math.log(w)) / (d * math.log(2))
    assert got["bits_per_dim"] == pytest.approx(bpd.mean(), rel=1e-5)
    assert got["bits_per_dim_stderr"] == pytest.approx(bpd.std() / math.sqrt(20), rel=1e-2)
    assert got["nll"] == pytest.approx(bpd.mean() * d * math.log(2), rel=1e-5)


@pytest.mark.parametrize("binarize", [False, True])
def test_dequantized_bound_is_tight_for_a_density_constant_on_bins(binarize):
    """A density p(x') = P(p) / w on the bin [lo + p w, lo + (p + 1) w) of each level p (w = 2/L)
    has E_u[log p(x')] + D log w = log P: bits/dim is -sum log2 P(p) / D exactly, with P(p) =
    (p + 1) / (L (L + 1) / 2) (L = 256, or 2 for binarized data)."""
    config = load_config("digits_ddpm")
    config.data.batch_size, config.data.binarize = 8, binarize
    levels = 2 if binarize else 256
    w = 2.0 / levels

    def log_density(p, s, b, k):
        level = jnp.clip(jnp.floor((b["x"] + 1) / w), 0, levels - 1)
        log_p = jnp.log((level + 1) / (levels * (levels + 1) / 2)) - jnp.log(w)
        return jnp.sum(log_p.reshape(log_p.shape[0], -1), axis=1)

    got = evaluate_likelihood(_fake_run(config, log_density), 20, seed=0)
    x = data_lib.load_examples(config.data, 20, split=config.data.eval_split)["x"].astype(np.float64)
    level = np.round((x + 1) / 2 * (levels - 1))
    bpd = -np.log2((level + 1) / (levels * (levels + 1) / 2)).reshape(20, -1).mean(axis=1)
    assert got["bits_per_dim"] == pytest.approx(bpd.mean(), rel=1e-5)


@pytest.mark.parametrize("binarize, dequantize", [(False, False), (False, True), (True, False)])
def test_discrete_model_is_scored_on_the_levels(binarize, dequantize):
    """A discrete model's log P(x) is not dequantized: bpd = nll / (D ln 2), and the model sees
    the levels exactly (the (L - 1)(x + 1) / 2 are integers), even where training data are
    dequantized (data.dequantize)."""
    config = load_config("digits_ddpm")
    config.data.batch_size, config.data.binarize, config.data.dequantize = 8, binarize, dequantize
    levels = 2 if binarize else 256

    def log_prob(p, s, b, k):  # -1 nat per pixel on the grid, much less off it
        grid = (b["x"] + 1) / 2 * (levels - 1)
        off = (jnp.abs(grid - jnp.round(grid)) > 0.01).reshape(grid.shape[0], -1).sum(axis=1)
        return -(b["x"][0].size + 1e3 * off)

    got = evaluate_likelihood(_fake_run(config, log_prob, discrete=True), 16, seed=0)
    assert got["bits_per_dim"] == pytest.approx(1 / math.log(2), rel=1e-6)
    assert got["nll"] == pytest.approx(16 * 16, rel=1e-6) and got["nll_stderr"] == pytest.approx(0, abs=1e-9)


def test_objective_without_likelihood_is_a_clear_error():
    config = load_config("digits_ddpm")
    fake = _fake_run(config, None)
    del fake.objective.log_likelihood
    with pytest.raises(ValueError, match="defines no log_likelihood"):
        evaluate_likelihood(fake, 4, seed=0)


def test_eval_cli_reports_nll_of_a_2d_diffusion_run(tmp_path, capsys):
    config = tiny(load_config("grid25_diffusion"))
    config.train.steps = 2
    config.objective.sample_steps = 8
    run(config, tmp_path)
    assert main(["eval", "--workdir", str(tmp_path), "--metrics", "bits_per_dim,mode_coverage", "--num", "16"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(record["nll"]) and record["nll_stderr"] > 0 and "modes" in record
    assert 0 <= record["nll_ode_err"] < 0.1  # the ODE's integration error estimate, nats per example


def test_samplers_and_likelihoods_are_compiled_once_per_run(tmp_path):
    """Sampling and scoring again (as every eval_every does) reuse the compiled program: the
    objective's sampler and likelihood are traced once per shape, however often they are called."""
    from genjax.train.build import build_run

    config = load_config(
        "digits_vae:runlocal",
        ["--config.sample.batch_size=4", "--config.data.binarize=True", "--config.objective.eval_k=4"],
    )
    r = build_run(config, tmp_path, restore=False, data=False)
    traces = {"sample": 0, "log_likelihood": 0}
    cls = type(r.objective)

    def counting(name):
        original = getattr(cls, name)

        def wrapped(self, *a, **kw):
            traces[name] += 1
            return original(self, *a, **kw)

        return wrapped

    with pytest.MonkeyPatch.context() as mp:
        for name in traces:
            mp.setattr(cls, name, counting(name))
        for seed in range(3):
            r.sample(10, seed=seed, ema_index=None)  # 3 chunks of 4 each
            evaluate_likelihood(r, 8, seed=seed, ema_index=None)
    assert traces == {"sample": 1, "log_likelihood": 1}


def test_chunked_sampling_and_scoring_show_progress_when_asked(tmp_path, capsys):
    from genjax.train.build import build_run

    config = load_config(
        "digits_vae:runlocal",
        ["--config.sample.batch_size=4", "--config.data.binarize=True", "--config.objective.eval_k=4"],
    )
    r = build_run(config, tmp_path, restore=False, data=False)
    r.sample(12, seed=0, ema_index=None)
    assert "sample" not in capsys.readouterr().err  # the training loop's default: no bars
    r.show_progress = True  # as `genjax sample` / `genjax eval` set it
    r.sample(12, seed=0, ema_index=None)
    evaluate_likelihood(r, 20, seed=0, ema_index=None)
    err = capsys.readouterr().err
    assert "sample:" in err and "/3 " in err and "score:" in err


def test_audio_under_a_discrete_model_is_reported_in_bits_per_sample(monkeypatch):
    """A discrete model of T-sample waveforms (WaveNet's mu-law levels) with log P(x) = -c sum_t
    |x_t| is reported as bits_per_dim = c sum|x| / (T ln 2), bits per sample, and nll in nats per
    sample, averaged over the eval examples (12 = 8 + 4)."""
    length = 16
    x = np.random.default_rng(0).uniform(-1, 1, (12, length, 1)).astype(np.float32)
    monkeypatch.setattr(data_lib, "load_examples", lambda data_cfg, num, split=None: {"x": x[:num]})
    config = load_config("digits_ddpm")
    config.data.batch_size = 8
    fake = _fake_run(config, lambda p, s, b, k: -3.0 * jnp.abs(b["x"]).sum(axis=(1, 2)), discrete=True)
    fake.metadata = types.SimpleNamespace(kind="audio", shape=(length, 1), bits=None, value_range=(-1.0, 1.0))
    got = evaluate_likelihood(fake, 12, seed=0)
    per_sample = 3.0 * np.abs(x.astype(np.float64)).sum(axis=(1, 2)) / length
    assert got["nll"] == pytest.approx(per_sample.mean(), rel=1e-5)
    assert got["bits_per_dim"] == pytest.approx(per_sample.mean() / math.log(2), rel=1e-5)
    assert got["bits_per_dim_stderr"] == pytest.approx(per_sample.std() / math.log(2) / math.sqrt(12), rel=1e-4)


def test_eval_cli_passes_likelihood_options(tmp_path, capsys):
    """`--likelihood-option k=K` sets the VAE's importance samples: L_64 is above the ELBO (k = 1)
    on the same examples, and the row records the option; an option the family does not take, a
    bad value, or options without a likelihood metric are clear errors."""
    config = load_config("digits_vae:runlocal", ["--config.data.binarize=True"])
    config.train.steps = 2
    run(config, tmp_path)
    args = ["eval", "--workdir", str(tmp_path), "--metrics", "nll", "--num", "8"]
    nll = {}
    for k in (1, 64):
        assert main([*args, "--likelihood-option", f"k={k}", "--likelihood-option", "chunk=16"]) == 0
        nll[k] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["nll"]
    assert nll[64] < nll[1] - 0.1, nll
    rows = [json.loads(line) for line in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [(r["likelihood_option/k"], r["likelihood_option/chunk"]) for r in rows] == [(1, 16), (64, 16)]
    for bad, message in (
        (["--likelihood-option", "samples=5"], "the 'vae' family's log_likelihood takes no option samples; it takes k, chunk"),
        (["--likelihood-option", "k=0"], "k must be an int >= 1"),
        (["--metrics", "latent_kl", "--likelihood-option", "k=5"], "apply to the metrics bits_per_dim and nll only"),
    ):  # fmt: skip
        assert main([*args, "--no-record", *bad]) != 0
        assert message in capsys.readouterr().err
