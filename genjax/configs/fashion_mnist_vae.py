"""Convolutional ResNet VAE on 8-bit Fashion-MNIST: pixels in [-1, 1] scored by a discretized
logistic per pixel over the 256 levels (a discrete likelihood: bits/dim without dequantization),
32 latents, ResNet encoder/decoder over 28 -> 14 -> 7 pixels, KL warm-up over 10k steps.
Evaluation: -log p(x) by importance sampling with k = 1000 (`eval/bits_per_dim`, `eval/nll`) and
the latents' KL per dimension and active units (`latent_kl`).

    genjax data prepare fashion_mnist --from DIR             # once: the TFDS dataset
    genjax train --config fashion_mnist_vae --workdir runs/fashion_mnist_vae
    genjax eval --workdir runs/fashion_mnist_vae --metrics bits_per_dim,latent_kl --num 10000
    genjax train --config fashion_mnist_vae:runlocal --workdir /tmp/fvae   # a few tiny steps

Variants: `binarized` (dynamically binarized, Bernoulli likelihood), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:fashion_mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="vae", backbone="resnet", latent_dim=32, channels=(32, 64, 128), num_blocks=2,
        likelihood="discretized_logistic", kl_warmup_steps=10_000,
    )  # fmt: skip
    c.optim.update(lr=1e-3, clip_norm=100.0)
    c.train.update(steps=100_000, log_every=200, sample_every=10_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.999,))  # fmt: skip
    c.eval.update(metrics=("bits_per_dim", "latent_kl"), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, binarized=binarized)


def binarized(c):
    c.data.update(binarize=True, value_range=(0.0, 1.0))
    c.objective.likelihood = "bernoulli"


def runlocal(c):
    """10 steps of a two-level ResNet VAE at batch 8, evaluated on 8 test images with k = 4."""
    short_run(c)
    c.objective.update(channels=(8, 16), num_blocks=1, latent_dim=4, kl_warmup_steps=5, eval_k=4)
    c.train.eval_every = 10
    c.eval.num = 8
