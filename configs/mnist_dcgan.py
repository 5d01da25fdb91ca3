"""DCGAN (Radford et al. 2016) on MNIST 28x28: transposed-conv generator with batch norm,
strided-conv discriminator with batch norm and leaky ReLU, non-saturating loss,
Adam(2e-4, 0.5, 0.999), batch 64, z_dim 100.

    genjax train --config configs/mnist_dcgan.py --workdir runs/mnist_dcgan
    genjax eval --workdir runs/mnist_dcgan --metrics fid
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 64
    c.objective.name = "gan"
    c.objective.loss = "non_saturating"
    c.objective.arch = "dcgan"
    c.objective.z_dim = 100
    c.objective.generator = dict(base=64)
    c.objective.discriminator = dict(base=64, num_layers=2, norm="batch")
    c.optim.lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.999
    c.train.steps = 20_000
    c.train.log_every = 200
    c.train.sample_every = 2000
    c.train.checkpoint_every = 2000
    c.train.ema_decays = (0.999,)
    c.sample.num = 64
    if arg == "runlocal":
        c.objective.z_dim = 8
        c.objective.generator = dict(base=4)
        c.objective.discriminator = dict(base=4, num_layers=2, norm="batch")
        c.train.steps = 2
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_dcgan; known: runlocal")
    return c
