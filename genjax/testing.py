"""Helpers for tests and notebooks: tiny configs and small objectives that exercise the core."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from genjax.objectives.base import LossOutput, PlayerVariables


@dataclasses.dataclass(frozen=True)
class ToyGAN:
    """G(z) = a z + b; D(x) = w1 x + w2 x^2 + c (logits). Non-saturating losses."""

    n_critic: int = 1
    players: tuple[str, ...] = ("generator", "discriminator")

    @property
    def schedule(self) -> tuple[str, ...]:
        return ("discriminator",) * self.n_critic + ("generator",)

    def init(self, rng, batch):
        return {
            "generator": PlayerVariables({"a": jnp.array(0.5), "b": jnp.array(0.0)}, {}),
            "discriminator": PlayerVariables({"w": jnp.array([0.1, -0.1]), "c": jnp.array(0.0)}, {}),
        }

    @staticmethod
    def generate(g, z):
        return g["a"] * z + g["b"]

    @staticmethod
    def discriminate(d, x):
        return d["w"][0] * x + d["w"][1] * x**2 + d["c"]

    def loss(self, player, params, state, batch, rng, step) -> LossOutput:
        x = batch["x"][:, 0]
        z = jax.random.normal(rng, x.shape, x.dtype)
        fake = self.generate(params["generator"], z)
        d_fake = self.discriminate(params["discriminator"], fake)
        if player == "discriminator":
            d_real = self.discriminate(params["discriminator"], x)
            loss = jax.nn.softplus(-d_real) + jax.nn.softplus(d_fake)
            return LossOutput(loss, {"d_real": d_real}, {})
        return LossOutput(jax.nn.softplus(-d_fake), {}, {})

    def sample(self, params, state, rng, num, **kw):
        return self.generate(params["generator"], jax.random.normal(rng, (num,)))[:, None]


@dataclasses.dataclass(frozen=True)
class Regression:
    """Per-example squared error of a linear model, with a running-mean 'stats' collection."""

    dim: int = 3
    players: tuple[str, ...] = ("model",)
    schedule: tuple[str, ...] = ("model",)

    def init(self, rng, batch):
        w = jax.random.normal(rng, (self.dim,))
        return {"model": PlayerVariables({"w": w}, {"stats": {"mean": jnp.zeros(())}})}

    def loss(self, player, params, state, batch, rng, step) -> LossOutput:
        pred = batch["x"] @ params["model"]["w"]
        err = (pred - batch["y"]) ** 2
        new_mean = 0.9 * state["model"]["stats"]["mean"] + 0.1 * jnp.mean(batch["y"])
        return LossOutput(err, {"abs_err": jnp.abs(pred - batch["y"])}, {"model": {"stats": {"mean": new_mean}}})

    def sample(self, params, state, rng, num, **kw):
        return jax.random.normal(rng, (num, self.dim)) @ params["model"]["w"]


def tiny(config: Any) -> Any:
    """Shrinks a config for a one-step end-to-end test: few steps, small batch, no async I/O."""
    config.data.batch_size = min(config.data.batch_size, 8)
    config.data.num_workers = 0
    config.train.steps = 1
    config.train.log_every = 1
    config.train.sample_every = 1
    config.train.eval_every = 0
    config.train.checkpoint_every = 1
    config.train.progress = False
    config.train.async_checkpoint = False
    config.sample.num = min(config.sample.num, 4)
    return config


def write_text_corpus(folder: Any, train_chars: int = 4000, val_chars: int = 1000, seed: int = 0) -> Any:
    """A folder with train.txt and val.txt of random words over a few letters (val's characters
    all occur in train), for tests of text sources and language models; returns the folder."""
    import random
    from pathlib import Path

    rng = random.Random(seed)
    words = ["the", "king", "and", "queen", "of", "a", "fool", "speaks", "to", "her", "my", "lord"]

    def text(n: int) -> str:
        out = []
        while sum(map(len, out)) < n:
            out.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + ".\n")
        return "".join(out)[:n]

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    every_char = "KING:\n" + " ".join(w.capitalize() for w in words) + ".\n"
    (folder / "train.txt").write_text(every_char + text(train_chars), encoding="utf-8")
    (folder / "val.txt").write_text(text(val_chars), encoding="utf-8")
    return folder


def write_spoken_digits(data_dir: Any, speakers: int = 2, per_digit: int = 7, seed: int = 0) -> Any:
    """`spoken_digit/recordings/{digit}_{speaker}_{index}.wav` under `data_dir`, laid out like the
    Free Spoken Digit Dataset (mono 16-bit PCM at 8 kHz, 0.05-0.3 s): a tone whose pitch grows with
    the digit, for tests of audio sources and models; returns `data_dir`."""
    import wave
    from pathlib import Path

    import numpy as np

    rng = np.random.default_rng(seed)
    folder = Path(data_dir) / "spoken_digit" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for speaker in range(speakers):
            for index in range(per_digit):
                t = np.arange(rng.integers(400, 2400)) / 8000
                x = rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * (200 + 60 * digit) * t)
                with wave.open(str(folder / f"{digit}_speaker{speaker}_{index}.wav"), "wb") as f:
                    f.setnchannels(1)
                    f.setsampwidth(2)
                    f.setframerate(8000)
                    f.writeframes((x * 32767).astype("<i2").tobytes())
    return data_dir
