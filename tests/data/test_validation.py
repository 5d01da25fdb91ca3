"""Bad data is refused with an error naming the file, array, row and fix: non-finite or
non-numeric values, labels outside int32 or far beyond the classes, truncated images, and a
tampered data-iterator state. Each case was accepted silently before these checks."""

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from genjax.cli import main
from genjax.data import DataError, load_metadata, make_iterator
from genjax.errors import UsageError


def _npz(tmp_path, **arrays) -> str:
    np.savez(tmp_path / "bad.npz", **arrays)
    return f"npz:{tmp_path / 'bad.npz'}"


def test_data_errors_are_usage_errors():
    assert issubclass(DataError, UsageError) and issubclass(DataError, ValueError)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_images_must_be_finite(cfg, tmp_path, bad):
    x = np.full((6, 4, 4), 0.5, np.float32)
    x[3, 1, 2] = bad
    cfg.source = _npz(tmp_path, x=x)
    with pytest.raises(DataError, match=rf"bad.npz: array 'x' holds {bad} at row 3, index \(3, 1, 2\).*finite"):
        load_metadata(cfg)


def test_all_nan_images_are_refused_not_crashed_on(cfg, tmp_path):
    cfg.source = _npz(tmp_path, x=np.full((4, 3, 3), np.nan))
    with pytest.raises(
        DataError, match=r"holds nan at row 0, index \(0, 0, 0\), not a finite float32 number \(36 such values in all\)"
    ):
        load_metadata(cfg)


def test_float_images_out_of_range_name_the_row(cfg, tmp_path):
    x = np.full((5, 3, 3), 0.5)
    x[2, 0, 1] = 1.5
    cfg.source = _npz(tmp_path, x=x)
    with pytest.raises(DataError, match=r"array 'x' holds 1.5 at row 2, index \(2, 0, 1\), outside \[0, 1\]"):
        load_metadata(cfg)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]]), r"holds nan at row 1, index \(1, 0\)"),
        (np.array([[0.0, 1.0], [2.0, -np.inf]]), r"holds -inf at row 1, index \(1, 1\)"),
        (np.array([[0.0, 1e300], [1.0, 2.0]]), r"holds 1e\+300 at row 0, index \(0, 1\).*float32"),
        (np.array([["1.0", "2"], ["3", "4"]]), r"holds <U3 values \(strings\).*real numbers"),
        (np.array([[1 + 2j, 0], [0, 1]]), r"holds complex128 values \(complex numbers\)"),
        (np.array([[True, False], [False, True]]), r"holds bool values \(booleans\)"),
    ],
)
def test_points_must_be_finite_real_numbers(cfg, tmp_path, x, match):
    cfg.source = _npz(tmp_path, x=x)
    with pytest.raises(DataError, match=match):
        load_metadata(cfg)


@pytest.mark.parametrize(
    "source, error, match",
    [
        ("builtin:ring8?std=nan", ValueError, r"parameter std='nan' is not a finite number"),
        ("builtin:grid25?spacing=inf", ValueError, r"parameter spacing='inf' is not a finite number"),
        ("builtin:moons?noise=-1", ValueError, r"parameter noise=-1 is out of range"),
        (
            "builtin:ring8?std=1e39&n=10&n_test=10",
            DataError,
            r"array 'x' holds -?[\d.]+e\+3[89] at row \d+, index \(\d+, \d\), not a finite float32",
        ),
    ],
)
def test_builtin_parameters_must_give_finite_points(cfg, source, error, match):
    cfg.source = source
    with pytest.raises(error, match=match):
        load_metadata(cfg)


def test_object_arrays_name_the_file(cfg, tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([[1.0, None]], dtype=object))
    cfg.source = f"npz:{tmp_path / 'obj.npz'}"
    with pytest.raises(DataError, match=r"obj.npz: cannot read the arrays.*object arrays"):
        load_metadata(cfg)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0, 1, 2**31, 1], np.int64), r"array 'y' holds label 2147483648 at row 2, outside \[0, 2147483647\]"),
        (np.array([0, 1, 2, 2**63], np.uint64), r"label 9223372036854775808 at row 3"),
        (np.array([0, -4, 1, 1]), r"label -4 at row 1"),
        (np.array([0.0, 1.0, 1.0, 0.0]), r"'y' must hold integer labels of shape \[4\], got float64 \(4,\)"),
    ],
)
def test_labels_are_int32_range_integers_checked_before_the_cast(cfg, tmp_path, y, match):
    cfg.source = _npz(tmp_path, x=np.zeros((4, 2)), y=y)
    with pytest.raises(DataError, match=match):
        load_metadata(cfg)


def test_one_huge_label_does_not_make_millions_of_classes(cfg, tmp_path):
    """A label of 10^7 among 0..2 would build a 10,000,001-class model."""
    cfg.source = _npz(tmp_path, x=np.zeros((6, 2)), y=np.array([0, 1, 2, 10**7, 1, 0]))
    with pytest.raises(
        DataError, match=r"label 10000000 at row 3, which makes 10000001 classes, but only 4 distinct.*num_classes="
    ):
        load_metadata(cfg)


def test_sparse_labels_within_the_floor_or_twice_the_distinct_count_are_accepted(cfg, tmp_path):
    cfg.source = _npz(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 5, 15]))  # 16 classes <= the floor
    assert load_metadata(cfg).num_classes == 16
    y = np.arange(20) * 2  # 39 classes, 20 distinct labels: under twice
    cfg.source = _npz(tmp_path, x=np.zeros((20, 2)), y=y)
    assert load_metadata(cfg).num_classes == 39


def test_declared_num_classes(cfg, tmp_path):
    """An npz `num_classes` declares the classes: sparse labels are then fine, labels past it are not."""
    cfg.source = _npz(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 40, 999]), num_classes=1000)
    assert load_metadata(cfg).num_classes == 1000
    cfg.source = _npz(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 10, 3]), num_classes=10)
    with pytest.raises(DataError, match=r"holds label 10 at row 1, not below num_classes=10 that the source declares"):
        load_metadata(cfg)
    for bad in (0, 2.5, np.array([3, 4])):
        cfg.source = _npz(tmp_path, x=np.zeros((3, 2)), y=np.array([0, 1, 2]), num_classes=bad)
        with pytest.raises(DataError, match=r"'num_classes' must be one integer >= 1"):
            load_metadata(cfg)
    cfg.source = _npz(tmp_path, x=np.zeros((3, 2)), num_classes=3)
    with pytest.raises(DataError, match=r"'num_classes' but no labels 'y'"):
        load_metadata(cfg)


def _png(image: np.ndarray, raw: bytes, interlace: int = 0) -> bytes:
    """A well-formed PNG (signature, IHDR, IDAT, IEND, valid CRCs) of the grey `image`'s size whose
    IDAT holds `raw` (filter byte + row, per row): Pillow decodes it without complaint however
    few rows `raw` holds, zero-filling the rest."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", image.shape[1], image.shape[0], 8, 0, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _png_with_rows(image: np.ndarray, rows: int) -> bytes:
    return _png(image, b"".join(b"\x00" + image[r].tobytes() for r in range(rows)))


def test_png_shortfall_measures_every_colour_type_and_interlacing():
    from genjax.data.image_files import png_shortfall

    rng = np.random.default_rng(0)
    grey = [Image.fromarray(rng.integers(0, 256, (5, 13), dtype=np.uint8)).convert(m) for m in ("1", "L", "LA", "P")]
    colour = [Image.fromarray(rng.integers(0, 256, (4, 3, c), dtype=np.uint8)) for c in (3, 4)]
    for im in [*grey, *colour, Image.fromarray(rng.integers(0, 2**16, (3, 5), dtype=np.uint16))]:  # 16-bit grey
        buf = io.BytesIO()
        im.save(buf, "PNG")
        assert png_shortfall(buf.getvalue()) is None, im.mode
    image = rng.integers(0, 256, (7, 5), dtype=np.uint8)
    passes = [image[y0::dy, x0::dx] for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4)]]
    passes += [image[y0::dy, x0::dx] for x0, y0, dx, dy in [(0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]]
    raw = b"".join(b"\x00" + row.tobytes() for p in passes if p.size for row in p)
    with Image.open(io.BytesIO(_png(image, raw, interlace=1))) as im:  # Adam7 as Pillow reads it
        np.testing.assert_array_equal(np.asarray(im), image)
    assert png_shortfall(_png(image, raw, interlace=1)) is None
    assert "holds 48 of the 49 bytes its 5x7 header" in png_shortfall(_png(image, raw[:-1], interlace=1))


def test_truncated_png_is_refused_naming_the_file(cfg, tmp_path):
    image = np.random.default_rng(0).integers(1, 256, (16, 16), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    Image.fromarray(image).save(tmp_path / "a" / "whole.png")
    (tmp_path / "a" / "cut.png").write_bytes(_png_with_rows(image, 1))
    with Image.open(tmp_path / "a" / "cut.png") as im:  # what the check guards against
        assert (np.asarray(im)[1:] == 0).all()
    cfg.source = f"folder:{tmp_path}"
    with pytest.raises(DataError, match=r"cut.png is truncated: its pixel data holds 17 of the 272 bytes.*16x16"):
        load_metadata(cfg)
    (tmp_path / "a" / "cut.png").write_bytes(_png_with_rows(image, 16))
    assert load_metadata(cfg).num_examples == 2


def test_files_cut_short_are_refused_even_if_pillow_is_told_to_load_truncated_images(cfg, tmp_path, monkeypatch):
    from PIL import ImageFile

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as TFDS's image utilities set it
    cfg.source = f"folder:{tmp_path}"
    with pytest.raises(DataError, match=r"cannot read image .*cut.jpg: image file is truncated"):
        load_metadata(cfg)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_tfds_labels_are_checked_per_batch_against_the_declared_classes(tiny_mnist):
    import dataclasses

    from genjax.data.tfds_source import TfdsSource

    source = TfdsSource("mnist", "train", tiny_mnist[0])
    labels = source.read(np.arange(30))["y"]
    source.info = dataclasses.replace(source.info, num_classes=2)  # labels 2..9 are now out of range
    first = int(np.argmax(labels >= 2))
    match = (
        rf"tfds:mnist split 'train': array 'label' holds label {labels[first]} at row {first}, not below num_classes=2"
    )
    with pytest.raises(DataError, match=match):
        source.read(np.arange(30))


def _state_error(cfg, state, match, **kw):
    with pytest.raises(DataError, match=r"the saved data-iterator state .*is invalid: " + match):
        make_iterator(cfg, seed=0).set_state(state, **kw)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(next_batch=-1), r"next_batch must be an int in \[0, \d+\), got -1"),
        (dict(next_batch=2.5), r"next_batch must be an int .*got 2.5"),
        (dict(next_batch="3"), r"next_batch must be an int .*got '3'"),
        (dict(next_batch=True), r"next_batch must be an int .*got True"),
        (dict(next_batch=2**62), r"next_batch must be an int in \[0, \d+\), got 4611686018427387904"),
        (dict(next_batch=None), r"next_batch must be an int"),
        (dict(version=2), r"version must be 1, got 2"),
        (dict(position=3), r"unexpected keys \['position'\]"),
    ],
)
def test_tampered_iterator_state_is_refused(cfg, change, match):
    state = {**make_iterator(cfg, seed=0).get_state(), **change}
    _state_error(cfg, state, match)


def test_iterator_state_must_be_an_object_with_a_position(cfg):
    _state_error(cfg, [1, 2], r"expected a JSON object")
    state = make_iterator(cfg, seed=0).get_state()
    del state["next_batch"]
    _state_error(cfg, state, r"missing keys \['next_batch'\]")


def test_fingerprint_values_compare_with_their_types(cfg):
    state = {**make_iterator(cfg, seed=0).get_state(), "seed": "0"}
    with pytest.raises(DataError, match=r"different input stream \(seed: saved '0', now 0\)"):
        make_iterator(cfg, seed=0).set_state(state)


def test_iterator_position_must_match_the_steps_the_checkpoint_trained(cfg):
    it = make_iterator(cfg, seed=0)
    next(it), next(it)
    state = json.loads(json.dumps(it.get_state()))
    make_iterator(cfg, seed=0).set_state(state, step=2)
    _state_error(
        cfg,
        state,
        r"next_batch=2, but the checkpoint was saved after 5 train steps on this stream \(one batch each\), so next_batch must be 5",
        step=5,
    )


def test_cli_train_on_nan_data_exits_2_naming_the_array(cfg, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GENJAX_DEBUG", raising=False)
    x = np.full((32, 8, 8), 0.5, np.float32)
    x[7, 0, 0] = np.nan
    source = _npz(tmp_path, x=x)
    args = ["train", "--config", "digits_vae:runlocal", "--workdir", str(tmp_path / "run")]
    assert main([*args, f"--config.data.source={source}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genjax train: error: data.source npz:") and err.count("\n") == 1, err
    assert "array 'x' holds nan at row 7" in err and "Traceback" not in err
