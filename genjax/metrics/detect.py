"""Synthetic-image detection: a small CNN that tells real from generated images, its ROC AUC,
and calibrated probabilities.

The detector is trained with Adam on the logistic loss, real = 0 and fake = 1, in balanced
batches, on a seeded train/validation split of each set. Its probabilities are calibrated by
temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar
T > 0 fitted on the validation split by minimising the negative log-likelihood of
sigmoid(logit / T); the ranking, hence the AUC and the accuracy, does not change.

    AUC = P(s_fake > s_real) + P(s_fake = s_real) / 2        (Mann-Whitney U / (n_0 n_1))
    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)|           (M equal-width confidence bins)
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.optimize import minimize_scalar
from scipy.stats import rankdata

from genjax.metrics.weights import unflatten


class SyntheticDetector(nn.Module):
    """[B, H, W, C] pixels 0..255 -> logits [B] of P(fake). A full-resolution first layer keeps
    pixel-scale artifacts (checkerboards, blur); global average pooling admits any H, W."""

    width: int = 16

    @nn.compact
    def __call__(self, pixels: jax.Array) -> jax.Array:
        x = pixels / 127.5 - 1.0
        x = nn.relu(nn.Conv(self.width, (3, 3))(x))
        x = nn.relu(nn.Conv(2 * self.width, (3, 3), strides=2)(x))
        x = nn.relu(nn.Conv(2 * self.width, (3, 3), strides=2)(x))
        return nn.Dense(1)(x.mean(axis=(1, 2)))[:, 0]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve of `scores` [N] for binary `labels` [N] (1 = positive), from
    the rank sum of the positives (Mann-Whitney U); ties count one half."""
    labels = np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n0 == 0 or n1 == 0:
        raise ValueError(f"the AUC needs both classes; got {n0} real and {n1} fake labels")
    ranks = rankdata(np.asarray(scores, np.float64))
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n0 * n1))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """ECE of binary probabilities `probs` [N] = P(label 1): the prediction is p >= 1/2, its
    confidence max(p, 1 - p), binned into `num_bins` equal-width bins ((m-1)/M, m/M]."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels).astype(bool)
    predicted = probs >= 0.5
    confidence = np.where(predicted, probs, 1.0 - probs)
    correct = (predicted == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    if not len(probs):
        raise ValueError("the ECE needs at least one probability")
    gap = np.bincount(bins, correct - confidence, minlength=num_bins)  # per bin: |B_m| (acc - conf)
    return float(np.abs(gap).sum() / len(probs))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """T > 0 minimising the mean logistic NLL of sigmoid(logits / T) [N] against `labels` [N]."""
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    return float(np.exp(minimize_scalar(nll, bounds=(-6.0, 6.0), method="bounded").x))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64)))


@dataclasses.dataclass(frozen=True)
class Detector:
    """A trained detector: Flax params, the calibration temperature, the network width and the
    image shape [H, W, C] it was trained on."""

    params: dict
    temperature: float
    width: int
    shape: tuple[int, int, int]

    def logits(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 [N, H, W, C] -> raw logits [N]."""
        if tuple(images.shape[1:]) != self.shape:
            raise ValueError(f"the detector takes images of shape {self.shape}, got {tuple(images.shape[1:])}")
        apply = _apply(self.width)
        return np.concatenate(
            [np.asarray(apply(self.params, images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
        )

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, C] -> calibrated P(fake) [N]."""
        return sigmoid(self.logits(images) / self.temperature)

    def save(self, folder: str | os.PathLike) -> Path:
        flat = {
            "/".join(k.key for k in p): np.asarray(v) for p, v in jax.tree_util.tree_flatten_with_path(self.params)[0]
        }
        target = Path(folder) / "detector.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.npz")  # a detector already there stays whole until the new one is
        np.savez(tmp, meta_temperature=self.temperature, meta_width=self.width, meta_shape=np.array(self.shape), **flat)
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Detector:
        path = Path(folder) / "detector.npz"
        if not path.is_file():
            raise FileNotFoundError(f"no trained detector at {path}: train one with `genjax detect train`")
        with np.load(path) as data:
            params = unflatten({k: data[k] for k in data.files if not k.startswith("meta_")})
            meta = {k: data[k] for k in data.files if k.startswith("meta_")}
        shape = tuple(int(v) for v in meta["meta_shape"])
        return cls(jax.tree.map(jnp.asarray, params), float(meta["meta_temperature"]), int(meta["meta_width"]), shape)


@functools.lru_cache(maxsize=None)
def _apply(width: int):
    return jax.jit(lambda p, x: SyntheticDetector(width).apply({"params": p}, x.astype(jnp.float32)))


def split(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random (train, validation) split of range(n); each part keeps at least one index."""
    if n < 2:
        raise ValueError(f"a set needs at least 2 images to split into train and validation, got {n}")
    order = rng.permutation(n)
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    return order[n_val:], order[:n_val]


def train_detector(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    steps: int = 300,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    width: int = 16,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[Detector, dict[str, float]]:
    """Train on real (label 0) vs fake (label 1) uint8 [N, H, W, C] sets, calibrate on the
    validation split; returns the detector and its validation metrics (auc, accuracy, ece before
    and after temperature scaling, the temperature)."""
    if steps < 1 or batch_size < 2 or not 0 < val_fraction < 1:
        raise ValueError(
            f"steps={steps} and batch_size={batch_size} must be >= 1 and >= 2, val_fraction={val_fraction} in (0, 1)"
        )
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"real and fake images differ in shape: {real.shape[1:]} vs {fake.shape[1:]}")
    rng = np.random.default_rng(seed)
    (real_tr, real_va), (fake_tr, fake_va) = split(len(real), val_fraction, rng), split(len(fake), val_fraction, rng)
    model = SyntheticDetector(width)
    params = model.init(jax.random.PRNGKey(seed), jnp.zeros((1, *real.shape[1:])))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            return optax.sigmoid_binary_cross_entropy(model.apply({"params": p}, x), y).mean()

        grads = jax.grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    half = max(1, batch_size // 2)
    y = np.concatenate([np.zeros(half, np.float32), np.ones(half, np.float32)])
    for _ in range(steps):
        x = np.concatenate([real[rng.choice(real_tr, half)], fake[rng.choice(fake_tr, half)]]).astype(np.float32)
        params, opt_state = step(params, opt_state, x, y)
    raw = Detector(jax.device_get(params), 1.0, width, tuple(real.shape[1:]))
    x_va = np.concatenate([real[real_va], fake[fake_va]])
    y_va = np.concatenate([np.zeros(len(real_va)), np.ones(len(fake_va))])
    logits = raw.logits(x_va)
    temperature = fit_temperature(logits, y_va)
    metrics = {
        "auc": roc_auc(y_va, logits),
        "accuracy": float(np.mean((logits >= 0) == y_va)),
        "ece": expected_calibration_error(sigmoid(logits), y_va),
        "ece_calibrated": expected_calibration_error(sigmoid(logits / temperature), y_va),
        "temperature": temperature,
    }
    return dataclasses.replace(raw, temperature=temperature), metrics
