"""DDPM on CIFAR-10 with the paper's settings (Ho et al. 2020, appendix B): the 35.7M-parameter
UNet (ch 128, ch_mult (1, 2, 2, 2), 2 res blocks, attention at 16x16, dropout 0.1), T = 1000 linear
betas 1e-4 .. 0.02, eps-prediction with L_simple, Adam lr 2e-4 with 5000 warmup steps, batch 128,
random horizontal flips, EMA 0.9999, 800k steps. For GPU/TPU users.

    genjax train --config configs/cifar10_ddpm.py --workdir runs/cifar10_ddpm
    genjax sample --workdir runs/cifar10_ddpm --sampler ddpm --steps 1000 --out samples.png
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:cifar10"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.data.random_flip = True
    c.objective.name = "diffusion"
    c.objective.process = "ddpm"
    c.objective.schedule = "linear"
    c.objective.num_steps = 1000
    c.objective.beta_start = 1e-4
    c.objective.beta_end = 0.02
    c.objective.parameterization = "eps"
    c.objective.weighting = "none"
    c.objective.conditional = False
    c.objective.backbone = "unet"
    c.objective.net = dict(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1)
    c.objective.sampler = "ddpm"
    c.objective.sample_steps = 1000
    c.optim.lr = 2e-4
    c.optim.warmup_steps = 5000
    c.optim.clip_norm = 1.0
    c.train.steps = 800_000
    c.train.log_every = 1000
    c.train.sample_every = 50_000
    c.train.checkpoint_every = 10_000
    c.train.ema_decays = (0.9999,)
    c.eval.metrics = ("fid",)
    c.eval.num = 50_000
    if arg is not None:
        raise ValueError(f"unknown variant {arg!r} of cifar10_ddpm")
    return c
