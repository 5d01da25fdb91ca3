"""bfloat16 compute (`train.compute_dtype`) with float32 params and optimizer state: 200 steps on
the digits track the float32 run of the same seed for the UNet, the DiT and a DCGAN, and the
params stay float32."""

import json

import jax
import numpy as np
import pytest

from genjax import config as config_lib
from genjax.train import run

DIGITS = ["--config.data.source=builtin:digits", "--config.data.image_size=16"]
COMMON = [
    "--config.train.steps=200",
    "--config.data.batch_size=16",
    "--config.train.log_every=10",
    "--config.train.sample_every=0",
    "--config.train.eval_every=0",
    "--config.train.checkpoint_every=0",
    "--config.train.progress=false",
]
CASES = {
    # XLA:CPU emulates bfloat16 convolutions slowly: a small UNet on 8x8 digits
    "unet": (
        "digits_ddpm",
        ["--config.data.image_size=8", "--config.objective.net.ch=4", "--config.objective.net.attn_resolutions=(4,)"],
    ),
    "dit": (
        "mnist_dit:runlocal",
        [
            *DIGITS,
            "--config.objective.net.patch=2",
            "--config.objective.net.depth=2",
            "--config.optim.warmup_steps=0",
            "--config.optim.lr=1e-3",
        ],
    ),
    "dcgan": (
        "mnist_dcgan",
        [*DIGITS, "--config.objective.generator.base=8", "--config.objective.discriminator.base=8"],
    ),
}


def _losses(tmp_path, name, dtype):
    spec, overrides = CASES[name]
    config = config_lib.load_config(spec, [*overrides, *COMMON, f"--config.train.compute_dtype={dtype}"])
    state = run(config, tmp_path / dtype)
    assert {p.dtype for p in jax.tree.leaves(state.params)} == {np.dtype("float32")}
    assert {p.dtype for p in jax.tree.leaves(state.opt_state) if p.ndim} <= {np.dtype("float32")}
    rows = [json.loads(line) for line in (tmp_path / dtype / "metrics.jsonl").read_text().splitlines()]
    return {k: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith("loss/")}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_bf16_tracks_f32(tmp_path, name):
    """The mean loss over each quarter of the run stays within 10% of the float32 run's (diffusion;
    GAN losses within 0.15 absolute, they oscillate around an equilibrium), and finite throughout."""
    f32, bf16 = _losses(tmp_path, name, "float32"), _losses(tmp_path, name, "bfloat16")
    for key in f32:
        assert np.all(np.isfinite(bf16[key])), key
        a, b = f32[key].reshape(4, -1).mean(1), bf16[key].reshape(4, -1).mean(1)
        if name == "dcgan":
            np.testing.assert_allclose(b, a, atol=0.15, err_msg=key)
        else:
            np.testing.assert_allclose(b, a, rtol=0.1, err_msg=key)
