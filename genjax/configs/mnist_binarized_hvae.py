"""Hierarchical VAE (ladder / NVAE-style, top-down inference with residual-normal posteriors) on
dynamically binarized MNIST with a Bernoulli likelihood: 3 groups of 8 x 7 x 7 latents, a ResNet
encoder/decoder over 28 -> 14 -> 7 pixels, the KL weight warmed up from 0 over the first 10k
steps. Evaluation: -log p(x) by importance sampling with k = 1000 (`eval/nll`, nats per image;
`eval/bits_per_dim`), the KL per latent unit (group, channel) and active units (`latent_kl`).
Logged per step: `model/kl_group<g>` beside `model/recon` and `model/kl`.

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_binarized_hvae --workdir runs/mnist_binarized_hvae
    genjax eval --workdir runs/mnist_binarized_hvae --metrics nll,latent_kl --num 10000
    genjax train --config mnist_binarized_hvae:runlocal --workdir /tmp/hvae   # a few tiny steps

Variants: `mlp` (the dense ladder, sized for a CPU: 4 groups of 32 latents, residual MLPs of width
256; about 20 steps/s on two CPU cores; scored with k = 5000 by
`genjax eval --workdir W --metrics nll --num 10000 --likelihood-option k=5000`), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", binarize=True, value_range=(0.0, 1.0), batch_size=128)
    c.objective.update(
        name="hvae", num_groups=3, latent_channels=8, channels=(32, 64, 128), num_blocks=2, likelihood="bernoulli",
        kl_warmup_steps=10_000,
    )  # fmt: skip
    c.optim.update(lr=1e-3, clip_norm=200.0)
    c.train.update(steps=100_000, log_every=200, sample_every=10_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.999,))  # fmt: skip
    c.eval.update(metrics=("nll", "latent_kl"), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, mlp=mlp)


def mlp(c):
    """The dense ladder (Sonderby et al. 2016's MLP hierarchy with NVAE's residual posteriors), 100k
    steps at lr 2e-3 with a cosine decay; evaluated during training with k = 100 on 2,000 test images."""
    c.objective.update(backbone="mlp", hidden=256, num_blocks=2, num_groups=4, latent_channels=32, eval_k=100)
    c.optim.update(lr=2e-3, schedule="cosine", warmup_steps=1000)
    c.train.update(checkpoint_every=5000, sample_every=20_000)
    c.eval.num = 2000


def runlocal(c):
    """10 steps of a two-group HVAE (two levels, or width 16) at batch 8, scored on 8 test images with k = 4."""
    short_run(c)
    c.objective.update(
        num_groups=2, latent_channels=2, channels=(8, 16), hidden=16, num_blocks=1, kl_warmup_steps=5, eval_k=4
    )
    c.train.eval_every = 10
    c.eval.num = 8
