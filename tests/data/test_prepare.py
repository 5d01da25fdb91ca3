"""`genjax data prepare`: checksums, idx parsing, and the real MNIST against its raw idx content."""

import gzip
import re
import numpy as np
import pytest

from genjax.config import data_config
from genjax.cli import main
from genjax.data import load_metadata, make_iterator
from genjax.data.prepare import CHECKSUMS, check_files, read_idx


def test_read_idx(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = b"\x00\x00\x08\x03" + np.asarray(a.shape, ">u4").tobytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(header + a.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + b"\x00\x00\x00\x01" + b"1234"))
    with pytest.raises(ValueError, match="not an idx file of unsigned bytes"):
        read_idx(tmp_path / "b.gz")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz is missing; download it from"):
        check_files("mnist", tmp_path)
    for name in CHECKSUMS["mnist"]:
        (tmp_path / name).write_bytes(b"not the real file")
    with pytest.raises(ValueError, match="fails the checksum"):
        check_files("mnist", tmp_path)
    with pytest.raises(ValueError, match="cannot prepare 'cifar10'"):
        check_files("cifar10", tmp_path)


def test_cli_reports_errors(tmp_path, capsys):
    assert main(["data", "prepare", "mnist", "--from", str(tmp_path), "--data-dir", str(tmp_path / "tfds")]) == 2
    err = capsys.readouterr().err  # one prefix naming the sub-command, not two
    assert re.search("^genjax data prepare: error: mnist: .*is missing", err) and err.count("genjax") == 1


def _write_idx(path, a):
    header = b"\x00\x00\x08" + bytes([a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + a.tobytes()))


def test_prepare_writes_the_idx_content_as_tfds(tmp_path, monkeypatch):
    """`genjax data prepare` end to end on small idx files of random content (their checksums
    stood in for the official ones): TFDS reads back the same (label, image) pairs. Runs without
    the raw files of ../shared, which the tests below need."""
    import tensorflow_datasets as tfds

    from genjax.data import prepare

    rng = np.random.default_rng(0)
    raw, sums, splits = tmp_path / "raw", {}, {}
    raw.mkdir()
    for split, (images_file, labels_file, _), n in zip(prepare.SPLITS, prepare.SPLITS.values(), (12, 5)):
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
        _write_idx(raw / images_file, images)
        _write_idx(raw / labels_file, labels)
        sums.update({f: prepare.sha256(raw / f) for f in (images_file, labels_file)})
        splits[split] = (images_file, labels_file, n, images, labels)
    monkeypatch.setitem(prepare.CHECKSUMS, "mnist", sums)
    monkeypatch.setattr(prepare, "SPLITS", {k: v[:3] for k, v in splits.items()})
    data_dir = tmp_path / "tfds"
    assert main(["data", "prepare", "mnist", "--from", str(raw), "--data-dir", str(data_dir)]) == 0
    for split, (*_, images, labels) in splits.items():
        ds = tfds.data_source("mnist", split=split, data_dir=str(data_dir))
        got = sorted((int(r["label"]), r["image"][..., 0].tobytes()) for r in (ds[i] for i in range(len(ds))))
        assert got == sorted((int(y), x.tobytes()) for x, y in zip(images, labels)), split


@pytest.mark.parametrize("required", ["1", None])
def test_missing_shared_data_skips_for_users_and_fails_in_ci(tmp_path, monkeypatch, shared_data, required):
    """A missing raw-data folder skips its tests, unless GENJAX_REQUIRE_SHARED_DATA=1 (set by CI):
    then they fail, naming the folder where the data is expected."""
    if required is None:
        monkeypatch.delenv("GENJAX_REQUIRE_SHARED_DATA", raising=False)
    else:
        monkeypatch.setenv("GENJAX_REQUIRE_SHARED_DATA", required)
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(outcome, match=f"raw MNIST idx files not found: expected the folder {tmp_path / 'mnist'}"):
        shared_data("mnist", "raw MNIST idx files", root=tmp_path)
    (tmp_path / "mnist").mkdir()
    assert shared_data("mnist", "raw MNIST idx files", root=tmp_path) == tmp_path / "mnist"


def test_fashion_mnist_checksums(shared_data):
    raw = shared_data("fashion_mnist", "raw Fashion-MNIST idx files")
    assert set(check_files("fashion_mnist", raw)) == set(CHECKSUMS["fashion_mnist"])


@pytest.mark.slow
def test_prepare_mnist_matches_idx(tmp_path, shared_data):
    raw = shared_data("mnist", "raw MNIST idx files")
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    assert main(["data", "prepare", "mnist", "--from", str(raw), "--data-dir", str(data_dir)]) == 0
    for split, prefix, n in (("train", "train", 60000), ("test", "t10k", 10000)):
        images = read_idx(raw / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(raw / f"{prefix}-labels-idx1-ubyte.gz")
        ds = tfds.data_source("mnist", split=split, data_dir=str(data_dir))
        assert len(ds) == n
        cfg = data_config()
        cfg.source, cfg.data_dir, cfg.split, cfg.cache = "tfds:mnist", str(data_dir), split, True
        cfg.value_range = (0.0, 255.0)
        assert load_metadata(cfg).num_examples == n
        from genjax.data.pipeline import cache_part
        from genjax.data.sources import open_source

        part = cache_part(open_source(cfg, split), 0, n)  # every record, decoded
        assert part.x.shape == (n, 28, 28, 1) and part.x.dtype == np.uint8
        rec = ds[7]
        np.testing.assert_array_equal(part.x[7], rec["image"])
        assert part.y[7] == rec["label"]
        # The same multiset of (label, image) as the idx files; TFDS stores records in hashed order.
        row = lambda x, y: np.concatenate([y.astype(np.uint8)[:, None], x.reshape(n, -1)], axis=1)
        void = np.dtype((np.void, 785))
        got = np.sort(np.ascontiguousarray(row(part.x, part.y)).view(void).ravel())
        want = np.sort(np.ascontiguousarray(row(images, labels)).view(void).ravel())
        assert np.array_equal(got, want)
    # TFDS's own first training example of MNIST is a 4.
    assert ds is not None and tfds.data_source("mnist", split="train", data_dir=str(data_dir))[0]["label"] == 4
    batch = next(make_iterator(cfg, seed=0))
    assert batch["x"].shape == (128, 28, 28, 1)
