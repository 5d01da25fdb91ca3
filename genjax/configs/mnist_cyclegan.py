"""CycleGAN (Zhu et al. 2017) translating MNIST digits to their colour-inverted versions and
back, unpaired (domain A and domain B images come from different halves of each batch):
ResNet generators, PatchGAN discriminators, least-squares adversarial loss, cycle weight 10,
identity weight 5, image pool of 50, Adam(2e-4, 0.5, 0.999), batch 32 (16 per domain).

    genjax train --config mnist_cyclegan --workdir runs/mnist_cyclegan
"""

from genjax.config import base_config, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=32)
    c.objective.update(name="cyclegan", ch=32, n_blocks=3, d_ch=32, d_layers=2, lambda_cyc=10.0, lambda_id=5.0,
                       pool_size=50, domain_b="invert")
    c.optim.update(lr=2e-4, b1=0.5, b2=0.999)
    c.train.update(steps=10_000, log_every=200, sample_every=2000, checkpoint_every=2000, ema_decays=(0.999,))
    c.sample.num = 16
    return variants(c, arg, runlocal=runlocal)


def runlocal(c):
    """Two steps of 4-channel networks with one residual block and a pool of 4."""
    c.objective.update(ch=4, n_blocks=1, d_ch=4, pool_size=4)
    c.train.steps = 2
