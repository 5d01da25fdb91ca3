"""The MLP VAE's negative ELBO and its gradients against a PyTorch VAE written here (Kingma &
Welling's, with the Bernoulli decoder of the PyTorch examples' VAE), holding the same weights
(flax Dense kernels copied into torch.nn.Linear) and the same noise eps."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F

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
