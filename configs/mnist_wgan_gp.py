"""WGAN-GP (Gulrajani et al. 2017) on MNIST 28x28 with the DCGAN architecture: Wasserstein
loss, gradient penalty 10, 5 critic updates per generator update in one compiled step,
no batch norm in the critic (layer norm instead), Adam(1e-4, 0.0, 0.9), batch 64.

    genjax train --config configs/mnist_wgan_gp.py --workdir runs/mnist_wgan_gp
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 64
    c.objective.name = "gan"
    c.objective.loss = "wasserstein"
    c.objective.arch = "dcgan"
    c.objective.z_dim = 128
    c.objective.generator = dict(base=64)
    c.objective.discriminator = dict(base=64, num_layers=2, norm="layer")
    c.objective.gp_weight = 10.0
    c.objective.gp_target = 1.0
    c.objective.n_critic = 5
    c.optim.lr = 1e-4
    c.optim.b1 = 0.0
    c.optim.b2 = 0.9
    c.train.steps = 20_000
    c.train.log_every = 200
    c.train.sample_every = 2000
    c.train.checkpoint_every = 2000
    c.train.ema_decays = (0.999,)
    c.sample.num = 64
    if arg == "runlocal":
        c.objective.z_dim = 8
        c.objective.generator = dict(base=4)
        c.objective.discriminator = dict(base=4, num_layers=2, norm="layer")
        c.objective.n_critic = 2
        c.train.steps = 2
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_wgan_gp; known: runlocal")
    return c
