"""DiffWave: a residual layer against the reference implementation's operations in PyTorch
(Conv1d with dilation and padding d), the non-causal receptive field, the null label of
classifier-free guidance and logical axis names on every param."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import torch

from genjax.nn.diffwave import DiffWave, DiffWaveLayer
from genjax.parallel.axes import ALL


def _randomized(params, seed=0):
    """params with every leaf random (DiffWave's output layer starts at zero)."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree.unflatten(tree, [0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])


def test_a_residual_layer_is_the_reference_computation_in_torch():
    c, d, length = 4, 2, 11
    layer = DiffWaveLayer(channels=c, dilation=d)
    h = jax.random.normal(jax.random.PRNGKey(0), (2, length, c))
    t_emb, y_emb = jax.random.normal(jax.random.PRNGKey(1), (2, 6)), jax.random.normal(jax.random.PRNGKey(2), (2, 6))
    params = _randomized(nn.unbox(layer.init(jax.random.PRNGKey(3), h, t_emb, y_emb))["params"])
    out, skip = layer.apply({"params": params}, h, t_emb, y_emb)

    p = jax.tree.map(lambda a: torch.from_numpy(np.asarray(a, np.float64)), params)
    th, tt, ty = (torch.from_numpy(np.asarray(a, np.float64)) for a in (h, t_emb, y_emb))
    conv = torch.nn.Conv1d(c, 2 * c, 3, padding=d, dilation=d).double()
    with torch.no_grad():  # flax [width, in, out] -> torch [out, in, width]
        conv.weight.copy_(p["dilated_conv"]["kernel"].permute(2, 1, 0))
        conv.bias.copy_(p["dilated_conv"]["bias"])
    x = th + (tt @ p["step_proj"]["kernel"] + p["step_proj"]["bias"])[:, None]  # [B, T, C]
    a = conv(x.transpose(1, 2)).transpose(1, 2) + (ty @ p["label_proj"]["kernel"] + p["label_proj"]["bias"])[:, None]
    f, g = torch.chunk(a, 2, dim=-1)
    z = torch.tanh(f) * torch.sigmoid(g)
    r, s = torch.chunk(z @ p["out_proj"]["kernel"] + p["out_proj"]["bias"], 2, dim=-1)
    np.testing.assert_allclose(np.asarray(out), ((th + r) / math.sqrt(2)).detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(skip), s.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_output_depends_on_inputs_within_the_dilations_on_both_sides():
    net = DiffWave(channels=4, num_layers=3, dilation_cycle=2, step_dim=8)  # dilations 1, 2, 1: reach 4
    length, s, reach = 24, 10, 1 + 2 + 1
    x = jax.random.normal(jax.random.PRNGKey(0), (1, length, 1))
    t = jnp.array([0.3])
    params = _randomized(nn.unbox(net.init(jax.random.PRNGKey(1), x, t))["params"])
    base = net.apply({"params": params}, x, t)
    # x_s = 2.18 -> -1.5: a change that one of the input layer's ReLUs passes with these params
    moved = net.apply({"params": params}, x.at[0, s, 0].set(-1.5), t)
    changed = np.flatnonzero(np.abs(np.asarray(moved - base))[0, :, 0] > 0)
    np.testing.assert_array_equal(changed, np.arange(s - reach, s + reach + 1))


def test_null_label_and_logical_axis_names():
    net = DiffWave(channels=4, num_layers=2, dilation_cycle=2, step_dim=8, num_classes=10)
    x, t = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 1)), jnp.array([0.1, 0.7])
    boxed = net.init(jax.random.PRNGKey(1), x, t, jnp.array([1, 2]))["params"]
    leaves = jax.tree.leaves(boxed, is_leaf=lambda a: isinstance(a, nn.Partitioned))
    assert leaves and all(isinstance(a, nn.Partitioned) for a in leaves)
    for a in leaves:
        assert len(a.names) == a.value.ndim and set(a.names) <= set(ALL) | {None}
    params = _randomized(nn.unbox(boxed))
    out = lambda labels: np.asarray(net.apply({"params": params}, x, t, labels))  # noqa: E731
    assert out(None).shape == (2, 16, 1)
    np.testing.assert_array_equal(out(None), out(jnp.array([10, 10])))  # labels=None: the null label
    assert np.abs(out(jnp.array([1, 2])) - out(jnp.array([3, 2])))[0].max() > 1e-4
    np.testing.assert_array_equal(out(jnp.array([1, 2]))[1], out(jnp.array([3, 2]))[1])
