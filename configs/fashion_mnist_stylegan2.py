"""A small StyleGAN2 (Karras et al. 2020) on Fashion-MNIST: generated at 32x32 and cropped to
28x28; mapping network (4 layers, w_dim 256), modulated/demodulated convolutions with noise
inputs, style mixing 0.9, skip generator, residual discriminator with minibatch std;
non-saturating loss, lazy R1 (gamma 0.1 every 16 steps), lazy path-length regularisation
(weight 2 every 4 steps), Adam(2.5e-3, 0.0, 0.99), generator EMA, DiffAugment.

    genjax train --config configs/fashion_mnist_stylegan2.py --workdir runs/fmnist_sg2
    genjax sample --workdir runs/fmnist_sg2 --option truncation_psi=0.7 --out samples.png
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:fashion_mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 32
    c.objective.name = "gan"
    c.objective.loss = "non_saturating"
    c.objective.arch = "stylegan2"
    c.objective.z_dim = 256
    c.objective.generator = dict(w_dim=256, mapping_layers=4, channel_base=8192, channel_max=256)
    c.objective.discriminator = dict(channel_base=8192, channel_max=256, mbstd_group=4)
    c.objective.r1_gamma = 0.1
    c.objective.r1_every = 16
    c.objective.pl_weight = 2.0
    c.objective.pl_every = 4
    c.objective.mixing_prob = 0.9
    c.objective.diffaugment = "color,translation,cutout"
    c.optim.lr = 2.5e-3
    c.optim.b1 = 0.0
    c.optim.b2 = 0.99
    c.optim.eps = 1e-8
    c.train.steps = 100_000
    c.train.log_every = 200
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    c.train.ema_decays = (0.999,)
    c.sample.num = 64
    if arg == "runlocal":
        c.objective.z_dim = 8
        c.objective.generator = dict(w_dim=8, mapping_layers=1, channel_base=128, channel_max=4)
        c.objective.discriminator = dict(channel_base=128, channel_max=4, mbstd_group=4)
        c.objective.r1_every = 1
        c.objective.pl_every = 1
        c.train.steps = 2
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of fashion_mnist_stylegan2; known: runlocal")
    return c
