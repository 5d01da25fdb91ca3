"""The MLP VAE's negative ELBO and its gradients against a PyTorch VAE written here (Kingma &
Welling's, with the Bernoulli decoder of the PyTorch examples' VAE), holding the same weights
(flax Dense kernels copied into torch.nn.Linear) and the same noise eps."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ml_collections import ConfigDict

from genjax.objectives.observation import Bernoulli
from genjax.objectives.vae import VAE, VAENet

SHAPE, LATENT, HIDDEN = (4, 4, 1), 3, (16, 8)


class TorchVAE(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        widths = [d, *HIDDEN, 2 * LATENT]
        self.enc = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        widths = [LATENT, *reversed(HIDDEN), d]
        self.dec = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:]))

    @staticmethod
    def _mlp(layers, h):
        for i, layer in enumerate(layers):
            h = layer(h)
            h = F.relu(h) if i < len(layers) - 1 else h
        return h

    def neg_elbo(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        mu, log_var = self._mlp(self.enc, x).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * log_var) * eps
        logits = self._mlp(self.dec, z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp(), dim=-1)
        return recon + kl


def _copy(flax_mlp, torch_layers):
    for i, layer in enumerate(torch_layers):
        dense = flax_mlp[f"dense_{i}"]
        layer.weight.data = torch.tensor(np.asarray(dense["kernel"], np.float64).T.copy())
        layer.bias.data = torch.tensor(np.asarray(dense["bias"], np.float64))


def test_mlp_vae_elbo_and_gradients_match_pytorch():
    vae = VAE(VAENet(shape=SHAPE, latent_dim=LATENT, hidden=HIDDEN), Bernoulli((0.0, 1.0)))
    r = np.random.RandomState(0)
    x = jnp.asarray(r.rand(5, *SHAPE) > 0.5, jnp.float32)
    params = {"model": flax.linen.meta.unbox(jax.jit(vae.init)(jax.random.key(0), {"x": x})["model"].params)}
    params = jax.tree.map(lambda p: p + 0.1 * r.normal(size=p.shape).astype(np.float32), params)  # biases off zero
    key = jax.random.key(1)
    out = vae.loss("model", params, {}, {"x": x}, key, 0)
    grads = jax.grad(lambda p: vae.loss("model", p, {}, {"x": x}, key, 0).loss.mean())(params)["model"]

    model = TorchVAE(16).double()
    _copy(params["model"]["encoder"], model.enc)
    _copy(params["model"]["decoder"], model.dec)
    eps = torch.tensor(np.asarray(jax.random.normal(key, (5, LATENT)), np.float64))  # the loss's noise
    neg_elbo = model.neg_elbo(torch.tensor(np.asarray(x, np.float64).reshape(5, -1)), eps)
    np.testing.assert_allclose(out.metrics["neg_elbo"], neg_elbo.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(out.loss, neg_elbo.detach().numpy(), rtol=1e-5)
    neg_elbo.mean().backward()
    for part, layers in (("encoder", model.enc), ("decoder", model.dec)):
        for i, layer in enumerate(layers):
            g = grads[part][f"dense_{i}"]
            np.testing.assert_allclose(g["kernel"], layer.weight.grad.numpy().T, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(g["bias"], layer.bias.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "likelihood, obs_std, beta",
    [("bernoulli", None, 3.0), ("gaussian", 0.4, 0.25), ("gaussian", None, 0.25)],
    ids=["bernoulli", "gaussian_fixed", "gaussian_learned"],
)
def test_config_built_vae_loss_is_the_torch_distributions_elbo(likelihood, obs_std, beta):
    """The "vae" family built from a config (beta != 1) scores -log p(x|z) + beta KL(q || p) as
    torch.distributions does: z = mu + exp(log_var / 2) eps with the loss's eps, p(x|z) a
    Bernoulli of the decoder's logits on x in {0, 1} mapped from {-1, 1}, or a Normal of the
    decoder's mean and std 0.4 or exp(its learned log std), and kl_divergence of the Normals."""
    from torch.distributions import Bernoulli as TorchBernoulli, Normal, kl_divergence

    from genjax.data.metadata import DatasetMetadata
    from genjax.objectives import make_objective

    meta = DatasetMetadata("x", "image", (2, 2, 1), None, (-1.0, 1.0), 8, bits=1 if likelihood == "bernoulli" else 8)
    objective = make_objective(
        ConfigDict(
            {
                "objective": dict(
                    name="vae", latent_dim=3, hidden=(16,), likelihood=likelihood, obs_std=obs_std, beta=beta
                )
            }
        ),  # fmt: skip
        meta,
    )
    r = np.random.RandomState(2)
    x = np.where(r.rand(6, 2, 2, 1) > 0.5, 1.0, -1.0) if likelihood == "bernoulli" else r.uniform(-1, 1, (6, 2, 2, 1))
    x = jnp.asarray(x, jnp.float32)
    params = {"model": flax.linen.meta.unbox(objective.init(jax.random.key(0), {"x": x})["model"].params)}
    params = jax.tree.map(lambda p: p + 0.2 * r.normal(size=p.shape).astype(np.float32), params)
    key = jax.random.key(3)
    out = objective.loss("model", params, {}, {"x": x}, key, 0)

    variables = {"params": params["model"]}
    mu, log_var = (torch.tensor(np.asarray(a, np.float64)) for a in objective.posterior(params, x))
    eps = torch.tensor(np.asarray(jax.random.normal(key, (6, 3)), np.float64))  # the loss's noise
    z = mu + torch.exp(0.5 * log_var) * eps
    dec = objective.net.apply(variables, jnp.asarray(z.numpy(), jnp.float32), method="decode")
    dec = torch.tensor(np.asarray(dec, np.float64)).reshape(6, -1)
    xs = torch.tensor(np.asarray(x, np.float64)).reshape(6, -1)
    if likelihood == "bernoulli":
        log_px_z = TorchBernoulli(logits=dec).log_prob((xs + 1) / 2).sum(-1)
    elif obs_std is not None:
        log_px_z = Normal(dec, obs_std).log_prob(xs).sum(-1)
    else:  # the decoder's last axis holds (mean, log std) of each value
        mean, log_std = dec.reshape(6, 2, 2, 2)[..., :1], dec.reshape(6, 2, 2, 2)[..., 1:]
        log_px_z = Normal(mean, torch.exp(log_std)).log_prob(xs.reshape(6, 2, 2, 1)).reshape(6, -1).sum(-1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), Normal(torch.zeros(3), torch.ones(3))).sum(-1)
    np.testing.assert_allclose(out.metrics["recon"], -log_px_z.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.metrics["kl"], kl.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.loss, (-log_px_z + beta * kl).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.metrics["neg_elbo"], (-log_px_z + kl).numpy(), rtol=1e-5, atol=1e-5)
    assert torch.all(kl > 1e-2) and not torch.allclose(z, mu, atol=1e-2)  # both terms are exercised
