"""Digit-conditional DiffWave (Kong et al. 2021) on the Free Spoken Digit Dataset: 8 kHz waveforms of
one second, denoised by 30 non-causal residual layers of 64 channels with dilations 1 .. 512
(`genjax.nn.diffwave`) under the DDPM process of the paper (T = 200 steps, linear betas 1e-4 ..
0.02, eps-prediction), class-conditional with the label dropped 10% of the time so that samples
can use classifier-free guidance (Ho & Salimans 2022). It is the `diffusion` objective with the
`diffwave` backbone: every sampler and likelihood of `genjax.diffusion` applies.

The data is `audio:spoken_digit/recordings`: the folder `spoken_digit/recordings` (the FSDD WAV files) under data.data_dir:

    genjax train --config spoken_digit_diffwave --workdir runs/spoken_digit_diffwave --config.data.data_dir=../shared/data
    genjax sample --workdir runs/spoken_digit_diffwave --label 3 --guidance-scale 2 --out threes.npz
    genjax train --config spoken_digit_diffwave:runlocal --workdir /tmp/diffwave   # a few tiny steps

Variants: `runlocal` (10 steps of a 4-layer model on 1024-sample waveforms).
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="audio:spoken_digit/recordings", num_samples=8000, value_range=(-1.0, 1.0), batch_size=16)
    c.objective.update(
        name="diffusion", process="ddpm", schedule="linear", num_steps=200, beta_start=1e-4, beta_end=0.02,
        parameterization="eps", weighting="none", conditional=True, p_uncond=0.1, backbone="diffwave",
        net=dict(channels=64, num_layers=30, dilation_cycle=10, step_dim=512),
        sampler="ddpm", sample_steps=200, guidance_scale=1.0,
    )  # fmt: skip
    c.optim.update(lr=2e-4, clip_norm=1.0)
    c.train.update(steps=200_000, log_every=200, sample_every=20_000, checkpoint_every=10_000,
                   ema_decays=(0.9999,))  # fmt: skip
    c.sample.num = 10
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps at batch 8 of a 4-layer DiffWave of 8 channels on 1024-sample waveforms; 4 samples
    of 5 DDIM steps."""
    short_run(c)
    c.data.num_samples = 1024
    c.objective.update(net=dict(channels=8, num_layers=4, dilation_cycle=4, step_dim=32), sampler="ddim",
                       sample_steps=5)  # fmt: skip
    c.sample.num = 4
