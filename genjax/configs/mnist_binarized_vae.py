"""Convolutional ResNet VAE on dynamically binarized MNIST with a Bernoulli likelihood: 32 latents,
a ResNet encoder/decoder over 28 -> 14 -> 7 pixels (channels 32, 64, 128, two residual blocks per
level), the KL weight warmed up from 0 over the first 10k steps and a free-bits floor of 0.05
nats per latent dimension (Kingma et al. 2016). Evaluation: -log p(x) by importance sampling with
k = 1000 (`eval/nll`, nats per image; `eval/bits_per_dim`), the latents' KL per dimension and
active units (`latent_kl`).

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_binarized_vae --workdir runs/mnist_binarized_vae
    genjax eval --workdir runs/mnist_binarized_vae --metrics nll,latent_kl --num 10000
    genjax train --config mnist_binarized_vae:runlocal --workdir /tmp/vae   # a few tiny steps

Variants: `beta4` (beta-VAE, beta = 4, no free bits), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", binarize=True, value_range=(0.0, 1.0), batch_size=128)
    c.objective.update(
        name="vae", backbone="resnet", latent_dim=32, channels=(32, 64, 128), num_blocks=2, likelihood="bernoulli",
        kl_warmup_steps=10_000, free_bits=0.05,
    )  # fmt: skip
    c.optim.update(lr=1e-3, clip_norm=100.0)
    c.train.update(steps=100_000, log_every=200, sample_every=10_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.999,))  # fmt: skip
    c.eval.update(metrics=("nll", "latent_kl"), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, beta4=beta4)


def beta4(c):
    """beta-VAE (Higgins et al. 2017) with beta = 4: a disentangling pressure on the latents."""
    c.objective.update(beta=4.0, free_bits=0.0)


def runlocal(c):
    """10 steps of a two-level ResNet VAE at batch 8, evaluated on 8 test images with k = 4."""
    short_run(c)
    c.objective.update(channels=(8, 16), num_blocks=1, latent_dim=4, kl_warmup_steps=5, eval_k=4)
    c.train.eval_every = 10
    c.eval.num = 8
