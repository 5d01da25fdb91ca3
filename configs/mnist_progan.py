"""ProGAN (Karras et al. 2018) on MNIST resized to 32x32: progressive growing 4 -> 8 -> 16 -> 32,
each new resolution faded in over 4000 steps and stabilised for 4000, WGAN-GP (gp 10) with drift
0.001, one critic update per generator update, equalised learning rate, pixel norm, minibatch
std, Adam(1e-3, 0.0, 0.99, eps 1e-8), generator EMA 0.999.

As in the reference code's one-GPU preset (minibatch_dict {4: 128, 8: 128, 16: 128, 32: 64}),
the minibatch depends on the resolution: 128 at 4x4-16x16 (512k images per fade-in or
stabilisation), 64 at 32x32 (256k). Adam's state restarts when a fade-in starts and when it ends
(reset_opt_for_new_lod). The learning rate is 1e-3 at every resolution (the reference raises it
only from 128x128 up); `objective.lr_scales` would change it per resolution, e.g.
`--config.objective.lr_scales.32=0.5`.

MNIST's 28x28 digits are resized (bilinear, antialiased) to 32x32 on loading so that growth
follows the paper exactly: 2x stages from a 4x4 first block, which holds the minibatch std and
the final 4x4 -> dense layer. The 28x28 alternative, 7 -> 14 -> 28, has only three stages and a
7x7 first block; 4 -> 7 is not a 2x step. Samples and evaluation are 32x32.

    genjax train --config configs/mnist_progan.py --workdir runs/mnist_progan
    genjax eval --workdir runs/mnist_progan --metrics fid
"""

from genjax.config import base_config, runlocal


def get_config(arg=None):
    c = base_config()
    c.data.source = "tfds:mnist"
    c.data.image_size = 32
    c.data.value_range = (-1.0, 1.0)
    c.data.batch_size = 64
    c.objective.name = "progan"
    c.objective.loss = "wasserstein"
    c.objective.z_dim = 128
    c.objective.generator = dict(channel_base=2048, channel_max=256)
    c.objective.discriminator = dict(channel_base=2048, channel_max=256, mbstd_group=4)
    c.objective.gp_weight = 10.0
    c.objective.drift = 0.001
    c.objective.n_critic = 1
    c.objective.fade_steps = 4000
    c.objective.stable_steps = 4000
    c.objective.batch_sizes = {"4": 128, "8": 128, "16": 128, "32": 64}  # resolution -> global batch
    c.objective.reset_optimizer = True
    c.optim.lr = 1e-3
    c.optim.b1 = 0.0
    c.optim.b2 = 0.99
    c.optim.eps = 1e-8
    # stage 0: 4000 steps, stages 1-3: 8000 each; 4000 more at 32x32
    c.train.steps = 32_000
    c.train.log_every = 200
    c.train.sample_every = 2000
    c.train.checkpoint_every = 2000
    c.train.ema_decays = (0.999,)
    c.sample.num = 64
    if arg == "runlocal":  # 10 steps, all stages: 4x4 step 0, 8x8 1-3, 16x16 4-6, 32x32 7-9
        runlocal(c)
        c.objective.batch_sizes = {"4": 16, "8": 16, "16": 8, "32": 8}
        c.objective.z_dim = 8
        c.objective.generator = dict(channel_base=32, channel_max=4)
        c.objective.discriminator = dict(channel_base=32, channel_max=4, mbstd_group=4)
        c.objective.fade_steps = 2
        c.objective.stable_steps = 1
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of mnist_progan; known: runlocal")
    return c
