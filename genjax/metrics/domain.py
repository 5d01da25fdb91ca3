"""Domain feature extractors: small classifiers for MNIST and Fashion-MNIST trained by genjax.

ImageNet features are a poor fit for 28x28 grayscale digits and clothes; a classifier trained
on the dataset itself gives FID-like numbers in its own 128-d feature space (the penultimate
layer) and an Inception-Score-like number from its softmax. The trained weights are cached in
`<cache>/domain/<name>.npz` together with their test accuracy.

Training reads the original idx files (`train-images-idx3-ubyte.gz`, ...) from a folder,
the files `genjax data prepare` takes.
"""

from __future__ import annotations

import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from genjax.metrics.features import Extractor
from genjax.metrics.weights import cache_dir, save_classifier, unflatten

DATASETS = ("mnist", "fashion_mnist")
IMAGE_SHAPE = (28, 28, 1)


class DomainClassifier(nn.Module):
    """[B, 28, 28, 1] pixels 0..255 -> (features [B, 128], logits [B, num_classes])."""

    num_classes: int = 10
    width: int = 32

    @nn.compact
    def __call__(self, pixels: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = pixels / 127.5 - 1.0
        x = nn.relu(nn.Conv(self.width, (3, 3), strides=2)(x))  # 14x14
        x = nn.relu(nn.Conv(2 * self.width, (3, 3), strides=2)(x))  # 7x7
        x = nn.relu(nn.Conv(4 * self.width, (3, 3), strides=2)(x))  # 4x4
        features = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
        return features, nn.Dense(self.num_classes)(features)


def load_idx_split(folder: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28, 1], labels int32 [N]) of split "train" or "test"."""
    from genjax.data.prepare import read_idx

    prefix = {"train": "train", "test": "t10k"}[split]
    folder = Path(folder)
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")[..., None]
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int32)
    return images, labels


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 2000,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    seed: int = 0,
) -> dict:
    """Adam on softmax cross-entropy with a cosine schedule; returns the Flax params."""
    model = DomainClassifier()
    key = jax.random.PRNGKey(seed)
    params = model.init(key, jnp.zeros((1,) + IMAGE_SHAPE))["params"]
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y):
        def loss_fn(p):
            _, logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(images), batch_size)
        params, opt_state, _ = step(params, opt_state, images[idx].astype(np.float32), labels[idx])
    return jax.device_get(params)


def accuracy(params: dict, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    apply = jax.jit(lambda p, x: DomainClassifier().apply({"params": p}, x)[1].argmax(-1))
    hits = sum(
        int(
            (
                np.asarray(apply(params, images[i : i + batch_size].astype(np.float32))) == labels[i : i + batch_size]
            ).sum()
        )
        for i in range(0, len(images), batch_size)
    )
    return hits / len(images)


def classifier_path(name: str) -> Path:
    return cache_dir() / "domain" / f"{name}.npz"


def build(name: str, data_dir: str | os.PathLike, steps: int = 2000, seed: int = 0) -> tuple[Path, float]:
    """Train the `name` classifier on its idx files in `data_dir`, cache it; returns (path,
    test accuracy)."""
    if name not in DATASETS:
        raise ValueError(f"no domain classifier for {name!r}; available: {DATASETS}")
    x_train, y_train = load_idx_split(data_dir, "train")
    x_test, y_test = load_idx_split(data_dir, "test")
    params = train_classifier(x_train, y_train, steps=steps, seed=seed)
    acc = accuracy(params, x_test, y_test)
    return save_classifier(classifier_path(name), params, acc), acc


def _domain_apply(variables, pixels: jax.Array) -> dict[str, jax.Array]:
    features, logits = DomainClassifier().apply({"params": variables}, pixels)
    return {"features": features, "logits": logits}


def extractor(name: str) -> Extractor:
    path = classifier_path(name)
    if not path.exists():
        raise FileNotFoundError(
            f"no {name} classifier at {path}. Train it once with "
            f"`genjax weights fetch {name} --from DIR` (DIR holds the {name} idx .gz files)."
        )
    with np.load(path) as data:
        params = unflatten({k: data[k] for k in data.files if k != "test_accuracy"})
    return Extractor(name, _domain_apply, jax.tree.map(jnp.asarray, params), IMAGE_SHAPE)
