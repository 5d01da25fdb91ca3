"""A small UNet DDPM on scikit-learn's 8x8 digits resized to 16x16: offline, trains in about two
minutes on 2 CPU cores (compilation and sampling included) to recognisable digits.

    genjax train --config digits_ddpm --workdir runs/digits_ddpm
    genjax sample --workdir runs/digits_ddpm --sampler ddim --steps 50 --out samples.png
    genjax train --config digits_ddpm:runlocal --workdir runs/digits_ddpm_local   # a few steps

v-prediction (Salimans & Ho 2022) rather than eps: with this little training, eps-prediction's
x0 estimate (x_t - sigma eps_hat) / alpha amplifies the network's error by 1 / alpha at the
noisiest steps and gave saturated noise where v gives digits. The network is kept small (two
levels, no attention but the middle block's) because on a CPU compilation is a large part of
the budget.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="builtin:digits", image_size=16, value_range=(-1.0, 1.0), batch_size=32)
    c.objective.update(
        name="diffusion", process="ddpm", schedule="cosine", num_steps=1000, parameterization="v", weighting="none",
        conditional=False, backbone="unet",
        net=dict(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(), dropout=0.0),
        sampler="ddim", sample_steps=25)
    c.optim.update(lr=2e-3, warmup_steps=100, clip_norm=1.0)
    c.train.update(steps=1200, log_every=100, sample_every=1200, checkpoint_every=1200, ema_decays=(0.995,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps at batch 16; 5-step sample grids of 16."""
    short_run(c, batch_size=16)
    c.objective.sample_steps = 5
    c.sample.num = 16
