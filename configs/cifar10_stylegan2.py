"""StyleGAN2 on CIFAR-10 32x32 with the settings of the StyleGAN2-ADA paper's CIFAR-10 config
(Karras et al. 2020b, "Training Generative Adversarial Networks with Limited Data", appendix D):
channel_base 32768 (512 channels at every resolution), minibatch-std group 32, 2-layer
mapping network, w_dim 512, batch 64, Adam(lr 0.0025, betas (0, 0.99)), R1 gamma 0.01 lazily every 16 steps, no path-length
regularisation and no style mixing, generator EMA with a half-life of 500k images
(0.5 ** (64 / 500_000) per step), 100M images shown. ADA's adaptive augmentation is not
implemented; `:diffaugment` uses DiffAugment instead, `:cond` is class-conditional.
For GPU/TPU; far too large for a CPU.

    genjax train --config configs/cifar10_stylegan2.py --workdir runs/cifar10_sg2
"""

from genjax.config import base_config


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:cifar10"
    c.data.value_range = (-1.0, 1.0)
    c.data.random_flip = True
    c.data.batch_size = 64
    c.objective.name = "gan"
    c.objective.loss = "non_saturating"
    c.objective.arch = "stylegan2"
    c.objective.z_dim = 512
    c.objective.generator = dict(w_dim=512, mapping_layers=2, channel_base=32768, channel_max=512)
    c.objective.discriminator = dict(channel_base=32768, channel_max=512, mbstd_group=32)
    c.objective.r1_gamma = 0.01
    c.objective.r1_every = 16
    c.objective.pl_weight = 0.0
    c.objective.mixing_prob = 0.0
    c.optim.lr = 0.0025
    c.optim.b1 = 0.0
    c.optim.b2 = 0.99
    c.train.steps = 100_000_000 // 64
    c.train.log_every = 1000
    c.train.sample_every = 50_000
    c.train.checkpoint_every = 50_000
    c.train.ema_decays = (0.5 ** (64 / 500_000),)
    c.train.compute_dtype = "bfloat16"
    c.sample.num = 64
    c.eval.metrics = ("fid",)
    c.eval.num = 50_000
    for name in filter(None, (arg or "").split(",")):
        if name == "cond":
            c.objective.conditional = True
        elif name == "diffaugment":
            c.objective.diffaugment = "color,translation,cutout"
        else:
            raise ValueError(f"unknown variant {name!r} of cifar10_stylegan2; known: cond, diffaugment")
    return c
