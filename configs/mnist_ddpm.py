"""Class-conditional DDPM on MNIST (28x28) with classifier-free guidance: a UNet with
channels (64, 128, 128), attention at 7x7, eps-prediction on the linear schedule.

    genjax train --config configs/mnist_ddpm.py --workdir runs/mnist_ddpm
    genjax sample --workdir runs/mnist_ddpm --sampler ddim --steps 50 --guidance-scale 2 --label 3 --out threes.png
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.objective.name = "diffusion"
    c.objective.process = "ddpm"
    c.objective.schedule = "linear"
    c.objective.num_steps = 1000
    c.objective.parameterization = "eps"
    c.objective.weighting = "min_snr"
    c.objective.min_snr_gamma = 5.0
    c.objective.p_uncond = 0.1
    c.objective.backbone = "unet"
    c.objective.net = dict(ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(7,), dropout=0.1,
                           num_heads=4, scale_shift=True)
    c.objective.sampler = "ddim"
    c.objective.sample_steps = 50
    c.objective.guidance_scale = 2.0
    c.optim.lr = 2e-4
    c.optim.warmup_steps = 1000
    c.optim.clip_norm = 1.0
    c.train.steps = 50_000
    c.train.log_every = 200
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    c.train.ema_decays = (0.999, 0.9999)
    c.sample.num = 64
    if arg == "runlocal":  # a tiny model for smoke tests
        c.objective.net = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(14,), dropout=0.0,
                               num_heads=1, scale_shift=True)
        c.objective.sample_steps = 3
        runlocal(c)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_ddpm; known: runlocal")
    return c
