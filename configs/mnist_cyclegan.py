"""CycleGAN (Zhu et al. 2017) translating MNIST digits to their colour-inverted versions and
back, unpaired (domain A and domain B images come from different halves of each batch):
ResNet generators, PatchGAN discriminators, least-squares adversarial loss, cycle weight 10,
identity weight 5, image pool of 50, Adam(2e-4, 0.5, 0.999), batch 32 (16 per domain).

    genjax train --config configs/mnist_cyclegan.py --workdir runs/mnist_cyclegan
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 32
    c.objective.name = "cyclegan"
    c.objective.ch = 32
    c.objective.n_blocks = 3
    c.objective.d_ch = 32
    c.objective.d_layers = 2
    c.objective.lambda_cyc = 10.0
    c.objective.lambda_id = 5.0
    c.objective.pool_size = 50
    c.objective.domain_b = "invert"
    c.optim.lr = 2e-4
    c.optim.b1 = 0.5
    c.optim.b2 = 0.999
    c.train.steps = 10_000
    c.train.log_every = 200
    c.train.sample_every = 2000
    c.train.checkpoint_every = 2000
    c.train.ema_decays = (0.999,)
    c.sample.num = 16
    if arg == "runlocal":
        c.objective.ch = 4
        c.objective.n_blocks = 1
        c.objective.d_ch = 4
        c.objective.pool_size = 4
        c.train.steps = 2
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_cyclegan; known: runlocal")
    return c
