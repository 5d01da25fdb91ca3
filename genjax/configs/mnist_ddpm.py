"""Class-conditional DDPM on MNIST (28x28) with classifier-free guidance: a UNet with
channels (64, 128, 128), attention at 7x7, eps-prediction on the linear schedule.

    genjax train --config mnist_ddpm --workdir runs/mnist_ddpm
    genjax sample --workdir runs/mnist_ddpm --sampler ddim --steps 50 --guidance-scale 2 --label 3 --out threes.png
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="diffusion", process="ddpm", schedule="linear", num_steps=1000, parameterization="eps",
        weighting="min_snr", min_snr_gamma=5.0, p_uncond=0.1, backbone="unet",
        net=dict(ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(7,), dropout=0.1, num_heads=4,
                 scale_shift=True),
        sampler="ddim", sample_steps=50, guidance_scale=2.0)
    c.optim.update(lr=2e-4, warmup_steps=1000, clip_norm=1.0)
    c.train.update(steps=50_000, log_every=200, sample_every=5000, checkpoint_every=5000, ema_decays=(0.999, 0.9999))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a tiny UNet (8 channels, attention at 14x14) on 28x28 images; 3-step samples.
    The `fashion_mnist_edm` config's runlocal too."""
    c.objective.net = dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(14,), dropout=0.0, num_heads=1,
                           scale_shift=True)
    c.objective.sample_steps = 3
    short_run(c)
