"""VAE with MLP encoder/decoder and a Bernoulli likelihood on scikit-learn's 8x8 digits,
resized to 16x16 (offline, trains in about a minute on 2 CPU cores).

    genjax train --config configs/digits_vae.py --workdir runs/digits_vae
    genjax train --config configs/digits_vae.py:runlocal --workdir /tmp/vae   # a few steps
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "builtin:digits"
    c.data.image_size = 16
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.objective.name = "vae"
    c.objective.latent_dim = 16
    c.objective.hidden = (512, 256)
    c.objective.likelihood = "bernoulli"
    c.optim.lr = 1e-3
    c.train.steps = 3000
    c.train.log_every = 100
    c.train.sample_every = 1000
    c.train.checkpoint_every = 1000
    c.train.ema_decays = (0.99,)
    c.sample.num = 64
    if arg == "runlocal":
        runlocal(c, batch_size=16)
        c.objective.hidden = (32,)
        c.sample.num = 16
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of digits_vae; known: runlocal")
    return c
