"""Latent diffusion on scikit-learn's 8x8 digits resized to 16x16: a class-conditional MLP
denoiser diffuses the 16-dimensional posterior means of a trained VAE run and its samples are
decoded by the VAE (Rombach et al. 2022). It needs that VAE run first, trained with the
`digits_vae` config (the same data settings) into `components.autoencoder.workdir`:

    genjax train --config digits_vae --workdir runs/digits_vae
    genjax train --config digits_latent_diffusion --workdir runs/digits_latent_diffusion
    genjax sample --workdir runs/digits_latent_diffusion --guidance-scale 2 --label 3 --out threes.png

Another VAE run: --config.components.autoencoder.workdir=PATH. The `runlocal` variant trains a few
steps on top of any VAE run, e.g. one of digits_vae:runlocal.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="builtin:digits", image_size=16, value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="diffusion", latent_scale=1.0, process="ddpm", schedule="cosine",
        num_steps=1000, parameterization="v", weighting="none", p_uncond=0.1, backbone="mlp",
        net=dict(hidden=256, depth=3), sampler="ddim", sample_steps=50)
    c.components.autoencoder = dict(workdir="runs/digits_vae", ema_index=0)
    c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=100)
    c.train.update(steps=5000, log_every=100, sample_every=2500, checkpoint_every=2500, ema_decays=(0.999,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a one-layer denoiser at batch 16; 5-step sample grids of 16."""
    short_run(c, batch_size=16)
    c.objective.net = dict(hidden=32, depth=1)
    c.objective.sample_steps = 5
    c.sample.num = 16
