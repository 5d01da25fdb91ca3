"""IWAE (Burda, Grosse & Salakhutdinov 2016) on dynamically binarized MNIST: their
one-stochastic-layer architecture (2 x 200 tanh units, 50 latents, Bernoulli likelihood) trained
on the importance-weighted bound L_50; -log p(x) estimated with k = 5000 importance samples
(`eval/nll`, nats per image; the paper reports 85.3 for this model, k = 50).

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_binarized_iwae --workdir runs/mnist_binarized_iwae
    genjax eval --workdir runs/mnist_binarized_iwae --metrics nll,latent_kl --num 10000
    genjax train --config mnist_binarized_iwae:runlocal --workdir /tmp/iwae   # a few tiny steps

Variants: `resnet` (the ResNet encoder/decoder of `mnist_binarized_vae` trained on L_50), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", binarize=True, value_range=(0.0, 1.0), batch_size=128)
    c.objective.update(
        name="vae", latent_dim=50, hidden=(200, 200), activation="tanh", likelihood="bernoulli", iwae_k=50, eval_k=5000
    )
    c.optim.lr = 1e-3
    c.train.update(steps=300_000, log_every=500, sample_every=25_000, eval_every=25_000, checkpoint_every=25_000,
                   ema_decays=(0.999,))  # fmt: skip
    c.eval.update(metrics=("nll", "latent_kl"), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, resnet=resnet)


def resnet(c):
    c.objective.update(backbone="resnet", channels=(32, 64, 128), num_blocks=2, latent_dim=32)


def runlocal(c):
    """10 steps of a one-layer IWAE with k = 4 at batch 8, evaluated on 8 test images with k = 8."""
    short_run(c)
    c.objective.update(hidden=(32,), latent_dim=4, iwae_k=4, eval_k=8)
    c.train.eval_every = 10
    c.eval.num = 8
