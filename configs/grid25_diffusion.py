"""Diffusion on the 25-Gaussian grid ({-4, ..., 4}^2, std 0.05), the mode-collapse benchmark:
a residual-MLP denoiser, EDM preconditioning (sigma_data = 2.8, the grid's std), DDPM ancestral
sampling on EDM's sigma grid. About a minute on 2 CPU cores; all 25 modes and 99 % high-quality
samples (docs/benchmarks.md).

    genjax train --config configs/grid25_diffusion.py --workdir runs/grid25_diffusion
    genjax eval --workdir runs/grid25_diffusion --metrics mode_coverage
    python benchmarks/diffusion_mode_coverage.py --seeds 3
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "builtin:grid25"
    c.data.batch_size = 256
    c.objective.name = "diffusion"
    c.objective.process = "edm"
    c.objective.sigma_min = 0.002
    c.objective.sigma_max = 80.0
    c.objective.sigma_data = 2.8
    c.objective.p_mean = -0.5
    c.objective.p_std = 1.5
    c.objective.parameterization = "edm"
    c.objective.weighting = "edm"
    c.objective.backbone = "mlp"
    c.objective.net = dict(hidden=256, depth=4)
    c.objective.sampler = "ddpm"
    c.objective.sample_steps = 100
    c.optim.lr = 1e-3
    c.optim.schedule = "cosine"
    c.train.steps = 3000
    c.train.log_every = 250
    c.train.sample_every = 3000
    c.train.checkpoint_every = 3000
    c.train.ema_decays = (0.99,)
    c.eval.metrics = ("mode_coverage",)
    c.eval.num = 2500
    c.sample.num = 2500
    if arg is not None:
        raise ValueError(f"unknown variant {arg!r} of grid25_diffusion")
    return c
