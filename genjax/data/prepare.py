"""Builds the TFDS `mnist` / `fashion_mnist` array_record datasets from the original idx files.

TFDS's own builders need TensorFlow (to read the files and PNG-encode the images). This writes
the same dataset with TFDS's writer, serializer and DatasetInfo, encoding PNGs with Pillow, so
`tfds.data_source("mnist")` (and `tfds:mnist` in genjax) reads it like a TFDS-built one: same
version, features, splits and record order (TFDS shuffles records by a hash of each example's
index, salted with the split name). The files are checked against the published sha256 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import numpy as np

# sha256 of the official files, as registered in TFDS's url_checksums.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(name: str, from_dir: str | os.PathLike) -> dict[str, Path]:
    """Paths of the four idx files in `from_dir`, after checking them against CHECKSUMS."""
    if name not in CHECKSUMS:
        raise ValueError(f"genjax data prepare: cannot prepare {name!r}; supported: {sorted(CHECKSUMS)}")
    root = Path(from_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"genjax data prepare {name}: --from {root} is not a directory")
    paths = {}
    for fname, expected in CHECKSUMS[name].items():
        path = root / fname
        if not path.is_file():
            raise ValueError(f"genjax data prepare {name}: {path} is missing; download it from {URLS[name]}{fname}")
        got = sha256(path)
        if got != expected:
            raise ValueError(
                f"genjax data prepare {name}: {path} fails the checksum (sha256 {got}, expected "
                f"{expected}); the file is corrupt or not the official one, download it again"
            )
        paths[fname] = path
    return paths


def read_idx(path: Path) -> np.ndarray:
    """Array of an idx file (LeCun et al. 1998): magic 0x0000 08 NDIM, NDIM big-endian sizes, uint8 data."""
    data = gzip.decompress(Path(path).read_bytes())
    if data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an idx file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, offset=4))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {body.size} bytes")
    return body.reshape(shape)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="png")
    return buf.getvalue()


def prepare(name: str, from_dir: str | os.PathLike, data_dir: str | None = None, overwrite: bool = False) -> Path:
    """Checks the idx files in `from_dir` and writes the TFDS dataset `name`; returns its directory."""
    paths = check_files(name, from_dir)
    arrays = {}
    for split, (images_file, labels_file, count) in SPLITS.items():
        images, labels = read_idx(paths[images_file]), read_idx(paths[labels_file])
        if images.shape != (count, 28, 28) or labels.shape != (count,):
            raise ValueError(
                f"genjax data prepare {name}: {split} has shapes {images.shape}, {labels.shape}; "
                f"expected ({count}, 28, 28) and ({count},)"
            )
        arrays[split] = (images, labels)
    download_size = sum(p.stat().st_size for p in paths.values())
    return write_tfds(name, arrays, data_dir=data_dir, overwrite=overwrite, download_size=download_size)


def write_tfds(
    name: str,
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    data_dir: str | None = None,
    overwrite: bool = False,
    download_size: int = 0,
) -> Path:
    """Writes {split: (images uint8 [N, 28, 28], labels [N])} as the array_record TFDS dataset `name`."""
    examples = {
        split: [{"image": _png(image), "label": int(label)} for image, label in zip(images, labels)]
        for split, (images, labels) in arrays.items()
    }
    return write_records(name, examples, data_dir=data_dir, overwrite=overwrite, download_size=download_size)


def write_records(
    name: str,
    examples: dict[str, list[dict]],
    *,
    data_dir: str | None = None,
    overwrite: bool = False,
    download_size: int = 0,
    info=None,
) -> Path:
    """Writes {split: [feature dict of each example]} as the array_record TFDS dataset `name`
    (example i of a split has the key i) with the features and the directory of `info` (a TFDS
    DatasetInfo), by default those of TFDS's registered builder.

    Uses TFDS's Writer (records shuffled by the hash of the example index, salted with the split
    name), serializer and DatasetInfo; the directory appears atomically when complete.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import example_serializer, file_adapters, naming, splits, utils
    from tensorflow_datasets.core import writer as writer_lib

    if info is None:
        info = tfds.builder(name, data_dir=data_dir, file_format="array_record").info
    target = Path(info.data_dir)
    if (target / "dataset_info.json").exists() and not overwrite:
        return target
    features = info.features
    serializer = example_serializer.ExampleSerializer(features.get_serialized_info())
    array_record = file_adapters.FileFormat.ARRAY_RECORD
    info.set_file_format(array_record, override=True)
    split_infos = []
    with utils.incomplete_dir(target, overwrite=overwrite) as tmp:
        for split, rows in examples.items():
            template = naming.ShardedFileTemplate(
                data_dir=Path(tmp), dataset_name=info.name, split=split, filetype_suffix=array_record.file_suffix
            )
            writer = writer_lib.Writer(
                serializer=serializer,
                filename_template=template,
                hash_salt=split,
                disable_shuffling=False,
                example_writer=writer_lib.ExampleWriter(array_record),
            )
            for key, row in enumerate(rows):
                writer.write(key, features.encode_example(row))
            shard_lengths, num_bytes = writer.finalize()
            split_infos.append(
                splits.SplitInfo(
                    name=split, shard_lengths=shard_lengths, num_bytes=num_bytes, filename_template=template
                )
            )
        info.set_splits(splits.SplitDict(split_infos))
        info.download_size = download_size
        info.write_to_directory(tmp)
    return target
