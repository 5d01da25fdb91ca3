"""SNGAN (Miyato et al. 2018) on Fashion-MNIST 28x28: ResNet generator (7 -> 14 -> 28) and
spectrally normalised ResNet discriminator, hinge loss, n_critic 5, Adam(2e-4, 0.0, 0.9),
batch 64. `:cond` trains class-conditionally with a projection discriminator
(Miyato & Koyama 2018) and conditional batch norm in the generator.

    genjax train --config configs/fashion_mnist_sngan.py --workdir runs/fmnist_sngan
    genjax train --config configs/fashion_mnist_sngan.py:cond --workdir runs/fmnist_sngan_cond
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:fashion_mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 64
    c.objective.name = "gan"
    c.objective.loss = "hinge"
    c.objective.arch = "sngan"
    c.objective.z_dim = 128
    c.objective.generator = dict(ch=128)
    c.objective.discriminator = dict(ch=128, num_down=2)
    c.objective.n_critic = 5
    c.optim.lr = 2e-4
    c.optim.b1 = 0.0
    c.optim.b2 = 0.9
    c.train.steps = 50_000
    c.train.log_every = 200
    c.train.sample_every = 5000
    c.train.checkpoint_every = 5000
    c.train.ema_decays = (0.9999,)
    c.sample.num = 64
    for name in filter(None, (arg or "").split(",")):
        if name == "cond":
            c.objective.conditional = True
        elif name == "runlocal":
            c.objective.z_dim = 8
            c.objective.generator = dict(ch=4)
            c.objective.discriminator = dict(ch=4, num_down=2)
            c.objective.n_critic = 1
            c.train.steps = 2
        else:
            raise ValueError(f"unknown variant {name!r} of fashion_mnist_sngan; known: cond, runlocal")
    return c
