"""VQ-VAE (van den Oord et al. 2017) on 8-bit MNIST: a ResNet encoder to 7x7 positions of
64-dimensional vectors, each quantized to the nearest of 512 codes of an EMA codebook (decay
0.99, Laplace smoothing), commitment cost 0.25, codes unused for 100 steps restarted from encoder
outputs; a discretized logistic per pixel over the 256 levels. Logged: `model/recon` (nats per
image), `model/commitment`, `model/perplexity`, `model/usage` (fraction of codes used in the
batch), `model/restarts`. Samples decode codes drawn from the codebook's usage frequencies (no
prior is trained here); the reconstruction grids beside them show what the codes keep. Evaluation
(`reconstruction`) scores the test set's reconstructions (MSE, PSNR) and the codebook perplexity
over all their codes.

    genjax data prepare mnist --from DIR                     # once: the TFDS dataset
    genjax train --config mnist_vqvae --workdir runs/mnist_vqvae
    genjax eval --workdir runs/mnist_vqvae --metrics reconstruction --num 10000
    genjax train --config mnist_vqvae:runlocal --workdir /tmp/vqvae   # a few tiny steps

Variants: `binarized` (dynamically binarized MNIST, Bernoulli likelihood), `runlocal`.
"""

from genjax.config import base_config, short_run, variants


def get_config(arg=None):
    c = base_config()
    c.data.update(source="tfds:mnist", value_range=(-1.0, 1.0), batch_size=128)
    c.objective.update(
        name="vqvae", num_codes=512, embedding_dim=64, channels=(32, 64, 128), num_blocks=2,
        likelihood="discretized_logistic", commitment_cost=0.25, decay=0.99, restart_after=100,
    )  # fmt: skip
    c.optim.lr = 3e-4
    c.train.update(steps=50_000, log_every=200, sample_every=5_000, eval_every=5_000, checkpoint_every=5_000)
    c.eval.update(metrics=("reconstruction",), num=10_000, use_ema=False)  # MSE, PSNR, codebook perplexity
    c.sample.update(num=64, use_ema=False)  # the codebook follows the current encoder, not an EMA of it
    return variants(c, arg, runlocal=runlocal, binarized=binarized)


def binarized(c):
    c.data.update(binarize=True, value_range=(0.0, 1.0))
    c.objective.likelihood = "bernoulli"


def runlocal(c):
    """10 steps of a two-level VQ-VAE with 16 codes of 4 dimensions at batch 8."""
    short_run(c)
    c.objective.update(num_codes=16, embedding_dim=4, channels=(8, 16), num_blocks=1, restart_after=3)
    c.train.eval_every = 10
    c.eval.num = 16
