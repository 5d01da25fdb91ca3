"""mu-law companding against its closed form and torchaudio's formula written with torch ops."""

import math

import jax.numpy as jnp
import numpy as np
import torch

from genjax.data import mu_law


def _torchaudio_encode(x: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """torchaudio.functional.mu_law_encoding (quantization_channels = mu + 1), written out."""
    mu_t = torch.tensor(float(mu), dtype=x.dtype)
    x_mu = torch.sign(x) * torch.log1p(mu_t * torch.abs(x)) / torch.log1p(mu_t)
    return ((x_mu + 1) / 2 * mu_t + 0.5).to(torch.int64)


def _torchaudio_decode(q: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """torchaudio.functional.mu_law_decoding, written out."""
    mu_t = torch.tensor(float(mu))
    x = (q.to(torch.float32) / mu_t) * 2 - 1.0
    return torch.sign(x) * (torch.exp(torch.abs(x) * torch.log1p(mu_t)) - 1.0) / mu_t


def test_encode_and_decode_match_torchaudio_level_for_level():
    x = np.concatenate([np.linspace(-1, 1, 4001), np.random.default_rng(0).uniform(-1, 1, 4000)]).astype(np.float32)
    codes = np.asarray(mu_law.encode(x))
    assert codes.dtype == np.int32 and codes.min() == 0 and codes.max() == 255
    # within float32 rounding of the level boundary a code may differ by one; nowhere else
    expected = _torchaudio_encode(torch.from_numpy(x)).numpy()
    assert np.abs(codes - expected).max() <= 1 and np.mean(codes == expected) > 0.999
    levels = np.arange(256)
    np.testing.assert_allclose(
        np.asarray(mu_law.decode(levels)), _torchaudio_decode(torch.from_numpy(levels)).numpy(), atol=1e-6
    )


def test_compress_is_the_closed_form_and_expand_inverts_it():
    x = np.linspace(-1, 1, 101)
    expected = np.sign(x) * np.log(1 + 255 * np.abs(x)) / math.log(256)
    np.testing.assert_allclose(np.asarray(mu_law.compress(x)), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(mu_law.expand(mu_law.compress(x))), x, atol=1e-5)
    # out-of-range input is clipped to the end levels
    np.testing.assert_array_equal(np.asarray(mu_law.encode(jnp.array([-3.0, 3.0]))), [0, 255])


def test_round_trip_error_is_within_half_a_level():
    """decode(encode(x)) is x up to half a quantization step of the compressed value."""
    x = np.random.default_rng(1).uniform(-1, 1, 10_000).astype(np.float32)
    y_hat = np.asarray(mu_law.compress(mu_law.decode(mu_law.encode(x))))
    assert np.abs(y_hat - np.asarray(mu_law.compress(x))).max() <= 1 / 255 + 1e-6
    # companding spends its levels near zero: small amplitudes are reconstructed more finely
    err = np.abs(np.asarray(mu_law.decode(mu_law.encode(x))) - x)
    small = np.abs(x) < 0.05
    assert err[small].max() < err[~small].max() / 5
