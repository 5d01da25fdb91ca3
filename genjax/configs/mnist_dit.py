"""Class-conditional DiT (Peebles & Xie 2023) on MNIST: patch 2 (14x14 = 196 tokens), DiT-S width
(384, 12 blocks, 6 heads), v-prediction on the cosine schedule, classifier-free guidance. Params
carry logical axis names: set config.mesh.fsdp / config.mesh.tensor to shard them.

    genjax train --config mnist_dit --workdir runs/mnist_dit
    genjax sample --workdir runs/mnist_dit --sampler dpmpp_2m --steps 20 --guidance-scale 1.5 --out samples.png
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="diffusion", process="ddpm", schedule="cosine", parameterization="v", weighting="min_snr", p_uncond=0.1,
        backbone="dit", net=dict(patch=2, hidden=384, depth=12, num_heads=6, mlp_ratio=4.0), sampler="dpmpp_2m",
        sample_steps=20, guidance_scale=1.5)
    c.optim.update(name="adamw", lr=1e-4, warmup_steps=1000)
    c.train.update(steps=100_000, log_every=200, sample_every=5000, checkpoint_every=5000, ema_decays=(0.9999,))
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a one-block DiT on 7x7 patches; 3-step samples."""
    c.objective.net = dict(patch=7, hidden=32, depth=1, num_heads=2, mlp_ratio=2.0)
    c.objective.sample_steps = 3
    short_run(c)
