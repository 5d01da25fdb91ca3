"""Digit-conditional WaveNet (van den Oord et al. 2016) on the Free Spoken Digit Dataset: 8 kHz
waveforms of one second, mu-law companded to 256 levels and modelled by a softmax per sample
(`genjax.objectives.wavenet`). Two cycles of dilations 1 .. 512 (20 gated layers of 64 channels,
a receptive field of 2048 samples, a quarter of a second), the digit's embedding in every layer.
Evaluation: the exact -log P of the mu-law codes (`eval/bits_per_dim`: bits per sample; `eval/nll`:
nats per sample). Samples are generated with the fast-WaveNet queues (Paine et al. 2016) as one
compiled scan over time.

The data is `audio:spoken_digit/recordings`: the folder `spoken_digit/recordings` (the FSDD WAV files) under data.data_dir:

    genjax train --config spoken_digit_wavenet --workdir runs/spoken_digit_wavenet --config.data.data_dir=../shared/data
    genjax eval --workdir runs/spoken_digit_wavenet --metrics nll --num 300
    genjax sample --workdir runs/spoken_digit_wavenet --label 7 --out sevens.npz
    genjax train --config spoken_digit_wavenet:runlocal --workdir /tmp/wavenet   # a few tiny steps

Variants: `runlocal` (10 steps of a 4-layer model on 256-sample waveforms).
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="audio:spoken_digit/recordings", num_samples=8000, value_range=(-1.0, 1.0), batch_size=16)
    c.objective.update(
        name="wavenet", residual_channels=64, dilation_channels=64, skip_channels=128, num_layers=20,
        dilation_cycle=10, conditional=True,
    )  # fmt: skip
    c.optim.update(lr=1e-3, clip_norm=1.0)
    c.train.update(steps=100_000, log_every=200, sample_every=20_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.9999,))  # fmt: skip
    c.eval.update(metrics=("nll",), num=300)
    c.sample.num = 10
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps at batch 8 of a 4-layer WaveNet of 8 channels on 256-sample waveforms, evaluated on 8."""
    short_run(c)
    c.data.num_samples = 256
    c.objective.update(residual_channels=8, dilation_channels=8, skip_channels=16, num_layers=4, dilation_cycle=4)
    c.train.eval_every = 10
    c.eval.num = 8
    c.sample.num = 4
