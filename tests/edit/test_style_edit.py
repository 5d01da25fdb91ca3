"""StyleGAN2's truncation and style-mixing grids and the direction grids, on a freshly built tiny
run (no training: the edits' algebra does not depend on the weights)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.config import load_config
from genjax.train import edit, style_edit
from genjax.train.build import build_run


@pytest.fixture(scope="module")
def sg2(tmp_path_factory):
    config = load_config(
        "fashion_mnist_stylegan2:runlocal",
        ["--config.data.source=builtin:digits", "--config.data.image_size=16", "--config.objective.diffaugment="],
    )
    run = build_run(config, tmp_path_factory.mktemp("sg2"), data=False)
    w_avg = jax.random.normal(jax.random.PRNGKey(5), (8,))  # a w_avg away from 0, as after training
    ms = jax.tree.map(lambda v: v, run.state.model_state)
    ms["generator"]["w_avg"]["w_avg"] = w_avg
    run.state = run.state.replace(model_state=ms)
    return run


def _variables(run):
    return run.objective.generator_variables(run.state.sampling_params(0), run.state.model_state)


def test_truncation_psi_0_is_the_average_image_and_psi_1_the_untruncated_one(sg2):
    obj, v = sg2.objective, _variables(sg2)
    grid = style_edit.truncation(sg2, 3, [0.0, 0.5, 1.0], seed=4)
    images = grid.images.reshape(3, 3, *grid.images.shape[1:])  # [z, psi, ...]
    w_avg = v["w_avg"]["w_avg"]
    avg_image = obj.nets.generator.apply(v, jnp.broadcast_to(w_avg, (1, 6, 8)), "const", method="synthesize")
    for i in range(3):
        np.testing.assert_allclose(images[i, 0], avg_image[0] * obj.scale + obj.shift, atol=1e-5)
    z = jax.random.normal(jax.random.PRNGKey(4), (3, obj.z_dim))
    untruncated = obj.nets.generator.apply(v, z, None, train=False, noise_mode="const") * obj.scale + obj.shift
    np.testing.assert_allclose(images[:, 2], untruncated, atol=1e-5)
    assert not np.allclose(images[0, 1], images[1, 1])  # psi = 0.5 keeps some of each z


def test_style_mixing_copies_the_coarse_styles_of_b(sg2):
    obj, v = sg2.objective, _variables(sg2)
    grid = style_edit.style_mix(sg2, 2, 3, "coarse", seed=1)
    assert grid.ncol == 4
    cells = grid.images.reshape(3, 4, *grid.images.shape[1:])
    lo = sg2.metadata.value_range[0]
    np.testing.assert_array_equal(cells[0, 0], lo)  # the empty corner
    k_a, k_b = jax.random.split(jax.random.PRNGKey(1))
    z_a, z_b = jax.random.normal(k_a, (2, obj.z_dim)), jax.random.normal(k_b, (3, obj.z_dim))
    w_a = obj.nets.generator.apply(v, z_a, None, False, method="map")
    w_b = obj.nets.generator.apply(v, z_b, None, False, method="map")
    synth = lambda ws: obj.nets.generator.apply(v, ws, "const", method="synthesize") * obj.scale + obj.shift  # noqa: E731
    np.testing.assert_allclose(cells[0, 1:], synth(w_b), atol=1e-5)
    np.testing.assert_allclose(cells[1:, 0], synth(w_a), atol=1e-5)
    mixed = w_a[1].at[:4].set(w_b[2][:4])  # A = 1 with B = 2's w indices 0..3 (4^2 - 8^2)
    np.testing.assert_allclose(cells[2, 3], synth(mixed[None])[0], atol=1e-5)
    with pytest.raises(ValueError, match="resolution is too low"):
        style_edit.style_mix(sg2, 2, 3, "fine", seed=1)  # 16 x 16: no w index >= 8
    with pytest.raises(ValueError, match="choose one of"):
        style_edit.style_mix(sg2, 2, 3, "medium", seed=1)


def test_w_interpolation_is_linear_in_w(sg2):
    obj, v = sg2.objective, _variables(sg2)
    grid = edit.interpolate(sg2, 1, 3, seed=2)
    z = jax.random.normal(jax.random.split(jax.random.PRNGKey(2))[0], (2, obj.z_dim))
    w = obj.nets.generator.apply(v, z, None, False, method="map")
    mid = obj.nets.generator.apply(v, (0.5 * (w[0] + w[1]))[None], "const", method="synthesize")
    np.testing.assert_allclose(grid.images[1], mid[0] * obj.scale + obj.shift, atol=1e-5)
    assert grid.info["space"] == "W, lerp"


@pytest.mark.parametrize("method", ["pca", "supervised"])
def test_direction_grid_moves_along_a_unit_direction_in_w(sg2, method):
    grid = style_edit.direction(sg2, method, 0, "brightness", 2, 5, seed=0, num_fit=64)
    assert grid.images.shape == (10, 16, 16, 1) and grid.ncol == 5
    d = np.asarray(grid.info["direction"])
    np.testing.assert_allclose(np.linalg.norm(d), 1.0, rtol=1e-6)
    assert grid.info["space"] == "W" and len(grid.info["attribute_along_path"]) == 5
    if method == "supervised":  # fitted to brightness: the rows brighten along it
        assert np.all(np.diff(grid.info["attribute_along_path"]) > 0), grid.info["attribute_along_path"]
    with pytest.raises(ValueError, match="attribute"):
        style_edit.direction(sg2, method, 0, "smile", 2, 5, seed=0)


def test_diffusion_edits_refuse_a_gan_run(sg2):
    with pytest.raises(ValueError, match="needs a diffusion run"):
        edit.invert(sg2, 2)


def test_autoencoder_and_z_space_edits(tmp_path):
    """A VAE's interpolation (its encoded eval examples) and prior-space directions; an MLP GAN's
    z slerp, whose ends are G(z_a) and G(z_b)."""
    vae = build_run(load_config("digits_vae:runlocal"), tmp_path / "vae", data=False)
    grid = edit.interpolate(vae, 2, 3, seed=0)
    assert grid.images.shape[0] == 6 and grid.info["space"].startswith("encoder")
    grid = style_edit.direction(vae, "pca", 1, "contrast", 2, 3, seed=0, num_fit=32)
    assert grid.images.shape == (6, *vae.metadata.shape) and grid.info["space"] == "Z"

    gan = build_run(load_config("grid25_gan"), tmp_path / "gan", data=False)
    obj = gan.objective
    grid = edit.interpolate(gan, 2, 5, seed=3)
    z = jax.random.normal(jax.random.split(jax.random.PRNGKey(3))[0], (4, obj.z_dim))
    cols = {k: v for k, v in obj.generator_variables(gan.state.sampling_params(0), gan.state.model_state).items()}
    cols.pop("params")
    ends = obj.nets.sample(gan.state.sampling_params(0), cols, z, None, jax.random.PRNGKey(0)) * obj.scale + obj.shift
    np.testing.assert_allclose(grid.images.reshape(2, 5, -1)[:, [0, 4]], ends.reshape(2, 2, -1), atol=1e-5)
    assert grid.info["space"] == "Z, slerp"
