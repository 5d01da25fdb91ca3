"""Text sources for language models: `text:PATH[?vocab=char|byte&val=FRACTION]`.

PATH is a folder holding `train.txt` and `val.txt`, or one UTF-8 file whose last `val` fraction
(default 0.1, nanoGPT's split) is the validation text. A relative PATH that does not exist is
looked up under `data.data_dir`.

Vocabulary: `char` (default) numbers the sorted set of characters of the training text; it is the
dataset metadata's `vocab`, so training, sampling and evaluation decode the same tokens. `byte`
uses the 256 byte values (any file, UTF-8 or not).

Tokens are memory-mapped: byte tokens are the file itself, character tokens a uint8 (or uint16
for > 256 characters) file cached once per text and vocabulary in `$GENJAX_CACHE/text`
(default `~/.cache/genjax/text`). Examples are windows of `data.seq_len + 1` tokens (inputs and
next-token targets): the split "train" has one example per start offset, so the pipeline's
shuffled, resumable stream (`genjax.data.pipeline`) gives random windows, a pure function of the
seed and the step; "val" is the validation text in consecutive windows with stride seq_len, which
predict every token after the first once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

from genjax.data.base import Source, SourceInfo
from genjax.data.checks import DataError
from genjax.data.splits import resolve_split

VOCABS = ("char", "byte")
SPLITS = ("train", "val")


@dataclasses.dataclass(frozen=True)
class TextFiles:
    """Where the train and val texts are: whole files, or one file cut at byte `cut`."""

    train: Path
    val: Path
    cut: int | None = None  # one file: train is [0, cut), val [cut, end)


def _cache_dir() -> Path:
    return Path(os.environ.get("GENJAX_CACHE") or Path.home() / ".cache" / "genjax") / "text"


FIX = (
    "point --config.data.source=text:PATH at a UTF-8 text file (split 90%/10% into train/val) or a folder "
    "with train.txt and val.txt, or set --config.data.data_dir to the folder that holds PATH"
)


def parse_text_source(rest: str) -> tuple[str, dict[str, str]]:
    """ "PATH?vocab=byte&val=0.1" -> (PATH, params), params checked."""
    path, _, query = rest.partition("?")
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - {"vocab", "val"})
    if unknown:
        raise ValueError(f"data.source text:{rest}: unknown option(s) {unknown}; use vocab=char|byte and val=FRACTION")
    if params.get("vocab", "char") not in VOCABS:
        raise ValueError(f"data.source text:{rest}: vocab={params['vocab']!r}; use one of {VOCABS}")
    try:
        val = float(params.get("val", 0.1))
    except ValueError:
        val = -1.0
    if not 0 < val < 1:
        raise ValueError(f"data.source text:{rest}: val={params['val']!r} must be a fraction in (0, 1)")
    return path, params


def locate(path: str, data_dir: str | None, val_fraction: float) -> TextFiles:
    """The train/val texts of PATH (see the module docstring), or a FileNotFoundError saying how to
    fix it."""
    candidates = [Path(os.path.expanduser(path))]
    if data_dir and not candidates[0].is_absolute():
        candidates.append(Path(os.path.expanduser(data_dir)) / path)
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        where = " or ".join(str(p) for p in candidates)
        raise FileNotFoundError(f"data.source text:{path}: no file or folder at {where}; {FIX}")
    if found.is_dir():
        missing = [n for n in ("train.txt", "val.txt") if not (found / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"data.source text:{path}: the folder {found} has no {' and '.join(missing)}; {FIX}"
            )
        return TextFiles(found / "train.txt", found / "val.txt")
    return _cut(found, val_fraction)


def _read(path: Path, start: int = 0, stop: int | None = None) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read() if stop is None else f.read(stop - start)


def decode_utf8(data: bytes, path: Path) -> str:
    """The text of a file's bytes, refusing empty, binary (NUL bytes) and non-UTF-8 files."""
    if not data:
        raise DataError(f"{path} is empty; a text source needs text to train on")
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"{path} looks binary (a NUL byte at offset {nul}), not text; give a UTF-8 text file, or read it as "
            "bytes with text:PATH?vocab=byte"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); convert it to UTF-8 "
            "(e.g. iconv -t UTF-8) or read it as bytes with text:PATH?vocab=byte"
        ) from None


def _cut(path: Path, fraction: float) -> TextFiles:
    """One file cut into train and val at the first character boundary after (1 - fraction) of
    its bytes (a UTF-8 continuation byte starts 0b10)."""
    data = _read(path)
    if not data:
        raise DataError(f"{path} is empty; a text source needs text to train on")
    cut = int(round(len(data) * (1 - fraction)))
    while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
        cut += 1
    return TextFiles(path, path, cut)


def _split_bytes(files: TextFiles, split: str) -> tuple[Path, int, int | None]:
    if files.cut is None:
        return (files.train if split == "train" else files.val), 0, None
    return (files.train, 0, files.cut) if split == "train" else (files.val, files.cut, None)


def char_vocab(files: TextFiles) -> str:
    """The sorted characters of the training text."""
    path, start, stop = _split_bytes(files, "train")
    return "".join(sorted(set(decode_utf8(_read(path, start, stop), path))))


def encode(text: str, vocab: str, what: str) -> np.ndarray:
    """Characters -> token ids [N] (uint8, or uint16 for > 256 characters); a character outside
    `vocab` is a DataError naming it and where it is."""
    table = np.frombuffer(vocab.encode("utf-32-le"), np.uint32)
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    ids = np.minimum(np.searchsorted(table, points), len(table) - 1)
    bad = table[ids] != points
    if bad.any():
        i = int(np.argmax(bad))
        line = text.count("\n", 0, i) + 1
        raise DataError(
            f"{what}: character {text[i]!r} (line {line}) is not in the training text's vocabulary of "
            f"{len(vocab)} characters; remove it, add text that has it to the training text, or use "
            "text:PATH?vocab=byte"
        )
    return ids.astype(np.uint8 if len(vocab) <= 256 else np.uint16)


def decode(tokens: np.ndarray, vocab: str | None) -> str:
    """Token ids [N] -> text: characters of `vocab`, or bytes (vocab None) decoded as UTF-8 with
    replacement characters for invalid sequences."""
    tokens = np.asarray(tokens).astype(np.int64)
    if vocab is None:
        return bytes(np.clip(tokens, 0, 255).astype(np.uint8).tolist()).decode("utf-8", errors="replace")
    return "".join(vocab[t] for t in np.clip(tokens, 0, len(vocab) - 1))


def text_samples(tokens: np.ndarray, vocab: str | None) -> str:
    """Token windows [N, T] -> their texts, separated by lines of dashes."""
    return "\n".join(f"{decode(t, vocab)}\n{'-' * 40}" for t in tokens) + "\n"


def _token_file(files: TextFiles, split: str, vocab: str | None) -> tuple[Path, int, int | None, np.dtype]:
    """(file, first byte, end byte, dtype) of a split's tokens: the text itself for bytes, else a
    cached file of character ids written atomically on first use."""
    path, start, stop = _split_bytes(files, split)
    if vocab is None:
        size = (stop if stop is not None else path.stat().st_size) - start
        if size == 0:
            raise DataError(f"{path} has no {split} text; a text source needs text to train and validate on")
        return path, start, start + size, np.dtype(np.uint8)
    data = _read(path, start, stop)
    what = f"{path}" if files.cut is None else f"{path} ({split} part)"
    digest = hashlib.sha256(data + b"\0" + vocab.encode("utf-8")).hexdigest()[:32]
    dtype = np.dtype(np.uint8 if len(vocab) <= 256 else np.uint16)
    cached = _cache_dir() / f"{digest}.{dtype.name}"
    if not cached.exists():
        ids = encode(decode_utf8(data, Path(what)), vocab, what)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        ids.tofile(tmp)
        os.replace(tmp, cached)
    return cached, 0, cached.stat().st_size, dtype


class TextSource(Source):
    """Windows of `window` tokens of one split: start offsets `first + stride * i`. The tokens
    are memory-mapped on first read (so the source pickles as its file name)."""

    def __init__(self, info: SourceInfo, token_file: Path, offset: int, dtype: np.dtype, starts: range, window: int):
        self.info, self.token_file, self.offset, self.dtype = info, token_file, offset, dtype
        self.starts, self.window = starts, window
        self._tokens: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tokens": None}

    @property
    def tokens(self) -> np.ndarray:
        if self._tokens is None:
            self._tokens = np.memmap(self.token_file, self.dtype, mode="r", offset=self.offset)
        return self._tokens

    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        starts = self.starts.start + self.starts.step * np.asarray(indices, np.int64)
        return {"x": self.tokens[starts[:, None] + np.arange(self.window)].astype(np.int32)}


def open_text(rest: str, split: str, seq_len: int, data_dir: str | None) -> TextSource:
    """The source of `text:<rest>` for a split string over "train" and "val" (see `TextSource`)."""
    path, params = parse_text_source(rest)
    files = locate(path, data_dir, float(params.get("val", 0.1)))
    vocab = char_vocab(files) if params.get("vocab", "char") == "char" else None
    window = seq_len + 1
    sizes, parts = {}, {}
    for name in SPLITS:
        token_file, start, stop, dtype = _token_file(files, name, vocab)
        n = (stop - start) // dtype.itemsize
        if n < window:
            src = _split_bytes(files, name)[0]
            raise DataError(
                f"{src}: the {name} text has {n} tokens, fewer than one window of data.seq_len + 1 = {window}; "
                "give more text or lower data.seq_len"
            )
        stride = 1 if name == "train" else seq_len
        sizes[name] = (n - window) // stride + 1
        parts[name] = (token_file, start, dtype, stride)
    name, first, last = resolve_split(split, sizes)
    token_file, start, dtype, stride = parts[name]
    info = SourceInfo(
        "text",
        (window,),
        None,
        last - first,
        splits=SPLITS,
        vocab=vocab,
        vocab_size=256 if vocab is None else len(vocab),
    )
    return TextSource(info, token_file, start, dtype, range(first * stride, last * stride, stride), window)
