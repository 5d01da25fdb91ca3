"""WGAN-GP (Gulrajani et al. 2017) on MNIST 28x28 with the DCGAN architecture: Wasserstein
loss, gradient penalty 10, 5 critic updates per generator update in one compiled step,
no batch norm in the critic (layer norm instead), Adam(1e-4, 0.0, 0.9), batch 64.

    genjax train --config mnist_wgan_gp --workdir runs/mnist_wgan_gp
"""

from genjax.config import base_config, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=64)
    c.objective.update(name="gan", loss="wasserstein", arch="dcgan", z_dim=128, generator=dict(base=64),
                       discriminator=dict(base=64, num_layers=2, norm="layer"), gp_weight=10.0, gp_target=1.0,
                       n_critic=5)
    c.optim.update(lr=1e-4, b1=0.0, b2=0.9)
    c.train.update(steps=20_000, log_every=200, sample_every=2000, checkpoint_every=2000, ema_decays=(0.999,))
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """Two steps of 4-channel networks, two critic updates each."""
    c.objective.update(z_dim=8, generator=dict(base=4), discriminator=dict(base=4), n_critic=2)
    c.train.steps = 2
