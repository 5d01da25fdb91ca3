"""text:PATH sources: vocabularies, windows, splits, a resumable stream, and the refusals."""

import json
import pickle

import numpy as np
import pytest

from genjax.data import DataError, iterate_split, load_metadata, make_iterator
from genjax.data.sources import open_source, parse_source
from genjax.data.text import decode, encode
from genjax.testing import write_text_corpus


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENJAX_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def corpus(tmp_path):
    return write_text_corpus(tmp_path / "corpus", train_chars=600, val_chars=200)


def _cfg(cfg, source, seq_len=8, batch_size=4):
    cfg.update(source=source, seq_len=seq_len, batch_size=batch_size, eval_split="val")
    return cfg


def test_char_vocab_windows_and_metadata(cfg, corpus):
    train = (corpus / "train.txt").read_text()
    meta = load_metadata(_cfg(cfg, f"text:{corpus}"))
    assert meta.kind == "text" and meta.shape == (9,) and meta.vocab == "".join(sorted(set(train)))
    assert meta.vocab_size == len(meta.vocab) and meta.num_examples == len(train) - 8  # one window per offset
    source = open_source(cfg, "train")
    x = source.read(np.array([0, 5, len(train) - 9]))["x"]
    assert x.dtype == np.int32 and x.shape == (3, 9)
    for row, start in zip(x, (0, 5, len(train) - 9)):
        assert decode(row, meta.vocab) == train[start : start + 9]


def test_val_split_is_consecutive_windows_over_the_val_text(cfg, corpus):
    val = (corpus / "val.txt").read_text()
    _cfg(cfg, f"text:{corpus}", batch_size=5)
    vocab = load_metadata(cfg).vocab
    batches = list(iterate_split(cfg))
    windows = np.concatenate([b["x"][b["mask"] > 0] for b in batches])
    assert len(windows) == (len(val) - 1) // 8
    for i, w in enumerate(windows):  # stride seq_len: every character after the first is a target once
        assert decode(w, vocab) == val[8 * i : 8 * i + 9]


def test_byte_vocab_and_single_file_split(cfg, tmp_path):
    path = tmp_path / "one.txt"
    path.write_bytes("héllo wörld, ".encode() * 40)
    data = path.read_bytes()
    meta = load_metadata(_cfg(cfg, f"text:{path}?vocab=byte&val=0.25"))
    assert meta.vocab is None and meta.vocab_size == 256
    cut = round(len(data) * 0.75)
    while data[cut] & 0xC0 == 0x80:  # never inside a character
        cut += 1
    assert meta.num_examples == cut - 8
    np.testing.assert_array_equal(open_source(cfg, "val").read(np.array([0]))["x"][0], list(data[cut : cut + 9]))
    chars = load_metadata(_cfg(cfg, f"text:{path}?val=0.25"))  # characters of the first 75% only
    assert chars.vocab == "".join(sorted(set(data[:cut].decode())))


def test_relative_path_is_looked_up_under_data_dir(cfg, corpus):
    cfg.data_dir = str(corpus.parent)
    assert load_metadata(_cfg(cfg, f"text:{corpus.name}")).kind == "text"


def test_stream_is_random_windows_and_resumes_exactly(cfg, corpus):
    _cfg(cfg, f"text:{corpus}")
    train = (corpus / "train.txt").read_text()
    vocab = load_metadata(cfg).vocab
    it = make_iterator(cfg, seed=3)
    first = [next(it) for _ in range(3)]
    for row in first[0]["x"]:
        assert decode(row, vocab) in train
    assert len({decode(r, vocab) for b in first for r in b["x"]}) > 6  # shuffled offsets, not one window
    state = json.loads(json.dumps(it.get_state()))
    expected = [next(it)["x"] for _ in range(3)]
    resumed = make_iterator(cfg, seed=3)
    resumed.set_state(state)
    for want in expected:
        np.testing.assert_array_equal(next(resumed)["x"], want)
    other = make_iterator(cfg, seed=4)
    assert not np.array_equal(next(other)["x"], first[0]["x"])


def test_source_pickles_without_its_tokens(cfg, corpus):
    source = open_source(_cfg(cfg, f"text:{corpus}"), "train")
    want = source.read(np.arange(3))["x"]
    clone = pickle.loads(pickle.dumps(source))
    assert len(pickle.dumps(source)) < 2000
    np.testing.assert_array_equal(clone.read(np.arange(3))["x"], want)


def test_encode_refuses_unknown_characters():
    np.testing.assert_array_equal(encode("bca", "abc", "t"), [1, 2, 0])
    with pytest.raises(DataError, match=r"character 'z' \(line 2\)"):
        encode("ab\nz", "\nab", "t")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"text\0more", "looks binary"),
        (b"caf\xe9 au lait " * 20, r"not UTF-8 text \(byte 0xe9 at offset 3\)"),
        (b"too short", "fewer than one window"),
    ],
)
def test_bad_files_are_refused_naming_the_file(cfg, tmp_path, content, message):
    (tmp_path / "train.txt").write_bytes(content)
    (tmp_path / "val.txt").write_text("a" * 100)
    with pytest.raises(DataError, match=message) as e:
        load_metadata(_cfg(cfg, f"text:{tmp_path}", seq_len=16))
    assert "train.txt" in str(e.value)


def test_val_characters_outside_the_training_vocabulary_are_refused(cfg, corpus):
    (corpus / "val.txt").write_text("the king\n" * 5 + "Zounds!\n" + "the king\n" * 5)
    with pytest.raises(DataError, match=r"val.txt.*character 'Z' \(line 6\).*vocabulary"):
        load_metadata(_cfg(cfg, f"text:{corpus}"), "val")


def test_missing_path_says_how_to_point_at_a_file(cfg, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--config.data.source=text:PATH"):
        load_metadata(_cfg(cfg, f"text:{tmp_path / 'nowhere'}"))
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train.txt").write_text("abc" * 20)
    with pytest.raises(FileNotFoundError, match="has no val.txt"):
        load_metadata(_cfg(cfg, f"text:{tmp_path / 'half'}"))


def test_cache_is_refused(cfg, corpus):
    cfg.cache = True
    with pytest.raises(ValueError, match="data.cache=False"):
        make_iterator(_cfg(cfg, f"text:{corpus}"), seed=0)


@pytest.mark.parametrize("query", ["vocab=word", "val=1.5", "split=0.1"])
def test_bad_options_are_refused(query):
    with pytest.raises(ValueError, match="data.source text:"):
        parse_source(f"text:x.txt?{query}")
