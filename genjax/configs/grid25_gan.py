"""GAN on the 25-Gaussian grid (PacGAN's 2D-grid: {-4, ..., 4}^2, std 0.05), the mode-collapse
benchmark, with the same general recipe as the `ring8_gan` config (see there):

    genjax train --config grid25_gan --workdir runs/grid25_gan
    genjax eval --workdir runs/grid25_gan --metrics mode_coverage
    genjax train --config grid25_gan:baseline ...   # plain non-saturating GAN
    genjax train --config grid25_gan:runlocal ...   # a few steps

`benchmarks/gan_mode_coverage.py` trains 10 seeds of each and prints the PacGAN-protocol table.
"""

from genjax.config import base_config, variants
from genjax.configs import ring8_gan


def get_config(arg=None):
    c = ring8_gan.gan_recipe(base_config(), "builtin:grid25")
    c.train.steps = 20_000  # 25 modes: the generator needs longer to sharpen than on the ring
    return variants(c, arg, baseline=ring8_gan.plain_baseline, runlocal=ring8_gan.runlocal)
