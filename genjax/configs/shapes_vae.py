"""beta-VAE on `builtin:shapes` (32x32 sprites of five known factors: shape, scale, rotation, x,
y; see `genjax.data.shapes`) with the dSprites architecture of Higgins et al. 2017 (appendix A.4):
fully connected encoder and decoder of 1200-1200 ReLU units, 10 latents, beta = 4, dynamically
binarized sprites under a Bernoulli likelihood. Evaluation scores the posterior means against the
true factors: MIG (Chen et al. 2018) and DCI (Eastwood & Williams 2018), with the KL per latent
unit; the sample steps also write latent traversal grids (`samples/traversals_<step>.png`: a row
per unit, most informative first).

    genjax train --config shapes_vae --workdir runs/shapes_vae
    genjax eval --workdir runs/shapes_vae --metrics mig,dci,latent_kl --num 600
    genjax train --config shapes_vae:runlocal --workdir /tmp/shapes_vae   # a few tiny steps

Variants: `beta1` (the plain VAE, for comparison), `resnet` (a convolutional ResNet encoder and
decoder over 32 -> 16 -> 8 pixels instead of the MLPs; ~5x slower per step on a CPU), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="builtin:shapes", binarize=True, value_range=(0.0, 1.0), batch_size=64, eval_split="test")
    c.objective.update(
        name="vae", backbone="mlp", hidden=(1200, 1200), latent_dim=10, likelihood="bernoulli", beta=4.0,
        kl_warmup_steps=2_000,
    )  # fmt: skip
    c.optim.update(lr=5e-4, clip_norm=100.0)
    c.train.update(steps=20_000, log_every=200, sample_every=5_000, eval_every=5_000, checkpoint_every=5_000)
    c.eval.update(metrics=("mig", "dci", "latent_kl"), num=600)  # latent_kl: the 614 test sprites
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, beta1=beta1, resnet=resnet)


def beta1(c):
    """The plain VAE (beta = 1), the baseline of the disentanglement scores."""
    c.objective.beta = 1.0


def resnet(c):
    """A ResNet encoder/decoder (`genjax.nn.resnet_vae`): channels 32 and 64, one block per level."""
    c.objective.update(backbone="resnet", channels=(32, 64), num_blocks=1)


def runlocal(c):
    """10 steps of a one-layer VAE at batch 8, MIG/DCI on 64 examples (`resnet,runlocal`: a
    one-level ResNet)."""
    short_run(c)
    c.objective.update(hidden=(32,), latent_dim=4, kl_warmup_steps=5)
    if c.objective.backbone == "resnet":
        c.objective.channels = (8,)
    c.train.eval_every = 10
    c.eval.num = 64
