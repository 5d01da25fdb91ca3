"""`unpaired:SRC_A|SRC_B`: each example is an A image and an unrelated B image on the channel
axis; every A image once, a random subset of B without repeats, errors for domains that don't fit."""

import numpy as np
import pytest

from genjax.data import load_examples, load_metadata


def _npz(path, n, offset, shape=(4, 5)):
    """n images whose every pixel is offset + index: each image is identifiable."""
    x = (offset + np.arange(n, dtype=np.uint8))[:, None, None] * np.ones(shape, np.uint8)
    np.savez(path, x=x, y=np.arange(n) % 3)
    return f"npz:{path}"


def test_unpaired_examples(cfg, tmp_path):
    a, b = _npz(tmp_path / "a.npz", 12, 0), _npz(tmp_path / "b.npz", 20, 100)
    cfg.source, cfg.value_range = f"unpaired:{a}|{b}", (0.0, 255.0)
    meta = load_metadata(cfg)
    assert (meta.kind, meta.shape, meta.num_classes, meta.num_examples) == ("image", (4, 5, 2), None, 12)
    ex = load_examples(cfg, 12, split="train")
    assert set(ex) == {"x"}
    ids_a = ex["x"][:, 0, 0, 0].round().astype(int)
    ids_b = ex["x"][:, 0, 0, 1].round().astype(int) - 100
    np.testing.assert_array_equal(ex["x"][..., 0], ids_a[:, None, None] * np.ones((4, 5)))  # whole images
    np.testing.assert_array_equal(ids_a, np.arange(12))  # A in order
    assert len(set(ids_b)) == 12 and set(ids_b) <= set(range(20))  # B: a subset, no repeats
    assert not np.array_equal(ids_b, np.arange(12))  # not aligned with A
    again = load_examples(cfg, 12, split="train")["x"]
    np.testing.assert_array_equal(again, ex["x"])  # a fixed pairing: resumption sees the same data


@pytest.mark.parametrize(
    "b_kind, match",
    [
        ("size", r"domain A's images are \(4, 5, 1\) and domain B's \(3, 5, 1\)"),
        ("points", "domain B holds points; unpaired data are images"),
        ("one", "expected two sources"),
        ("nested", "must be plain sources"),
    ],
)
def test_unpaired_errors(cfg, tmp_path, b_kind, match):
    a = _npz(tmp_path / "a.npz", 6, 0)
    if b_kind == "size":
        source = f"unpaired:{a}|{_npz(tmp_path / 'b.npz', 6, 0, shape=(3, 5))}"
    elif b_kind == "points":
        np.savez(tmp_path / "p.npz", x=np.ones((6, 2)))
        source = f"unpaired:{a}|npz:{tmp_path / 'p.npz'}"
    elif b_kind == "one":
        source = f"unpaired:{a}"
    else:
        source = f"unpaired:unpaired:{a}|{a}"
    cfg.source = source
    with pytest.raises(ValueError, match=match):
        load_metadata(cfg)
