"""Diffusion on the 25-Gaussian grid ({-4, ..., 4}^2, std 0.05), the mode-collapse benchmark:
a residual-MLP denoiser, EDM preconditioning (sigma_data = 2.8, the grid's std), DDPM ancestral
sampling on EDM's sigma grid. About a minute on 2 CPU cores; all 25 modes and 99 % high-quality
samples (docs/benchmarks.md).

    genjax train --config grid25_diffusion --workdir runs/grid25_diffusion
    genjax eval --workdir runs/grid25_diffusion --metrics mode_coverage
    python benchmarks/diffusion_mode_coverage.py --seeds 3
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="builtin:grid25", batch_size=256)
    c.objective.update(
        name="diffusion", process="edm", sigma_min=0.002, sigma_max=80.0, sigma_data=2.8, p_mean=-0.5, p_std=1.5,
        parameterization="edm", weighting="edm", backbone="mlp", net=dict(hidden=256, depth=4), sampler="ddpm",
        sample_steps=100)
    c.optim.update(lr=1e-3, schedule="cosine")
    c.train.update(steps=3000, log_every=250, sample_every=3000, checkpoint_every=3000, ema_decays=(0.99,))
    c.eval.update(metrics=("mode_coverage",), num=2500)
    c.sample.num = 2500
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a 16-unit, one-block denoiser on batches of 8; 3-step samples, 100 evaluated."""
    c.objective.net = dict(hidden=16, depth=1)
    c.objective.sample_steps = 3
    c.eval.num = 100
    short_run(c)
