"""Audio sources: `audio:PATH`, a folder of mono PCM WAV files (searched recursively).

A relative PATH that does not exist is looked up under `data.data_dir` (as for `text:`).
Examples are waveforms x float32 [data.num_samples, 1] in [-1, 1]: each file cut to its first
num_samples samples or padded with silence at the end (`genjax.data.wav.fit_length`).

Labels and splits come from the file names:

- Spoken-digit names `{label}_{speaker}_{index}.wav` (the Free Spoken Digit Dataset's, e.g.
  `7_jackson_32.wav`): y is the integer label, and the dataset's official split applies:
  recordings with index 0-4 are the "test" split, the others "train". Speakers are the source's
  `speakers` (an id per example, numbered in sorted name order) and `speaker_names`.
- Any other folder: every file is in "train" (hold data out with a split slice such as
  "train[:90%]"), without labels. A folder that mixes both kinds of names is refused.

Files are read in sorted path order; the sample rate is data.sample_rate, or when that is None
the rate of the first file, and every file must have it (see `genjax.data.wav.read_wav` for
what is refused and how to fix it) unless `data.resample` is set: then files at another rate are
resampled to it and multi-channel files averaged to mono (`genjax.data.wav.conform`), and the
log says how many files were converted.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from genjax.data.base import Source, SourceInfo
from genjax.data.checks import DataError, class_count
from genjax.data.splits import resolve_split
from genjax.data.wav import conform, fit_length, read_frames, read_wav

SPOKEN_NAME = re.compile(r"^(?P<label>\d+)_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
NUM_TEST_TAKES = 5  # spoken-digit names: index < 5 is the official test split
log = logging.getLogger("genjax")
FIX = "point --config.data.source=audio:PATH at a folder of .wav files, or set --config.data.data_dir to the folder that holds PATH"


def locate(path: str, data_dir: str | None) -> Path:
    """The folder of `audio:PATH`: PATH itself, or data_dir / PATH for a relative PATH."""
    candidates = [Path(os.path.expanduser(path))]
    if data_dir and not candidates[0].is_absolute():
        candidates.append(Path(os.path.expanduser(data_dir)) / path)
    found = next((p for p in candidates if p.is_dir()), None)
    if found is None:
        raise FileNotFoundError(f"data.source audio:{path}: no folder at {' or '.join(map(str, candidates))}; {FIX}")
    return found


def split_of(name: str) -> str:
    """The split of a spoken-digit file name: "test" for take index < NUM_TEST_TAKES, else "train"."""
    m = SPOKEN_NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not a spoken-digit file name {{label}}_{{speaker}}_{{index}}.wav")
    return "test" if int(m.group("index")) < NUM_TEST_TAKES else "train"


def list_files(root: Path, what: str) -> list[Path]:
    """The .wav files under `root`, sorted; other files are a DataError (they would be skipped silently)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    others = [p for p in files if p.suffix.lower() != ".wav"]
    if others:
        raise DataError(
            f"{what}: {others[0]} is not a .wav file ({len(others)} such files); audio folders hold only .wav "
            "files: move it out of the folder"
        )
    if not files:
        raise DataError(f"{what}: the folder {root} holds no .wav files; {FIX}")
    return files


class AudioSource(Source):
    """One split of an audio folder, held in memory: x float32 [N, T, 1], y int32 [N] (when labelled)."""

    def __init__(self, info: SourceInfo, x: np.ndarray, y: np.ndarray | None, speakers=None, speaker_names=None):
        self.info, self.x, self.y = info, x, y
        self.speakers: np.ndarray | None = speakers  # int32 [N]: index into speaker_names
        self.speaker_names: tuple[str, ...] | None = speaker_names

    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = {"x": self.x[indices]}
        if self.y is not None:
            out["y"] = self.y[indices]
        return out


def open_audio(
    path: str, split: str, num_samples: int, sample_rate: int | None, data_dir: str | None, resample: bool = False
) -> AudioSource:
    """The source of `audio:PATH` for a split string (see the module docstring)."""
    what = f"data.source audio:{path}"
    files = list_files(locate(path, data_dir), what)
    matches = [SPOKEN_NAME.match(p.name) for p in files]
    labelled = sum(m is not None for m in matches)
    if 0 < labelled < len(files):
        odd = next(p for p, m in zip(files, matches) if (m is None) == (matches[0] is not None))
        raise DataError(
            f"{what}: {odd} does not follow the folder's file names ({files[0].name}); name every file "
            "{label}_{speaker}_{index}.wav (labelled, official test split) or none (unlabelled, one train split)"
        )
    if labelled:
        parts = {s: [i for i, p in enumerate(files) if split_of(p.name) == s] for s in ("train", "test")}
    else:
        parts = {"train": list(range(len(files)))}
    name, start, stop = resolve_split(split, {s: len(v) for s, v in parts.items()})
    chosen = parts[name][start:stop]
    rate = sample_rate or read_frames(files[0])[1]
    if resample:
        waves = _converted(what, [files[i] for i in chosen], rate)
    else:
        waves = [read_wav(files[i], rate)[0] for i in chosen]
    x = np.stack([fit_length(w, num_samples) for w in waves])[..., None]
    y = speakers = class_names = speaker_names = None
    if labelled:
        labels = np.asarray([int(m.group("label")) for m in matches], np.int64)
        num_classes = class_count(labels, what, "label")
        y = labels[chosen].astype(np.int32)
        class_names = tuple(str(c) for c in range(num_classes))
        speaker_names = tuple(sorted({m.group("speaker") for m in matches}))
        speakers = np.asarray([speaker_names.index(matches[i].group("speaker")) for i in chosen], np.int32)
    info = SourceInfo(
        "audio",
        (num_samples, 1),
        num_classes if labelled else None,
        len(chosen),
        splits=tuple(parts),
        class_names=class_names,
        sample_rate=rate,
    )
    return AudioSource(info, x, y, speakers, speaker_names)


def _converted(what: str, files: list[Path], rate: int) -> list[np.ndarray]:
    """The files as mono waveforms at `rate` (`conform`), logging how many needed converting."""
    raw = [read_frames(p) for p in files]
    rates = sorted({r for _, r in raw if r != rate})
    parts = []
    if rates:
        n = sum(r != rate for _, r in raw)
        parts.append(
            f"resampled {n} of {len(raw)} files from {', '.join(map(str, rates))} Hz to {rate} Hz (polyphase FIR)"
        )
    mixed = sum(x.shape[1] > 1 for x, _ in raw)
    if mixed:
        parts.append(f"averaged {mixed} of {len(raw)} multi-channel files to mono")
    if parts:
        log.info("%s: %s", what, "; ".join(parts))
    return [conform(x, r, rate) for x, r in raw]
