"""SNGAN (Miyato et al. 2018) on Fashion-MNIST 28x28: ResNet generator (7 -> 14 -> 28) and
spectrally normalised ResNet discriminator, hinge loss, n_critic 5, Adam(2e-4, 0.0, 0.9),
batch 64. `:cond` trains class-conditionally with a projection discriminator
(Miyato & Koyama 2018) and conditional batch norm in the generator.

    genjax train --config fashion_mnist_sngan --workdir runs/fmnist_sngan
    genjax train --config fashion_mnist_sngan:cond --workdir runs/fmnist_sngan_cond
"""

from genjax.config import base_config, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:fashion_mnist", value_range=(-1.0, 1.0), batch_size=64)
    c.objective.update(name="gan", loss="hinge", arch="sngan", z_dim=128, generator=dict(ch=128),
                       discriminator=dict(ch=128, num_down=2), n_critic=5)
    c.optim.update(lr=2e-4, b1=0.0, b2=0.9)
    c.train.update(steps=50_000, log_every=200, sample_every=5000, checkpoint_every=5000, ema_decays=(0.9999,))
    c.sample.num = 64
    return variants(c, arg, cond=conditional, runlocal=runlocal)


def conditional(c):
    """A projection discriminator and conditional batch norm in the generator."""
    c.objective.conditional = True


def runlocal(c):
    """Two steps of 4-channel networks, one critic update each."""
    c.objective.update(z_dim=8, generator=dict(ch=4), discriminator=dict(ch=4), n_critic=1)
    c.train.steps = 2
