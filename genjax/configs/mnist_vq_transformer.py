"""A transformer prior over the 7x7 codes of a trained VQ-VAE on 8-bit MNIST (van den Oord et al.
2017, sec. 3.2): the `autoregressive` family with the VQ-VAE as a frozen component reads each
image's 49 codes in raster order after a start token and learns p(z) with a causal transformer
(4 layers, 4 heads, width 128); samples are codes drawn from the prior, decoded by the VQ-VAE.
It needs that VQ-VAE run first, trained with the `mnist_vqvae` config (the same data settings)
into `components.vqvae.workdir`; its raw params are used (`ema_index=-1`: the codebook follows the
raw encoder, not an EMA of it). Logged: `loss/model` (nats per code), `model/bits_per_code`.

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_vqvae --workdir runs/mnist_vqvae
    genjax train --config mnist_vq_transformer --workdir runs/mnist_vq_transformer
    genjax sample --workdir runs/mnist_vq_transformer --option temperature=0.9 --out samples.png

Another VQ-VAE run: --config.components.vqvae.workdir=PATH. The `runlocal` variant trains a few
steps of a tiny prior on top of any VQ-VAE run, e.g. one of mnist_vqvae:runlocal.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(name="autoregressive", num_layers=4, num_heads=4, dim=128, mlp_ratio=4, dropout=0.1)
    c.components.vqvae = dict(workdir="runs/mnist_vqvae", ema_index=-1)
    c.optim.update(lr=1e-3, schedule="cosine", warmup_steps=500, clip_norm=1.0)
    c.train.update(steps=20_000, log_every=200, sample_every=5_000, checkpoint_every=5_000, ema_decays=(0.999,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """10 steps of a one-layer prior of width 16 at batch 8."""
    short_run(c)
    c.objective.update(num_layers=1, num_heads=2, dim=16, dropout=0.0)
