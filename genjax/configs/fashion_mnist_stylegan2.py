"""A small StyleGAN2 (Karras et al. 2020) on Fashion-MNIST: generated at 32x32 and cropped to
28x28; mapping network (4 layers, w_dim 256), modulated/demodulated convolutions with noise
inputs, style mixing 0.9, skip generator, residual discriminator with minibatch std;
non-saturating loss, lazy R1 (gamma 0.1 every 16 steps), lazy path-length regularisation
(weight 2 every 4 steps), Adam(2.5e-3, 0.0, 0.99), generator EMA, DiffAugment.

    genjax train --config fashion_mnist_stylegan2 --workdir runs/fmnist_sg2
    genjax sample --workdir runs/fmnist_sg2 --option truncation_psi=0.7 --out samples.png
"""

from genjax.config import base_config, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:fashion_mnist", value_range=(-1.0, 1.0), batch_size=32)
    c.objective.update(
        name="gan", loss="non_saturating", arch="stylegan2", z_dim=256,
        generator=dict(w_dim=256, mapping_layers=4, channel_base=8192, channel_max=256),
        discriminator=dict(channel_base=8192, channel_max=256, mbstd_group=4),
        r1_gamma=0.1, r1_every=16, pl_weight=2.0, pl_every=4, mixing_prob=0.9, diffaugment="color,translation,cutout")
    c.optim.update(lr=2.5e-3, b1=0.0, b2=0.99, eps=1e-8)
    c.train.update(steps=100_000, log_every=200, sample_every=5000, checkpoint_every=5000, ema_decays=(0.999,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """Two steps of 4-channel networks with a one-layer mapping, regularised at every step."""
    c.objective.update(z_dim=8, generator=dict(w_dim=8, mapping_layers=1, channel_base=128, channel_max=4),
                       discriminator=dict(channel_base=128, channel_max=4), r1_every=1, pl_every=1)
    c.train.steps = 2
