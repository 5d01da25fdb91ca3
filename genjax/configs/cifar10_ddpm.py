"""DDPM on CIFAR-10 with the paper's settings (Ho et al. 2020, appendix B): the 35.7M-parameter
UNet (ch 128, ch_mult (1, 2, 2, 2), 2 res blocks, attention at 16x16, dropout 0.1), T = 1000 linear
betas 1e-4 .. 0.02, eps-prediction with L_simple, Adam lr 2e-4 with 5000 warmup steps, batch 128,
random horizontal flips, EMA 0.9999, 800k steps. For GPU/TPU users.

    genjax train --config cifar10_ddpm --workdir runs/cifar10_ddpm
    genjax sample --workdir runs/cifar10_ddpm --sampler ddpm --steps 1000 --out samples.png
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:cifar10", value_range=(-1.0, 1.0), batch_size=128, random_flip=True)
    c.objective.update(
        name="diffusion", process="ddpm", schedule="linear", num_steps=1000, beta_start=1e-4, beta_end=0.02,
        parameterization="eps", weighting="none", conditional=False, backbone="unet",
        net=dict(ch=128, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,), dropout=0.1),
        sampler="ddpm", sample_steps=1000)
    c.optim.update(lr=2e-4, warmup_steps=5000, clip_norm=1.0)
    c.train.update(steps=800_000, log_every=1000, sample_every=50_000, checkpoint_every=10_000, ema_decays=(0.9999,))
    c.eval.update(metrics=("fid",), num=50_000)
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a tiny UNet of the same architecture (8 channels, attention at 16x16, dropout
    0.1) on batches of 8; 2-step samples."""
    c.objective.net = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), dropout=0.1, num_heads=1)
    c.objective.sample_steps = 2
    short_run(c)
