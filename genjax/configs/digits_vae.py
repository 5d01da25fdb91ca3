"""VAE with MLP encoder/decoder and a Bernoulli likelihood on scikit-learn's 8x8 digits,
resized to 16x16 (offline, trains in about a minute on 2 CPU cores).

    genjax train --config digits_vae --workdir runs/digits_vae
    genjax train --config digits_vae:runlocal --workdir /tmp/vae   # a few steps
    genjax train --config digits_vae:iwae --workdir runs/digits_iwae  # the IWAE bound, k = 8
    genjax eval --workdir runs/digits_iwae --metrics nll --num 359    # -log p(x), k = 1000
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="builtin:digits", image_size=16, value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(name="vae", latent_dim=16, hidden=(512, 256), likelihood="bernoulli")
    c.optim.lr = 1e-3
    c.train.update(steps=3000, log_every=100, sample_every=1000, checkpoint_every=1000, ema_decays=(0.99,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, iwae=iwae)


def iwae(c):
    """Dynamically binarized digits (a Bernoulli likelihood of binary pixels), trained on the IWAE
    bound L_8 (Burda et al. 2016) over the 1438 training digits; evaluated by -log p(x) with the
    VAE's default eval_k = 1000 importance samples, on the 359 test digits (builtin:digits' split)."""
    c.data.update(binarize=True, value_range=(0.0, 1.0))
    c.objective.iwae_k = 8
    c.train.eval_every = 1000
    c.eval.update(metrics=("nll",), num=359)


def runlocal(c):
    """10 steps of a one-layer VAE at batch 16."""
    short_run(c, batch_size=16)
    c.objective.hidden = (32,)
    c.sample.num = 16
