"""benchmarks/results.py end to end on runlocal variants, so the results table cannot rot."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from genjax import config as config_lib

ROOT = Path(__file__).resolve().parents[1]


def load_results():
    spec = importlib.util.spec_from_file_location("results_benchmark", ROOT / "benchmarks" / "results.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_row_names_a_packaged_config_and_known_samplers():
    """(Its variants are loaded by the next test.)"""
    from genjax.diffusion.samplers import SAMPLERS

    results = load_results()
    names = set(config_lib.config_names())
    for row in results.ROWS.values():
        assert row.config.split(":")[0] in names, row
        assert row.steps > 0
        for kwargs in row.samplers:
            assert kwargs.get("sampler", "ddpm") in SAMPLERS


def test_nfe_counts_heun_twice_per_step_but_the_last():
    results = load_results()
    assert results.nfe({"sampler": "ddim", "steps": 20}, None) == 20
    assert results.nfe({"sampler": "heun", "steps": 18}, None) == 35
    assert results.nfe({}, 50) == 50
    assert results.nfe({}, None) is None


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    from genjax.data.prepare import write_tfds

    data_dir = tmp_path_factory.mktemp("tfds")
    rng = np.random.default_rng(0)
    arrays = {
        s: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))
        for s, n in (("train", 32), ("test", 16))
    }
    write_tfds("mnist", arrays, data_dir=str(data_dir))
    return str(data_dir)


def test_pipeline_trains_scores_and_renders_on_runlocal(tmp_path, fake_mnist):
    results = load_results()
    docs = tmp_path / "docs"
    argv = ["--rows", "ddpm,dcgan", "--runlocal", "--num", "12", "--features", "raw"]
    argv += ["--root", str(tmp_path / "runs"), "--docs", str(docs), "--set", f"data.data_dir={fake_mnist}"]
    results.main(argv)

    rows = [json.loads(line) for line in (tmp_path / "runs" / "results.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rows] == ["ddpm"] * len(results.SAMPLER_SWEEP) + ["dcgan"]
    for r in rows:
        assert r["steps"] > 0 and r["train_seconds"] > 0 and r["num"] == 12
        assert np.isfinite(r["metrics"]["fid"]) and np.isfinite(r["floor"]["fid"])
        assert r["fid_over_floor"] == pytest.approx(r["metrics"]["fid"] / r["floor"]["fid"])
        assert 0 <= r["metrics"]["precision"] <= 1 and 0 <= r["metrics"]["recall"] <= 1
        assert (docs / r["grid"]).is_file()
        assert r["command"].startswith("genjax train --config ") and "runlocal" in r["config"]
    # The floor compares two real sets: it does not depend on the sampler.
    assert len({r["floor"]["fid"] for r in rows if r["row"] == "ddpm"}) == 1
    page = (docs / "results.md").read_text()
    assert page.count("| ddpm |") == len(results.SAMPLER_SWEEP) and "| dcgan |" in page
    assert all(f"({r['grid']})" in page for r in rows)

    # A second call resumes the trained workdirs (no new steps) and appends new rows.
    results.main(argv[:1] + ["dcgan"] + argv[2:])
    more = (tmp_path / "runs" / "results.jsonl").read_text().splitlines()
    assert len(more) == len(rows) + 1 and json.loads(more[-1])["steps"] == rows[-1]["steps"]


def test_every_row_loads_its_config_and_runlocal_variant():
    """Rows name a config or a config variant; the runlocal variant is appended to either."""
    results = load_results()
    assert results.spec(results.ROWS["hvae"], True) == "mnist_binarized_hvae:mlp,runlocal"
    assert results.spec(results.ROWS["dcgan"], True) == "mnist_dcgan:runlocal"
    for row in results.ROWS.values():
        for runlocal in (False, True):
            assert config_lib.load_config(results.spec(row, runlocal)).train.steps > 0
