"""StyleGAN2 on CIFAR-10 32x32 with the settings of the StyleGAN2-ADA paper's CIFAR-10 config
(Karras et al. 2020b, "Training Generative Adversarial Networks with Limited Data", appendix D):
channel_base 32768 (512 channels at every resolution), minibatch-std group 32, 2-layer
mapping network, w_dim 512, batch 64, Adam(lr 0.0025, betas (0, 0.99)), R1 gamma 0.01 lazily every 16 steps, no path-length
regularisation and no style mixing, generator EMA with a half-life of 500k images
(0.5 ** (64 / 500_000) per step), 100M images shown. ADA's adaptive augmentation is not
implemented; `:diffaugment` uses DiffAugment instead, `:cond` is class-conditional.
For GPU/TPU; far too large for a CPU.

    genjax train --config cifar10_stylegan2 --workdir runs/cifar10_sg2
    genjax train --config cifar10_stylegan2:cond,diffaugment --workdir runs/cifar10_sg2_cond
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:cifar10", value_range=(-1.0, 1.0), random_flip=True, batch_size=64)
    c.objective.update(
        name="gan", loss="non_saturating", arch="stylegan2", z_dim=512,
        generator=dict(w_dim=512, mapping_layers=2, channel_base=32768, channel_max=512),
        discriminator=dict(channel_base=32768, channel_max=512, mbstd_group=32),
        r1_gamma=0.01, r1_every=16, pl_weight=0.0, mixing_prob=0.0)
    c.optim.update(lr=0.0025, b1=0.0, b2=0.99)
    c.train.update(steps=100_000_000 // 64, log_every=1000, sample_every=50_000, checkpoint_every=50_000,
                   ema_decays=(0.5 ** (64 / 500_000),), compute_dtype="bfloat16")
    c.sample.num = 64
    c.eval.update(metrics=("fid",), num=50_000)
    return variants(c, arg, cond=conditional, diffaugment=diffaugment, runlocal=runlocal)


def runlocal(c):
    """10 steps of 4-channel networks with a one-layer mapping (minibatch-std groups of 4) on
    batches of 8, R1 at every step."""
    c.objective.update(z_dim=8, generator=dict(w_dim=8, mapping_layers=1, channel_base=128, channel_max=4),
                       discriminator=dict(channel_base=128, channel_max=4, mbstd_group=4), r1_every=1)
    short_run(c)


def conditional(c):
    """Class-conditional generator and discriminator."""
    c.objective.conditional = True


def diffaugment(c):
    """DiffAugment (colour, translation, cutout) on real and generated images."""
    c.objective.diffaugment = "color,translation,cutout"
