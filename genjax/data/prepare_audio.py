"""Builds the TFDS `spoken_digit` array_record dataset from the Free Spoken Digit Dataset's WAV files.

`genjax data prepare spoken_digit --from DIR`: DIR holds `SHA256SUMS` and `recordings/*.wav`
(the dataset repository's folder). SHA256SUMS must be the published list (its own sha256 is
pinned here), and every recording listed in it must be present and match its sum.

TFDS's builder needs TensorFlow (its `Audio` feature does, even to read) and pydub to decode the
WAVs; this writes the same records (`audio`: int64 16-bit samples at 8 kHz, `label`:
ClassLabel(10), `audio/filename`; TFDS's version 1.0.9 directory) with TFDS's writer, decoding
with `genjax.data.wav`, and declares `audio` as an int64 Tensor feature, which TFDS reads without
TensorFlow (`genjax.data.tfds_source` opens the directory when the registered builder needs
TensorFlow). Unlike TFDS's single "train" split of 2,500 recordings (5 speakers), the 3,000
recordings (6 speakers) are split by the dataset's own convention (`genjax.data.audio.split_of`):
recordings 0-4 of every digit and speaker are "test" (300), the rest "train" (2,700).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genjax.data.audio import SPOKEN_NAME, split_of
from genjax.data.prepare import sha256, write_records
from genjax.data.wav import read_wav

NAME = "spoken_digit"
VERSION = "1.0.9"  # TFDS's version of the dataset
SAMPLE_RATE = 8000
# sha256 of the SHA256SUMS file of the Free Spoken Digit Dataset's 3,000 recordings (repository
# Jakobovski/free-spoken-digit-dataset, commit 26eb9aaf, after tag v1.0.10)
SUMS_SHA256 = "04e1baae96c6a26e39c623f2b01d0182ddae627ba0ac02a3cdc17ba2af99fd9b"
URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"


def check_recordings(from_dir: str | os.PathLike, sums_sha256: str = SUMS_SHA256) -> list[Path]:
    """The recordings listed in DIR/SHA256SUMS, sorted by name, after checking the list against
    `sums_sha256` and every file against the list; a ValueError says which file fails and how to fix it."""
    root = Path(from_dir).expanduser()
    what = f"genjax data prepare {NAME}"
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        raise ValueError(
            f"{what}: {sums} is missing; --from must be the folder with SHA256SUMS and recordings/ ({URL})"
        )
    if sha256(sums) != sums_sha256:
        raise ValueError(
            f"{what}: {sums} is not the published list of checksums; download the dataset again from {URL}"
        )
    paths = []
    for line in sums.read_text().splitlines():
        expected, _, rel = line.partition("  ")
        path = root / rel
        if not path.is_file():
            raise ValueError(f"{what}: {path} is missing; download the dataset again from {URL}")
        got = sha256(path)
        if got != expected:
            raise ValueError(
                f"{what}: {path} fails the checksum (sha256 {got}, expected {expected}); the file is corrupt, "
                f"download it again from {URL}"
            )
        paths.append(path)
    return sorted((p for p in paths if SPOKEN_NAME.match(p.name)), key=lambda p: p.name)


def dataset_info(data_dir: str | None):
    """The TFDS DatasetInfo of `spoken_digit` in `data_dir` (default $TFDS_DATA_DIR or
    ~/tensorflow_datasets), its features readable without TensorFlow."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import dataset_info as info_lib

    root = Path(data_dir or tfds.core.constants.DATA_DIR).expanduser()
    identity = info_lib.DatasetIdentity(
        name=NAME, version=tfds.core.Version(VERSION), data_dir=str(root / NAME / VERSION), module_name=__name__
    )
    features = tfds.features.FeaturesDict(
        {
            "audio": tfds.features.Tensor(shape=(None,), dtype=np.int64),
            "label": tfds.features.ClassLabel(num_classes=10),
            "audio/filename": tfds.features.Text(),
        }
    )
    return info_lib.DatasetInfo(
        builder=identity,
        description=f"Free Spoken Digit Dataset: 16-bit mono recordings at {SAMPLE_RATE} Hz",
        features=features,
        supervised_keys=("audio", "label"),
        homepage=URL,
        metadata=tfds.core.MetadataDict(sample_rate=SAMPLE_RATE),
    )


def prepare_spoken_digit(
    from_dir: str | os.PathLike, data_dir: str | None = None, overwrite: bool = False, *, sums_sha256: str = SUMS_SHA256
) -> Path:
    """Checks the recordings in `from_dir` and writes the TFDS dataset `spoken_digit` (train and
    test splits); returns its directory."""
    examples: dict[str, list[dict]] = {"train": [], "test": []}
    paths = check_recordings(from_dir, sums_sha256)
    for path in paths:
        x, _ = read_wav(path, SAMPLE_RATE)
        samples = np.round(x * 2.0**15).astype(np.int64)  # the 16-bit values again (exact)
        label = int(SPOKEN_NAME.match(path.name).group("label"))
        examples[split_of(path.name)].append({"audio": samples, "label": label, "audio/filename": path.name})
    download_size = sum(p.stat().st_size for p in paths)
    return write_records(NAME, examples, overwrite=overwrite, download_size=download_size, info=dataset_info(data_dir))
