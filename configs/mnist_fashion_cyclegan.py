"""CycleGAN (Zhu et al. 2017) between two datasets: MNIST digits (domain A) and Fashion-MNIST
clothes (domain B), unpaired. The data source `unpaired:tfds:mnist|tfds:fashion_mnist` gives each
example a digit and an unrelated garment on the channel axis (`genjax.data.unpaired`); the
networks and losses are those of `mnist_cyclegan.py` (ResNet generators, PatchGAN
discriminators, least-squares loss, cycle weight 10, identity weight 5, pool of 50).

    genjax data prepare mnist --from DIR             # the idx files of each dataset
    genjax data prepare fashion_mnist --from DIR
    genjax train --config configs/mnist_fashion_cyclegan.py --workdir runs/mnist_fashion_cyclegan
    genjax eval --workdir runs/mnist_fashion_cyclegan --metrics fid   # G(digit) against clothes
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("mnist_cyclegan", Path(__file__).with_name("mnist_cyclegan.py"))
mnist_cyclegan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mnist_cyclegan)


def get_config(arg=None):
    if arg not in (None, "runlocal"):
        raise ValueError(f"unknown variant {arg!r} of mnist_fashion_cyclegan; known: runlocal")
    c = mnist_cyclegan.get_config(arg)
    c.data.source = "unpaired:tfds:mnist|tfds:fashion_mnist"
    c.data.batch_size = 16  # 16 digits and 16 garments per step, as many as mnist_cyclegan's halves
    c.objective.domain_b = "unpaired"
    return c
