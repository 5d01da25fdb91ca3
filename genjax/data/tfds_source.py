"""Prepared TFDS datasets read through `tfds.data_source` (array_record files, no TensorFlow).

Building TFDS's own datasets needs TensorFlow; reading prepared array_record files does not.
MNIST, Fashion-MNIST and spoken_digit can be prepared without TensorFlow by `genjax data prepare`.

Image datasets yield their images; audio datasets (an `Audio` feature of integer samples, e.g.
spoken_digit) yield waveforms float32 [data.num_samples, 1] in [-1, 1]: s / 2^15 for 16-bit
samples, cut or padded with silence at the end (`genjax.data.wav.fit_length`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from genjax.data.base import Source, SourceInfo
from genjax.data.checks import check_labels, float_images
from genjax.data.preprocess import image_hw, resize_images
from genjax.data.wav import fit_length

PCM16_SCALE = 2.0**15  # integer samples of an Audio feature are 16-bit PCM

PREPARABLE = ("mnist", "fashion_mnist", "spoken_digit")


def _not_prepared(name: str, data_dir: str | None, where: str, why: str) -> ValueError:
    import tensorflow_datasets as tfds

    data_dir = data_dir or tfds.core.constants.DATA_DIR  # honours $TFDS_DATA_DIR
    base = name.split(":")[0].split("/")[0]
    how = (
        f"prepare it from the original files without TensorFlow: `genjax data prepare {base} --from DIR "
        f"--data-dir {data_dir}`, or "
        if base in PREPARABLE
        else ""
    )
    return ValueError(
        f"data.source tfds:{name}: {why} in {where}. To fix: {how}build it where TensorFlow is installed "
        f"with `tfds build {name} --data_dir {data_dir} --file_format array_record` (reading needs only the "
        "array_record files), or set data.data_dir (or $TFDS_DATA_DIR) to where it is prepared."
    )


def open_builder(name: str, data_dir: str | None):
    """The TFDS builder of a prepared array_record dataset, or a ValueError saying how to prepare it."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    except ModuleNotFoundError as e:  # the registered builder needs TensorFlow (e.g. an Audio feature)
        prepared = _prepared_dir(name, data_dir)
        if prepared is None:
            raise _not_prepared(name, data_dir, str(data_dir or tfds.core.constants.DATA_DIR), str(e)) from e
        builder = tfds.builder_from_directory(prepared)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(f"data.source tfds:{name}: TFDS knows no dataset {name!r} ({str(e).splitlines()[0]})") from e
    except (AssertionError, ValueError) as e:  # e.g. a version that does not exist
        raise ValueError(f"data.source tfds:{name}: {str(e).splitlines()[0]}") from e
    if not builder.is_prepared():
        raise _not_prepared(
            name, data_dir, str(builder.data_dir), f"the dataset (version {builder.version}) is not prepared"
        )
    formats = {
        str(f.value) if hasattr(f, "value") else str(f)
        for f in [builder.info.file_format, *getattr(builder.info, "alternative_file_formats", ())]
        if f
    }
    if "array_record" not in formats:
        raise _not_prepared(
            name,
            data_dir,
            str(builder.data_dir),
            f"the dataset is prepared as {sorted(formats)}, but random access needs array_record",
        )
    return builder


def _prepared_dir(name: str, data_dir: str | None) -> str | None:
    """The newest version folder of dataset `name` (NAME or NAME:VERSION) in `data_dir` that holds a
    dataset_info.json (one `genjax data prepare` wrote), else None."""
    import tensorflow_datasets as tfds

    base, _, version = name.partition(":")
    root = Path(data_dir or tfds.core.constants.DATA_DIR).expanduser() / base
    found = [p for p in root.glob(version or "*") if (p / "dataset_info.json").is_file()]
    return str(max(found, key=lambda p: tfds.core.Version(p.name))) if found else None


def audio_rate(builder, key: str) -> int | None:
    """The sample rate of feature `key` when it holds audio: a TFDS Audio feature, or a 1-D integer
    Tensor of a dataset whose metadata has `sample_rate` (`genjax data prepare spoken_digit`)."""
    import tensorflow_datasets as tfds

    feature = builder.info.features[key]
    if isinstance(feature, tfds.features.Audio):
        return int(feature.sample_rate)
    metadata = builder.info.metadata or {}
    if isinstance(feature, tfds.features.Tensor) and len(feature.shape) == 1 and "sample_rate" in metadata:
        return int(metadata["sample_rate"])
    return None


def _features(builder, name: str) -> tuple[str, str | None]:
    """(the image or audio feature's key, the ClassLabel feature's key or None)."""
    import tensorflow_datasets as tfds

    feats = builder.info.features
    keys = list(builder.info.supervised_keys or ())
    image_keys = [k for k, f in feats.items() if isinstance(f, tfds.features.Image) or audio_rate(builder, k)]
    image_key = keys[0] if keys and keys[0] in image_keys else (image_keys[0] if image_keys else None)
    if image_key is None:
        raise ValueError(
            f"data.source tfds:{name}: no image or audio feature (features: {list(feats)}); only image and "
            "audio datasets are supported through TFDS"
        )
    label_key = keys[1] if len(keys) > 1 else "label"
    if label_key not in feats or not isinstance(feats[label_key], tfds.features.ClassLabel):
        label_key = None
    return image_key, label_key


def tfds_info(
    name: str, split: str, data_dir: str | None, num_samples: int | None = None, sample_rate: int | None = None
) -> SourceInfo:
    """What a prepared TFDS split holds; audio waveforms are num_samples long (data.num_samples)
    and, when `sample_rate` (data.sample_rate) is given, must have that rate."""
    builder = open_builder(name, data_dir)
    image_key, label_key = _features(builder, name)
    splits = builder.info.splits
    try:
        num_examples = splits[split].num_examples
    except (KeyError, ValueError, AssertionError) as e:
        raise ValueError(
            f"data.split {split!r}: not a split of tfds:{name} (splits: {list(splits)}): {str(e).splitlines()[0]}"
        ) from e
    feats = builder.info.features
    label = feats[label_key] if label_key else None
    rate = audio_rate(builder, image_key)
    if rate:
        if num_samples is None:
            raise ValueError(f"data.source tfds:{name} holds audio: set data.num_samples")
        if sample_rate is not None and sample_rate != rate:
            raise ValueError(
                f"data.source tfds:{name} holds audio at {rate} Hz, not data.sample_rate={sample_rate}; set "
                f"data.sample_rate={rate} (or None)"
            )
        return SourceInfo(
            kind="audio",
            shape=(int(num_samples), 1),
            num_classes=label.num_classes if label else None,
            num_examples=int(num_examples),
            splits=tuple(splits),
            class_names=tuple(label.names) if label else None,
            sample_rate=rate,
        )
    return SourceInfo(
        kind="image",
        shape=tuple(feats[image_key].shape),
        num_classes=label.num_classes if label else None,
        num_examples=int(num_examples),
        splits=tuple(splits),
        class_names=tuple(label.names) if label else None,
        uint8=feats[image_key].np_dtype == np.uint8,
    )


class TfdsSource(Source):
    """One split of a prepared TFDS dataset; the data source is opened lazily in each process.

    Records are read as a stream, so each batch is checked as it is read (`genjax.data.checks`):
    labels in [0, num_classes) of the ClassLabel feature, float images finite and in [0, 1]. 8-bit
    images need no check: every uint8 value is a pixel value."""

    def __init__(
        self,
        name: str,
        split: str,
        data_dir: str | None,
        image_size: Any = None,
        num_samples: int | None = None,
        sample_rate: int | None = None,
    ):
        self.name, self.split, self.data_dir = name, split, data_dir
        self.info = tfds_info(name, split, data_dir, num_samples, sample_rate)
        self.image_key, self.label_key = _features(open_builder(name, data_dir), name)
        self.hw = image_hw(image_size) if image_size is not None else None
        self._ds = None
        if self.info.kind == "audio":  # raw records: TFDS's own decoding of Audio needs TensorFlow
            self._fast = "audio"
            return
        if None in self.info.shape and self.hw is None:
            raise ValueError(
                f"data.image_size must be set for tfds:{name}: its images vary in size ({self.info.shape})"
            )
        # The fast path handles 8-bit PNG/JPEG images with 1 or 3 channels (MNIST, CIFAR, CelebA, ...).
        self._fast = ("PNG", "JPEG") if self.info.uint8 and self.info.shape[-1] in (1, 3) else None

    def __getstate__(self):
        return {**self.__dict__, "_ds": None}

    def _data_source(self):
        if self._ds is None:
            import tensorflow_datasets as tfds

            # Raw records: parsing the tf.Example here and decoding with Pillow's PNG/JPEG plugin
            # directly is ~3x faster than TFDS's generic decoding (which probes every image format).
            method = tfds.decode.DeserializeMethod.RAW_BYTES if self._fast else None
            kw = {"deserialize_method": method} if method else {}
            self._ds = open_builder(self.name, self.data_dir).as_data_source(split=self.split, **kw)
        return self._ds

    def _decode(self, raw: bytes) -> dict[str, Any]:
        from PIL import Image
        from tensorflow_datasets.proto import tf_example_pb2

        feature = tf_example_pb2.Example.FromString(raw).features.feature
        out = {}
        if self.label_key is not None:
            out[self.label_key] = feature[self.label_key].int64_list.value[0]
        if self._fast == "audio":
            samples = np.asarray(feature[self.image_key].int64_list.value, np.float64) / PCM16_SCALE
            out[self.image_key] = fit_length(samples.astype(np.float32), self.info.shape[0])[:, None]
            return out
        with Image.open(io.BytesIO(feature[self.image_key].bytes_list.value[0]), formats=self._fast) as im:
            mode = "L" if self.info.shape[-1] == 1 else "RGB"
            image = np.asarray(im if im.mode == mode else im.convert(mode))
        out[self.image_key] = image.reshape(*image.shape[:2], -1)
        return out

    def read(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        records = self._data_source().__getitems__([int(i) for i in indices])
        if self._fast:
            records = [self._decode(r) for r in records]
        images = [r[self.image_key] for r in records]
        if None in self.info.shape:  # variable sizes: resize each image before stacking
            images = [np.clip(np.round(resize_images(im[None], self.hw)[0]), 0, 255).astype(im.dtype) for im in images]
        what, rows = f"data.source tfds:{self.name} split {self.split!r}", np.asarray(indices)
        out = {"x": np.stack(images)}
        if out["x"].dtype.kind == "f" and self.info.kind == "image":
            out["x"] = float_images(out["x"], what, self.image_key, rows)
        if self.label_key is not None:
            labels = np.asarray([r[self.label_key] for r in records])
            out["y"] = check_labels(
                labels, len(rows), what, self.label_key, num_classes=self.info.num_classes, rows=rows
            )
        return out
