"""EDM (Karras et al. 2022) on Fashion-MNIST: F-parameterization with c_skip/c_out/c_in/c_noise
preconditioning, log-normal training sigmas (P_mean -1.2, P_std 1.2), lambda(sigma) weighting,
Heun sampling on the rho = 7 grid (18 steps, 35 network evaluations, as for CIFAR-10).

    genjax train --config configs/fashion_mnist_edm.py --workdir runs/fmnist_edm
    genjax sample --workdir runs/fmnist_edm --sampler heun --steps 18 --out samples.png
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:fashion_mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.objective.name = "diffusion"
    c.objective.process = "edm"
    c.objective.sigma_min = 0.002
    c.objective.sigma_max = 80.0
    c.objective.rho = 7.0
    c.objective.p_mean = -1.2
    c.objective.p_std = 1.2
    c.objective.sigma_data = 0.5
    c.objective.parameterization = "edm"
    c.objective.weighting = "edm"
    c.objective.conditional = False
    c.objective.backbone = "unet"
    c.objective.net = dict(ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(7,), dropout=0.1,
                           num_heads=4, scale_shift=True)
    c.objective.sampler = "heun"
    c.objective.sample_steps = 18
    c.optim.lr = 2e-4
    c.optim.warmup_steps = 1000
    c.train.steps = 50_000
    c.train.log_every = 200
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    c.train.ema_decays = (0.999, 0.9999)
    if arg == "runlocal":  # a tiny model for smoke tests
        c.objective.net = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(14,), dropout=0.0,
                               num_heads=1, scale_shift=True)
        c.objective.sample_steps = 3
        runlocal(c)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of fashion_mnist_edm; known: runlocal")
    return c
