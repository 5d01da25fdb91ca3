"""Class-conditional gated PixelCNN (van den Oord et al. 2016) on dynamically binarized MNIST with
a Bernoulli likelihood per pixel: 8 gated layers of 64 channels (2x3 vertical, 1x2 horizontal
kernels), the label's embedding in every layer. Evaluation: the exact -log p(x | y) (`eval/nll`,
nats per image; `eval/bits_per_dim`).

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_binarized_pixelcnn --workdir runs/mnist_binarized_pixelcnn
    genjax eval --workdir runs/mnist_binarized_pixelcnn --metrics nll --num 10000
    genjax sample --workdir runs/mnist_binarized_pixelcnn --label 3 --out threes.png
    genjax train --config mnist_binarized_pixelcnn:runlocal --workdir /tmp/pixelcnn   # a few tiny steps

Variants: `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", binarize=True, value_range=(0.0, 1.0), batch_size=64)
    c.objective.update(
        name="pixelcnn", likelihood="bernoulli", features=64, num_layers=8, kernel_size=3, hidden=256,
        conditional=True,
    )  # fmt: skip
    c.optim.update(lr=1e-3, clip_norm=1.0)
    c.train.update(steps=50_000, log_every=200, sample_every=10_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.999,))  # fmt: skip
    c.eval.update(metrics=("nll",), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a two-layer PixelCNN of 8 channels at batch 8, evaluated on 8 test images."""
    short_run(c)
    c.objective.update(features=8, num_layers=2, hidden=16)
    c.train.eval_every = 10
    c.eval.num = 8
