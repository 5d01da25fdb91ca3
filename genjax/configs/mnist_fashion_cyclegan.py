"""CycleGAN (Zhu et al. 2017) between two datasets: MNIST digits (domain A) and Fashion-MNIST
clothes (domain B), unpaired. The data source `unpaired:tfds:mnist|tfds:fashion_mnist` gives each
example a digit and an unrelated garment on the channel axis (`genjax.data.unpaired`); the
networks and losses are those of the `mnist_cyclegan` config (ResNet generators, PatchGAN
discriminators, least-squares loss, cycle weight 10, identity weight 5, pool of 50).

    genjax data prepare mnist --from DIR             # the idx files of each dataset
    genjax data prepare fashion_mnist --from DIR
    genjax train --config mnist_fashion_cyclegan --workdir runs/mnist_fashion_cyclegan
    genjax eval --workdir runs/mnist_fashion_cyclegan --metrics fid   # G(digit) against clothes
"""

from genjax.config import variants
from genjax.configs import mnist_cyclegan


def get_config(arg=None):
    c = mnist_cyclegan.get_config()
    c.data.source = "unpaired:tfds:mnist|tfds:fashion_mnist"
    c.data.batch_size = 16  # 16 digits and 16 garments per step, as many as mnist_cyclegan's halves
    c.objective.domain_b = "unpaired"
    return variants(c, arg, runlocal=mnist_cyclegan.runlocal)
