"""Class-conditional DiT (Peebles & Xie 2023) on MNIST: patch 2 (14x14 = 196 tokens), DiT-S width
(384, 12 blocks, 6 heads), v-prediction on the cosine schedule, classifier-free guidance. Params
carry logical axis names: set config.mesh.fsdp / config.mesh.tensor to shard them.

    genjax train --config configs/mnist_dit.py --workdir runs/mnist_dit
    genjax sample --workdir runs/mnist_dit --sampler dpmpp_2m --steps 20 --guidance-scale 1.5 --out samples.png
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 128
    c.objective.name = "diffusion"
    c.objective.process = "ddpm"
    c.objective.schedule = "cosine"
    c.objective.parameterization = "v"
    c.objective.weighting = "min_snr"
    c.objective.p_uncond = 0.1
    c.objective.backbone = "dit"
    c.objective.net = dict(patch=2, hidden=384, depth=12, num_heads=6, mlp_ratio=4.0)
    c.objective.sampler = "dpmpp_2m"
    c.objective.sample_steps = 20
    c.objective.guidance_scale = 1.5
    c.optim.name = "adamw"
    c.optim.lr = 1e-4
    c.optim.warmup_steps = 1000
    c.train.steps = 100_000
    c.train.log_every = 200
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    c.train.ema_decays = (0.9999,)
    if arg == "runlocal":  # a tiny model for smoke tests
        c.objective.net = dict(patch=7, hidden=32, depth=1, num_heads=2, mlp_ratio=2.0)
        c.objective.sample_steps = 3
        runlocal(c)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_dit; known: runlocal")
    return c
