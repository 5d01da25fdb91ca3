"""What objectives and metrics may know about a dataset without reading it."""

from __future__ import annotations

import dataclasses

KINDS = ("image", "points", "text", "audio")


@dataclasses.dataclass(frozen=True)
class DatasetMetadata:
    """Static description of one split of a dataset after preprocessing.

    Attributes:
      name:         the source string, e.g. "tfds:mnist" or "builtin:ring8".
      kind:         "image" (x is [H, W, C], NHWC batches), "points" (x is [D]), "text" (x is
                    int32 token ids [seq_len + 1], a window of inputs and next-token targets) or
                    "audio" (x is a mono waveform float32 [num_samples, 1] in [-1, 1]).
      shape:        per-example shape of x after preprocessing (image_size applied).
      num_classes:  number of label values when the data has labels y in [0, num_classes), else None.
      value_range:  (low, high) of x: the configured range for images, the bounding box of the
                    split's coordinates for points.
      num_examples: examples in the selected split (all processes together).
      modes:        centres of the Gaussian-mixture components (builtin ring/grid sets), else None.
      mode_std:     standard deviation of every mixture component, else None.
      class_names:  names of the classes when the source has them (folder, TFDS), else None.
      bits:         bits per colour channel of the raw data (8 for uint8 images), else None; the
                    discretisation bits-per-dimension metrics need.
      point_moments: (mean, std) of the split's coordinates for points (see
                    `genjax.data.base.point_stats`), else None.
      vocab:        text: the characters of token ids 0, 1, ... (the sorted characters of the
                    training text), None for byte tokens; `genjax.data.text.decode` maps ids back.
      vocab_size:   text: the number of token ids, else None.
      sample_rate:  audio: samples per second of the waveforms (Hz), else None.
      num_samples:  audio: samples per waveform (shape[0]), else None.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    value_range: tuple[float, float]
    num_examples: int
    modes: tuple[tuple[float, ...], ...] | None = None
    mode_std: float | None = None
    class_names: tuple[str, ...] | None = None
    bits: int | None = None
    point_moments: tuple[float, float] | None = None
    vocab: str | None = None
    vocab_size: int | None = None
    sample_rate: int | None = None
    num_samples: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"DatasetMetadata.kind must be one of {KINDS}, got {self.kind!r}")
        if (self.kind == "audio") != (self.sample_rate is not None):
            raise ValueError(f"DatasetMetadata: sample_rate is set exactly for audio data, got {self.sample_rate!r}")
        if self.kind == "audio" and (self.num_samples is None or tuple(self.shape) != (self.num_samples, 1)):
            raise ValueError(f"DatasetMetadata: audio shape must be (num_samples, 1), got {self.shape}")
