"""Latent diffusion on scikit-learn's 8x8 digits resized to 16x16: a class-conditional MLP
denoiser diffuses the 16-dimensional posterior means of a trained VAE run and its samples are
decoded by the VAE (Rombach et al. 2022). It needs that VAE run first, trained with
configs/digits_vae.py (the same data settings) into `components.autoencoder.workdir`:

    genjax train --config configs/digits_vae.py --workdir runs/digits_vae
    genjax train --config configs/digits_latent_diffusion.py --workdir runs/digits_latent_diffusion
    genjax sample --workdir runs/digits_latent_diffusion --guidance-scale 2 --label 3 --out threes.png

Another VAE run: --config.components.autoencoder.workdir=PATH. The `runlocal` variant trains a few
steps on top of any VAE run, e.g. one of configs/digits_vae.py:runlocal.
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "builtin:digits"
    c.data.image_size = 16
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.objective.name = "diffusion"
    c.components.autoencoder = dict(workdir="runs/digits_vae", ema_index=0)
    c.objective.latent_scale = 1.0
    c.objective.process = "ddpm"
    c.objective.schedule = "cosine"
    c.objective.num_steps = 1000
    c.objective.parameterization = "v"
    c.objective.weighting = "none"
    c.objective.p_uncond = 0.1
    c.objective.backbone = "mlp"
    c.objective.net = dict(hidden=256, depth=3)
    c.objective.sampler = "ddim"
    c.objective.sample_steps = 50
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.optim.warmup_steps = 100
    c.train.steps = 5000
    c.train.log_every = 100
    c.train.sample_every = 2500
    c.train.checkpoint_every = 2500
    c.train.ema_decays = (0.999,)
    c.sample.num = 64
    if arg == "runlocal":
        runlocal(c, batch_size=16)
        c.objective.net = dict(hidden=32, depth=1)
        c.objective.sample_steps = 5
        c.sample.num = 16
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of digits_latent_diffusion; known: runlocal")
    return c
