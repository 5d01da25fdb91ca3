"""EDM (Karras et al. 2022) on Fashion-MNIST: F-parameterization with c_skip/c_out/c_in/c_noise
preconditioning, log-normal training sigmas (P_mean -1.2, P_std 1.2), lambda(sigma) weighting,
Heun sampling on the rho = 7 grid (18 steps, 35 network evaluations, as for CIFAR-10).

    genjax train --config fashion_mnist_edm --workdir runs/fmnist_edm
    genjax sample --workdir runs/fmnist_edm --sampler heun --steps 18 --out samples.png
"""

from genjax.config import base_config, variants
from genjax.configs import mnist_ddpm


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:fashion_mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="diffusion", process="edm", sigma_min=0.002, sigma_max=80.0, rho=7.0, p_mean=-1.2, p_std=1.2,
        sigma_data=0.5, parameterization="edm", weighting="edm", conditional=False, backbone="unet",
        net=dict(ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(7,), dropout=0.1, num_heads=4,
                 scale_shift=True),
        sampler="heun", sample_steps=18)
    c.optim.update(lr=2e-4, warmup_steps=1000)
    c.train.update(steps=50_000, log_every=200, sample_every=5000, checkpoint_every=5000, ema_decays=(0.999, 0.9999))
    return variants(c, arg, runlocal=mnist_ddpm.runlocal)  # the same tiny UNet on 28x28 images
