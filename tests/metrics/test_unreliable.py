"""Statistically meaningless metric values are flagged: a KID whose subsets all hold the same
examples (spread 0) and an FID from fewer examples than feature dimensions."""

import logging

import pytest

from genjax import data as data_lib
from genjax.config import load_config
from genjax.metrics import compute


@pytest.fixture(scope="module")
def digits():
    cfg = load_config("digits_vae").data
    return data_lib.load_metadata(cfg), data_lib.load_examples(cfg, 600, split="train")["x"]


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "genjax"]


def test_kid_with_no_spread_is_flagged_and_a_real_spread_is_not(digits, caplog):
    meta, x = digits
    with caplog.at_level(logging.WARNING, logger="genjax"):
        out = compute(["kid"], x[:16], x[16:32], metadata=meta, features="raw", kid_subset_size=16)
    assert out["kid_std"] < 1e-12 and any("kid_std is ~0" in m for m in _warnings(caplog))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genjax"):
        out = compute(["kid"], x[:200], x[200:400], metadata=meta, features="raw", kid_subset_size=16)
    assert out["kid_std"] > 0 and _warnings(caplog) == []


def test_fid_from_fewer_examples_than_dimensions_is_flagged(digits, caplog):
    meta, x = digits  # raw features of 16 x 16 digits: 256 dimensions
    with caplog.at_level(logging.WARNING, logger="genjax"):
        compute(["fid"], x[:100], x[100:200], metadata=meta, features="raw")
    assert any("fid from 100 examples of 256-dimensional features" in m for m in _warnings(caplog))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genjax"):
        compute(["fid"], x[:300], x[300:600], metadata=meta, features="raw")
    assert _warnings(caplog) == []
