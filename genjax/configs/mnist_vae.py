"""VAE with MLP encoder/decoder on dynamically binarized MNIST, Bernoulli likelihood: the
binarized-MNIST benchmark (Larochelle & Murray 2011; dynamic binarization as in Burda et al.
2016, "Importance Weighted Autoencoders"). Every epoch draws fresh binary images from the pixel
intensities (from config.seed); the test split is binarized once, the same for every run
(`genjax.data.pipeline.EVAL_BINARIZATION_SEED` = 0). Evaluation reports the negative ELBO, an
upper bound on -log p(x), in nats per image (`eval/nll`) and bits/dim, or (`iwae`, and every VAE's
`eval_k` > 1) the importance-sampled estimate of -log p(x) with k samples.

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_vae --workdir runs/mnist_vae
    genjax eval --workdir runs/mnist_vae --metrics bits_per_dim --num 10000

Variants: `8bit` (8-bit pixels, discretized logistic likelihood over 256 levels), `fashion`
(Fashion-MNIST, binarized or with `8bit`), `cifar10` (8-bit CIFAR-10, discretized logistic;
needs a prepared `cifar10`), `iwae` (Burda et al.'s one-stochastic-layer IWAE: k = 50 samples in
training, -log p(x) estimated with k = 5000), `runlocal` (a few tiny steps; `iwae,runlocal`).
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", binarize=True, value_range=(0.0, 1.0), batch_size=128)
    c.objective.update(name="vae", latent_dim=32, hidden=(512, 256), likelihood="bernoulli")
    c.optim.lr = 1e-3
    c.train.update(steps=100_000, log_every=200, sample_every=10_000, eval_every=10_000, checkpoint_every=10_000,
                   ema_decays=(0.999,))
    c.eval.update(metrics=("bits_per_dim",), num=10_000)
    c.sample.num = 64
    return variants(c, arg, runlocal=runlocal, fashion=fashion, cifar10=cifar10, iwae=iwae, **{"8bit": eight_bit})


def eight_bit(c):
    """8-bit pixels in [-1, 1] with one discretized logistic per pixel (256 levels)."""
    c.data.update(binarize=False, value_range=(-1.0, 1.0))
    c.objective.likelihood = "discretized_logistic"


def fashion(c):
    c.data.source = "tfds:fashion_mnist"


def cifar10(c):
    eight_bit(c)
    c.data.source = "tfds:cifar10"
    c.objective.update(latent_dim=128, hidden=(1024, 512))


def iwae(c):
    """Burda et al. 2016's one-stochastic-layer model: 2 x 200 tanh units, 50 latents, trained on
    L_50; -log p(x) estimated with k = 5000 importance samples (`genjax eval --metrics nll`)."""
    c.objective.update(latent_dim=50, hidden=(200, 200), activation="tanh", iwae_k=50, eval_k=5000)
    c.eval.metrics = ("nll",)


def runlocal(c):
    """10 steps of a one-layer VAE at batch 8, evaluated on 8 test images."""
    short_run(c)
    c.objective.update(hidden=(32,), latent_dim=4)
    c.train.eval_every = 10
    c.eval.num = 8
