"""GAN on the 25-Gaussian grid (PacGAN's 2D-grid: {-4, ..., 4}^2, std 0.05), the mode-collapse
benchmark, with the same general recipe as `ring8_gan.py` (see there):

    genjax train --config configs/grid25_gan.py --workdir runs/grid25_gan
    genjax eval --workdir runs/grid25_gan --metrics mode_coverage
    genjax train --config configs/grid25_gan.py:baseline ...   # plain non-saturating GAN
    genjax train --config configs/grid25_gan.py:runlocal ...   # a few steps

`benchmarks/gan_mode_coverage.py` trains 10 seeds of each and prints the PacGAN-protocol table.
"""

import importlib.util
from pathlib import Path

from genjax.config import base_config

_spec = importlib.util.spec_from_file_location("ring8_gan", Path(__file__).with_name("ring8_gan.py"))
ring8_gan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ring8_gan)


def get_config(arg=None):
    c = ring8_gan.gan_recipe(base_config(), "builtin:grid25")
    c.train.steps = 20_000  # 25 modes: the generator needs longer to sharpen than on the ring
    variants = {"baseline": ring8_gan.plain_baseline, "runlocal": ring8_gan.runlocal}
    for name in filter(None, (arg or "").split(",")):
        if name not in variants:
            raise ValueError(f"unknown variant {name!r} of grid25_gan; known: {sorted(variants)}")
        c = variants[name](c)
    return c
