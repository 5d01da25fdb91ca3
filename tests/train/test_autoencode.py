"""What users look at for autoencoders: slerp against its closed form, the latent diagnostics
(KL per unit, active units) against a brute-force loop, and a training run's reconstruction and
interpolation grids and `latent_kl` evaluation against the objective's own outputs."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from genjax import data as data_lib
from genjax.config import load_config
from genjax.logging import MetricWriter, image_grid, to_uint8
from genjax.metrics.latents import latent_summary
from genjax.testing import tiny
from genjax.train import run
from genjax.train.actions import write_autoencoder_grids
from genjax.train.autoencode import (
    evaluate_reconstruction,
    interpolation_rows,
    num_eval_examples,
    reconstruction_rows,
    slerp,
    traversal_rows,
)
from genjax.train.build import load_run


def test_slerp_against_its_closed_form():
    t = jnp.linspace(0, 1, 5)
    # a quarter circle: (cos(t pi/2), sin(t pi/2)) scaled by 2
    out = np.asarray(slerp(jnp.array([[2.0, 0.0]]), jnp.array([[0.0, 2.0]]), t))[0]
    angle = np.asarray(t) * np.pi / 2
    np.testing.assert_allclose(out, 2 * np.stack([np.cos(angle), np.sin(angle)], -1), atol=1e-6)
    # endpoints, and latents of any shape (flattened per example); parallel latents interpolate linearly
    r = np.random.RandomState(0)
    a, b = jnp.asarray(r.normal(size=(3, 2, 4))), jnp.asarray(r.normal(size=(3, 2, 4)))
    path = np.asarray(slerp(a, b, t))
    assert path.shape == (3, 5, 2, 4)
    np.testing.assert_allclose(path[:, 0], a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(path[:, -1], b, rtol=1e-5, atol=1e-6)
    lin = np.asarray(slerp(a, 3 * a, t))
    np.testing.assert_allclose(lin, np.asarray(a)[:, None] * (1 + 2 * np.asarray(t))[None, :, None, None], rtol=1e-5)


def test_latent_summary_against_a_loop():
    r = np.random.RandomState(1)
    n, j = 40, 5
    mean = r.normal(size=(n, j)) * np.array([1.0, 0.01, 0.5, 0.001, 2.0])
    kl = np.abs(r.normal(size=(n, j))) * np.array([1.0, 0.001, 0.3, 0.002, 0.02])
    out = latent_summary(kl, mean)
    active = 0
    for col in range(j):
        m = sum(mean[i, col] for i in range(n)) / n
        active += sum((mean[i, col] - m) ** 2 for i in range(n)) / (n - 1) > 0.01
    assert out["active_units"] == active == 3
    kl_j = [sum(kl[i, col] for i in range(n)) / n for col in range(j)]
    assert out["active_units_kl"] == sum(k > 0.01 for k in kl_j)
    np.testing.assert_allclose([out[f"latent_kl/{c:03d}"] for c in range(j)], kl_j, rtol=1e-12)
    np.testing.assert_allclose(out["latent_kl"], sum(kl_j), rtol=1e-12)


def test_a_vae_run_writes_reconstructions_and_interpolations_and_evaluates_its_latents(tmp_path):
    config = tiny(load_config("digits_vae:runlocal", ["--config.data.binarize=True"]))
    config.sample.num = 4
    run(config, tmp_path)
    names = ("reconstructions", "interpolations", "traversals")
    grids = {name: tmp_path / "samples" / f"{name}_00000001.png" for name in names}
    assert all(p.exists() for p in grids.values())

    r = load_run(tmp_path)
    params, state = r.state.sampling_params(0), r.state.model_state
    x = data_lib.load_examples(config.data, 8, split=config.data.eval_split)["x"]
    rows = reconstruction_rows(r, 4, 4)
    np.testing.assert_allclose(rows[:4], x[:4])  # the inputs, then their reconstructions
    np.testing.assert_allclose(rows[4:], r.objective.decode(params, r.objective.encode(params, x[:4])), atol=1e-5)
    picture = np.asarray(Image.open(grids["reconstructions"]))
    np.testing.assert_array_equal(picture, image_grid(to_uint8(rows, r.metadata.value_range), 4)[..., 0])

    interp = interpolation_rows(r, 4, 4)  # 4 pairs of eval examples, 4 steps each
    z = r.objective.encode(params, x)
    assert interp.shape == (16, *r.metadata.shape)
    np.testing.assert_allclose(interp[0::4], r.objective.decode(params, z[0::2]), atol=1e-5)  # t = 0
    np.testing.assert_allclose(interp[3::4], r.objective.decode(params, z[1::2]), atol=1e-5)  # t = 1

    # Traversals: the first eval example's latent, one unit at a time over [-3, 3], highest KL first.
    trav = traversal_rows(r, 5)
    x64 = data_lib.load_examples(config.data, min(64, num_eval_examples(r)), split=config.data.eval_split)["x"]
    kl64, _ = jax.jit(r.objective.latent_stats)(params, state, jnp.asarray(x64), jax.random.PRNGKey(0))
    units = np.argsort(-np.asarray(kl64).mean(0))[:10]  # at most 10 rows
    z0 = np.asarray(r.objective.encode(params, x[:1]))[0]
    assert trav.shape == (len(units) * 5, *r.metadata.shape)
    for row, unit in enumerate(units):
        for col, value in enumerate(np.linspace(-3, 3, 5)):
            z = z0.copy()
            z[unit] = value
            np.testing.assert_allclose(trav[row * 5 + col], r.objective.decode(params, z[None])[0], atol=1e-5)

    results = r.evaluate(["latent_kl"], 8, seed=0)
    kl, mean = jax.jit(r.objective.latent_stats)(params, state, jnp.asarray(x), jax.random.PRNGKey(0))
    expected = latent_summary(np.asarray(kl), np.asarray(mean))
    assert set(results) == set(expected)
    for k, v in expected.items():
        np.testing.assert_allclose(results[k], v, rtol=1e-4, atol=1e-6, err_msg=k)

    recon = r.evaluate(["reconstruction"], 8, seed=0)
    x_hat = np.asarray(r.objective.decode(params, r.objective.encode(params, x)))
    mse = ((x - x_hat) ** 2).reshape(8, -1).mean(1)
    np.testing.assert_allclose(recon["recon_mse"], mse.mean(), rtol=1e-4)
    np.testing.assert_allclose(recon["recon_mse_stderr"], mse.std() / np.sqrt(8), rtol=1e-3)
    lo, hi = r.metadata.value_range
    np.testing.assert_allclose(recon["recon_psnr"], np.mean(10 * np.log10((hi - lo) ** 2 / mse)), rtol=1e-4)
    assert "code_perplexity" not in recon

    # an eval split smaller than the grids: fewer rows and pairs, no error
    r.config.data.eval_split = "train[:5]"
    r.workdir = tmp_path / "small"
    write_autoencoder_grids(r, MetricWriter(r.workdir, tensorboard=False), 7, ema_index=None)
    h, w = r.metadata.shape[:2]
    for name, rows in (("reconstructions", 2), ("interpolations", 2)):  # 4 columns: config.sample.num
        picture = np.asarray(Image.open(r.workdir / "samples" / f"{name}_00000007.png"))
        assert picture.shape == (rows * (h + 1) + 1, 4 * (w + 1) + 1), name


def test_vqvae_reconstruction_metric_counts_every_code_of_the_eval_examples(tmp_path):
    import pytest

    from genjax.losses import vector_quantization as vq

    config = load_config("mnist_vqvae:binarized,runlocal", ["--config.data.source=builtin:digits"])
    config.data.batch_size = 6  # eval in batches of 6: the counts must add up across batches
    run(config, tmp_path)
    r = load_run(tmp_path)
    params, state = r.state.sampling_params(0), r.state.model_state
    out = r.evaluate(["reconstruction"], 20, seed=0)
    x = data_lib.load_examples(config.data, 20, split=config.data.eval_split)["x"]
    codes = np.asarray(r.objective.encode_codes(params, state, jnp.asarray(x)))
    assert out["code_perplexity"] == pytest.approx(float(vq.perplexity(jnp.asarray(codes.ravel()), 16)), rel=1e-5)
    assert out["code_usage"] == len(np.unique(codes)) / 16
    x_hat = np.asarray(r.objective.decode_codes(params, state, jnp.asarray(codes)))
    assert out["recon_mse"] == pytest.approx(np.mean((x - x_hat) ** 2), rel=1e-4)

    r.config.objective.name = "ddpm"
    with pytest.raises(ValueError, match="reconstruction needs an encoder and a decoder"):
        evaluate_reconstruction(SimpleNamespace(objective=object(), config=r.config), 4)


def test_disentanglement_metrics_score_the_posterior_means_against_the_true_factors(tmp_path):
    import pytest

    from genjax.data import shapes
    from genjax.metrics import disentanglement

    config = load_config("shapes_vae:runlocal", ["--config.train.eval_every=0"])
    run(config, tmp_path)
    r = load_run(tmp_path)
    params, state = r.state.sampling_params(0), r.state.model_state
    results = r.evaluate(["mig", "dci"], 48, seed=0)
    x = data_lib.load_examples(config.data, 48, split="train")["x"]
    _, means = jax.jit(r.objective.latent_stats)(params, state, jnp.asarray(x), jax.random.PRNGKey(0))
    expected = disentanglement.mig(np.asarray(means), shapes.factors("train")[:48])
    for k, v in expected.items():
        assert results[k] == pytest.approx(v, abs=1e-6), k
    assert {"dci_disentanglement", "dci_completeness", "dci_informativeness"} <= set(results)

    r.config.data.source = "builtin:digits"
    with pytest.raises(ValueError, match="known generative factors"):
        r.evaluate(["mig"], 8, seed=0)
