"""A spoken-digit classifier trained by genjax, the feature space of audio FID / KID / IS.

Like `genjax.metrics.domain` for MNIST: a small classifier trained on the Free Spoken Digit
Dataset gives FID/KID in its 128-d penultimate features (Heusel et al. 2017; Binkowski et al.
2018) and an Inception Score from its softmax (Salimans et al. 2016), as SC09 evaluations do with
their digit classifiers (Donahue et al. 2019, "Adversarial Audio Synthesis"; Kong et al. 2021,
"DiffWave"). The weights are cached in `<cache>/domain/spoken_digit.npz` with their test accuracy.

Front end: the log-magnitude STFT (`genjax.data.spectrogram`, n_fft 256, hop 128: 32 ms
frames at 8 kHz) in units of 20 dB; then 1-D convolutions over time with the frequency bins as
channels, mean and max pooling over time, a 128-d ReLU layer (the features) and the logits.
Training: Adam, cosine decay, batches of random train examples each shifted by a random circular
time shift (an augmentation: digits start at different times in generated audio).
"""

from __future__ import annotations

import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax.data.audio import locate, open_audio
from genjax.data.spectrogram import magnitude_db
from genjax.metrics.features import Extractor
from genjax.metrics.weights import cache_dir, save_classifier, unflatten

DATASETS = ("spoken_digit",)
SAMPLE_RATE = 8000
WAVE_SHAPE = (8000, 1)  # 1 s at 8 kHz: data.num_samples of the spoken-digit configs
N_FFT, HOP = 256, 128


class SpokenDigitClassifier(nn.Module):
    """Waveforms [B, T, 1] in [-1, 1] -> (features [B, 128], logits [B, num_classes])."""

    num_classes: int = 10
    width: int = 64

    @nn.compact
    def __call__(self, waveforms: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = magnitude_db(waveforms[..., 0], N_FFT, HOP, xp=jnp) / 20.0  # [B, frames, 129], log10 |X|
        x = nn.relu(nn.Conv(self.width, (3,))(x))
        x = nn.relu(nn.Conv(2 * self.width, (3,), strides=2)(x))
        x = nn.relu(nn.Conv(2 * self.width, (3,), strides=2)(x))
        x = jnp.concatenate([x.mean(axis=1), x.max(axis=1)], axis=-1)
        features = nn.relu(nn.Dense(128)(x))
        return features, nn.Dense(self.num_classes)(features)


def load_split(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(waveforms float32 [N, 8000, 1], labels int32 [N]) of the official "train" or "test" split
    of the recordings in `folder` (the recordings themselves, or a folder holding `recordings/`)."""
    root = locate(str(folder), None)
    if (root / "recordings").is_dir():
        root = root / "recordings"
    source = open_audio(str(root), split, WAVE_SHAPE[0], SAMPLE_RATE, None)
    if source.y is None:
        raise ValueError(f"{root}: the file names carry no labels; expected {{digit}}_{{speaker}}_{{index}}.wav")
    return source.x, source.y


def train_classifier(
    waveforms: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int = 10,
    steps: int = 1500,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    seed: int = 0,
) -> dict:
    """Adam on softmax cross-entropy with a cosine schedule, batches randomly time-shifted; returns
    the Flax params."""
    model = SpokenDigitClassifier(num_classes)
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1,) + waveforms.shape[1:]))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x)[1], y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    length = waveforms.shape[1]
    for _ in range(steps):
        idx = rng.integers(0, len(waveforms), batch_size)
        shifts = rng.integers(0, length, batch_size)
        rows = (np.arange(length)[None, :] - shifts[:, None]) % length  # circular shift of each example
        x = np.take_along_axis(waveforms[idx], rows[..., None], axis=1)
        params, opt_state, _ = step(params, opt_state, x, labels[idx])
    return jax.device_get(params)


def predict(params: dict, waveforms: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Predicted labels int [N] of waveforms [N, T, 1]."""
    num_classes = params["Dense_1"]["bias"].shape[0]
    apply = jax.jit(lambda p, x: SpokenDigitClassifier(num_classes).apply({"params": p}, x)[1].argmax(-1))
    return np.concatenate(
        [np.asarray(apply(params, waveforms[i : i + batch_size])) for i in range(0, len(waveforms), batch_size)]
    )


def classifier_path(name: str = "spoken_digit") -> Path:
    return cache_dir() / "domain" / f"{name}.npz"


def build(name: str, data_dir: str | os.PathLike, steps: int = 1500, seed: int = 0) -> tuple[Path, float]:
    """Train the spoken-digit classifier on the train split of the recordings in `data_dir`,
    cache it; returns (path, accuracy on the official test split)."""
    if name not in DATASETS:
        raise ValueError(f"no audio classifier for {name!r}; available: {DATASETS}")
    x_train, y_train = load_split(data_dir, "train")
    x_test, y_test = load_split(data_dir, "test")
    params = train_classifier(x_train, y_train, steps=steps, seed=seed)
    acc = float((predict(params, x_test) == y_test).mean())
    return save_classifier(classifier_path(name), params, acc), acc


def _apply(variables, pixels: jax.Array) -> dict[str, jax.Array]:
    """The extractor contract: `pixels` are the waveforms mapped to 0..255 (`features.extract`)."""
    features, logits = SpokenDigitClassifier().apply({"params": variables}, pixels / 127.5 - 1.0)
    return {"features": features, "logits": logits}


def extractor(name: str = "spoken_digit") -> Extractor:
    path = classifier_path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"no {name} classifier at {path}. Train it once with `genjax weights fetch {name} --from DIR` (DIR "
            "holds the Free Spoken Digit Dataset's recordings/)."
        )
    with np.load(path) as data:
        params = unflatten({k: data[k] for k in data.files if k != "test_accuracy"})
    return Extractor(name, _apply, jax.tree.map(jnp.asarray, params), WAVE_SHAPE)
