"""The autoregressive objective: token filters against brute force, the KV-cache sampler against
the full forward pass, the loss against PyTorch, and the CLI end to end on shakespeare_char."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from genjax.cli import main
from genjax.config import base_config
from genjax.data import load_examples, load_metadata
from genjax.data.text import decode
from genjax.objectives import make_objective
from genjax.objectives.decoding import generate, next_token, top_k_filter, top_p_filter
from genjax.testing import write_text_corpus
from genjax.train.loop import load_run


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))


def _np_top_k(logits, k):
    out = logits.copy()
    for row in out:
        if 0 < k < len(row):
            row[row < np.sort(row)[::-1][k - 1]] = -np.inf
    return out


def _np_top_p(logits, p):
    out = np.full_like(logits, -np.inf)
    for row, dst in zip(logits, out):
        probs = np.exp(row - row.max())
        probs /= probs.sum()
        total = 0.0
        for i in np.argsort(-row):  # most probable first, until the kept mass reaches p
            if total >= p:
                break
            dst[i] = row[i]
            total += probs[i]
    return out


@pytest.mark.parametrize("k", [0, 1, 3, 7, 10])
def test_top_k_matches_brute_force(k):
    logits = np.random.default_rng(k).normal(size=(5, 10)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(top_k_filter(jnp.asarray(logits), k)), _np_top_k(logits, k))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9, 0.999, 1.0])
def test_top_p_matches_brute_force(p):
    logits = (2 * np.random.default_rng(1).normal(size=(6, 12))).astype(np.float32)
    want = _np_top_p(logits, p) if p < 1 else logits
    np.testing.assert_array_equal(np.asarray(top_p_filter(jnp.asarray(logits), p)), want)


def test_draws_follow_the_filtered_tempered_distribution():
    logits = np.array([[2.0, 1.5, 1.0, 0.2, -1.0, 0.5]], np.float32)
    temperature, k, p = 0.7, 4, 0.8
    ref = _np_top_p(_np_top_k(logits / temperature, k), p)[0]
    probs = np.exp(ref - ref.max())
    probs /= probs.sum()
    n = 20_000
    draws = jax.vmap(lambda key: next_token(key, jnp.asarray(logits), temperature, k, p)[0])(
        jax.random.split(jax.random.PRNGKey(0), n)
    )
    freq = np.bincount(np.asarray(draws), minlength=6) / n
    assert set(np.flatnonzero(freq)) == set(np.flatnonzero(probs))
    np.testing.assert_allclose(freq, probs, atol=4 * np.sqrt(0.25 / n))


def test_temperature_to_zero_is_argmax():
    logits = jnp.asarray(np.random.default_rng(0).normal(size=(64, 20)), jnp.float32)
    argmax = np.asarray(jnp.argmax(logits, -1))
    np.testing.assert_array_equal(next_token(jax.random.PRNGKey(0), logits, 0.0, 0, 1.0), argmax)
    np.testing.assert_array_equal(next_token(jax.random.PRNGKey(1), logits, 1e-4, 0, 1.0), argmax)
    assert (np.asarray(next_token(jax.random.PRNGKey(1), logits, 1.0, 0, 1.0)) != argmax).any()


@pytest.fixture
def objective(tmp_path):
    c = base_config()
    corpus = write_text_corpus(tmp_path / "corpus", train_chars=400, val_chars=100)
    c.data.update(source=f"text:{corpus}", seq_len=12, eval_split="val")
    c.objective.update(name="autoregressive", num_layers=2, num_heads=2, dim=16)
    meta = load_metadata(c.data)
    obj = make_objective(c, meta)
    x = jnp.asarray(load_examples(c.data, 3)["x"])
    params = {"model": obj.init(jax.random.PRNGKey(0), {"x": x})["model"].params}
    return (
        obj,
        jax.tree.map(lambda p: p.unbox() if hasattr(p, "unbox") else p, params, is_leaf=lambda p: hasattr(p, "unbox")),
        x,
        meta,
    )


@pytest.mark.parametrize("prompt_len, temperature", [(1, 1.0), (4, 0.8), (6, 0.0)])
def test_cached_sampler_logits_equal_the_full_forward_pass(objective, prompt_len, temperature):
    obj, params, x, _ = objective
    step = lambda t, pos, cache: obj.net.apply({"params": params["model"]}, t, pos, cache)  # noqa: E731
    sampler = jax.jit(
        lambda key: generate(step, obj.net.init_cache(3), x[:, :prompt_len], 13, key, temperature=temperature, top_k=5)
    )
    tokens, logits = sampler(jax.random.PRNGKey(0))
    assert tokens.shape == (3, 13) and logits.shape == (3, 13 - prompt_len, obj.net.vocab_size)
    np.testing.assert_array_equal(tokens[:, :prompt_len], x[:, :prompt_len])
    full, _ = obj.net.apply({"params": params["model"]}, tokens[:, :-1])
    np.testing.assert_allclose(logits, full[:, prompt_len - 1 :], atol=1e-5, rtol=1e-5)
    if temperature == 0:
        np.testing.assert_array_equal(tokens[:, prompt_len:], jnp.argmax(logits, -1))


def test_loss_and_log_likelihood_match_pytorch_cross_entropy(objective):
    obj, params, x, _ = objective
    out = obj.loss("model", params, {}, {"x": x}, jax.random.PRNGKey(0), jnp.int32(0))
    logits, _ = obj.net.apply({"params": params["model"]}, x[:, :-1])
    ce = torch.nn.functional.cross_entropy(
        torch.tensor(np.asarray(logits)).permute(0, 2, 1), torch.tensor(np.asarray(x[:, 1:])).long(), reduction="none"
    )
    np.testing.assert_allclose(out.loss, ce.mean(1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(obj.log_likelihood(params, {}, {"x": x}, None), -ce.sum(1).numpy(), rtol=1e-5)
    assert obj.likelihood_kind == "exact" and obj.discrete


def test_sample_options(objective):
    obj, params, _, meta = objective
    tokens = obj.sample(params, {}, jax.random.PRNGKey(0), 2, prompt="KING:", length=9, top_p=0.9)
    assert tokens.shape == (2, 9) and tokens.dtype == jnp.int32
    assert [decode(t, meta.vocab)[:5] for t in np.asarray(tokens)] == ["KING:"] * 2
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, prompt="Zz")
    with pytest.raises(ValueError, match="length=14"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, length=14)
    with pytest.raises(ValueError, match="options"):
        obj.sample(params, {}, jax.random.PRNGKey(0), 2, beam=3)


def test_train_sample_and_eval_through_the_cli(tmp_path):
    """One step of shakespeare_char:runlocal on a small corpus; text samples; eval nll is the
    validation loss in nats per character, computed here from the objective's per-token loss."""
    corpus = write_text_corpus(tmp_path / "shakespeare", train_chars=2000, val_chars=700)
    workdir = tmp_path / "run"
    overrides = [f"--config.data.data_dir={tmp_path}", "--config.train.progress=false"]
    args = ["train", "--config", "shakespeare_char:runlocal", "--workdir", str(workdir), *overrides]
    assert main([*args, "--config.train.steps=1", "--config.train.sample_every=1", "--config.train.eval_every=1"]) == 0
    text = (workdir / "samples" / "step_00000001.txt").read_text()
    assert text.count("-" * 40) == 4
    assert main(["sample", "--workdir", str(workdir), "--num", "2", "--out", str(tmp_path / "s.txt"),
                 "--option", "prompt=KING:"]) == 0  # fmt: skip
    assert (tmp_path / "s.txt").read_text().startswith("KING:")
    assert main(["sample", "--workdir", str(workdir), "--num", "2", "--out", str(tmp_path / "s.png")]) == 2
    assert main(["sample", "--workdir", str(workdir), "--num", "2", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["x"].dtype == np.int32 and f["x"].shape == (2, 33)
    assert main(["eval", "--workdir", str(workdir), "--metrics", "nll", "--num", "8", "--no-ema"]) == 0
    result = json.loads((workdir / "eval.jsonl").read_text().splitlines()[-1])
    run = load_run(workdir)
    val = load_examples(run.config.data, 8, split="val")["x"]
    assert decode(val[1], run.metadata.vocab) == (corpus / "val.txt").read_text()[32:65]
    per_token = run.objective.loss("model", run.state.params, {}, {"x": jnp.asarray(val)}, None, 0).loss
    np.testing.assert_allclose(result["nll"], float(np.mean(per_token)), rtol=1e-5)
    np.testing.assert_allclose(result["bits_per_dim"], result["nll"] / np.log(2), rtol=1e-6)


def test_missing_corpus_says_how_to_point_at_a_text(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "shakespeare_char:runlocal", "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "text:shakespeare" in err and "--config.data.source=text:PATH" in err and "data.data_dir" in err


def test_dropout_in_the_loss_only(objective):
    obj, params, x, _ = objective
    obj = dataclasses.replace(obj, net=obj.net.clone(dropout=0.3))
    batch, step = {"x": x}, jnp.int32(0)
    clean = -obj.log_likelihood(params, {}, batch, None) / (x.shape[1] - 1)
    noisy = obj.loss("model", params, {}, batch, jax.random.PRNGKey(0), step).loss
    assert np.abs(noisy - clean).max() > 1e-4
    np.testing.assert_array_equal(noisy, obj.loss("model", params, {}, batch, jax.random.PRNGKey(0), step).loss)
    tokens = obj.sample(params, {}, jax.random.PRNGKey(0), 2, temperature=0.0)
    np.testing.assert_array_equal(tokens, obj.sample(params, {}, jax.random.PRNGKey(1), 2, temperature=0.0))


SHARDED_STEPS = """
import json, sys
import jax
from genjax.config import load_config
from genjax.testing import tiny
from genjax.train.build import build_run
from genjax.train.loop import compile_stage

corpus, workdir, *mesh = sys.argv[1:]
c = tiny(load_config("shakespeare_char:runlocal", [f"data.source=text:{corpus}", *mesh]))
c.sharding.min_fsdp_size = 1
r = build_run(c, workdir)
step = compile_stage(r, r.enter_stage(0))
losses = []
for _ in range(3):
    r.state, metrics = step(r.state, r.next_batch())
    losses.append(float(metrics["loss/model"]))
qkv = r.state.params["model"]["block_0"]["attn"]["qkv"]["kernel"]
print(json.dumps({"losses": losses, "qkv": [str(a) for a in qkv.sharding.spec]}))
"""


@pytest.mark.slow
def test_fsdp_and_tensor_parallel_steps_equal_one_device(tmp_path):
    """Three train steps on a 2 x 2 (fsdp x tensor) mesh of 4 CPU devices, the params sharded by
    their logical names, give the losses of one device (dropout included)."""
    import os
    import subprocess
    import sys

    corpus = write_text_corpus(tmp_path / "corpus")
    out = {}
    for devices, mesh in ((1, ["mesh.data=1"]), (4, ["mesh.data=1", "mesh.fsdp=2", "mesh.tensor=2"])):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
        proc = subprocess.run(
            [sys.executable, "-c", SHARDED_STEPS, str(corpus), str(tmp_path / f"run{devices}"), *mesh],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[devices] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out[4]["qkv"] == ["fsdp", "None", "tensor", "None"]
    np.testing.assert_allclose(out[4]["losses"], out[1]["losses"], rtol=1e-5)
    assert out[1]["losses"][2] != out[1]["losses"][0]
