"""DCGAN (Radford et al. 2016) on MNIST 28x28: transposed-conv generator with batch norm,
strided-conv discriminator with batch norm and leaky ReLU, non-saturating loss,
Adam(2e-4, 0.5, 0.999), batch 64, z_dim 100.

    genjax train --config mnist_dcgan --workdir runs/mnist_dcgan
    genjax eval --workdir runs/mnist_dcgan --metrics fid
"""

from genjax.config import base_config, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=64)
    c.objective.update(name="gan", loss="non_saturating", arch="dcgan", z_dim=100, generator=dict(base=64),
                       discriminator=dict(base=64, num_layers=2, norm="batch"))
    c.optim.update(lr=2e-4, b1=0.5, b2=0.999)
    c.train.update(steps=20_000, log_every=200, sample_every=2000, checkpoint_every=2000, ema_decays=(0.999,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """Two steps of 4-channel networks."""
    c.objective.update(z_dim=8, generator=dict(base=4), discriminator=dict(base=4))
    c.train.steps = 2
