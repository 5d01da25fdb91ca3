"""Gated PixelCNN on 8-bit CIFAR-10 with PixelCNN++'s likelihood (Salimans et al. 2017): a mixture
of 10 discretized logistics per pixel whose channel means depend linearly on the channels before
them, over the 256 levels of each channel. 15 gated layers of 128 channels, unconditional, Adam
lr 1e-3 with 2000 warmup steps, batch 64, EMA 0.9995. Evaluation: the exact -log p(x) in bits per
dimension (`eval/bits_per_dim`). For GPU/TPU users.

    genjax train --config cifar10_pixelcnnpp --workdir runs/cifar10_pixelcnnpp
    genjax eval --workdir runs/cifar10_pixelcnnpp --metrics nll --num 10000
    genjax sample --workdir runs/cifar10_pixelcnnpp --out samples.png

Variants: `runlocal` (a tiny network; the data is still CIFAR-10).
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:cifar10", value_range=(-1.0, 1.0), batch_size=64)
    c.objective.update(
        name="pixelcnn", likelihood="logistic_mixture", num_logistic_mix=10, features=128, num_layers=15,
        kernel_size=5, hidden=512, conditional=False,
    )  # fmt: skip
    c.optim.update(lr=1e-3, warmup_steps=2000, clip_norm=1.0)
    c.train.update(steps=300_000, log_every=1000, sample_every=50_000, eval_every=50_000, checkpoint_every=10_000,
                   ema_decays=(0.9995,))  # fmt: skip
    c.eval.update(metrics=("nll",), num=10_000)
    c.sample.num = 16
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a two-layer PixelCNN of 8 channels at batch 8, evaluated on 8 test images."""
    short_run(c)
    c.objective.update(features=8, num_layers=2, kernel_size=3, hidden=16)
    c.train.eval_every = 10
    c.eval.num = 8
