"""A small UNet DDPM on scikit-learn's 8x8 digits resized to 16x16: offline, trains in about two
minutes on 2 CPU cores (compilation and sampling included) to recognisable digits.

    genjax train --config configs/digits_ddpm.py --workdir runs/digits_ddpm
    genjax sample --workdir runs/digits_ddpm --sampler ddim --steps 50 --out samples.png
    genjax train --config configs/digits_ddpm.py:runlocal --workdir runs/digits_ddpm_local   # a few steps

v-prediction (Salimans & Ho 2022) rather than eps: with this little training, eps-prediction's
x0 estimate (x_t - sigma eps_hat) / alpha amplifies the network's error by 1 / alpha at the
noisiest steps and gave saturated noise where v gives digits. The network is kept small (two
levels, no attention but the middle block's) because on a CPU compilation is a large part of
the budget.
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "builtin:digits"
    c.data.image_size = 16
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 32
    c.objective.name = "diffusion"
    c.objective.process = "ddpm"
    c.objective.schedule = "cosine"
    c.objective.num_steps = 1000
    c.objective.parameterization = "v"
    c.objective.weighting = "none"
    c.objective.conditional = False
    c.objective.backbone = "unet"
    c.objective.net = dict(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(), dropout=0.0)
    c.objective.sampler = "ddim"
    c.objective.sample_steps = 25
    c.optim.lr = 2e-3
    c.optim.warmup_steps = 100
    c.optim.clip_norm = 1.0
    c.train.steps = 1200
    c.train.log_every = 100
    c.train.sample_every = 1200
    c.train.checkpoint_every = 1200
    c.train.ema_decays = (0.995,)
    c.sample.num = 64
    if arg == "runlocal":
        runlocal(c, batch_size=16)
        c.objective.sample_steps = 5
        c.sample.num = 16
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of digits_ddpm; known: runlocal")
    return c
