"""Short-time Fourier transform and dB spectrograms, for NumPy or jax.numpy arrays.

    X[..., t, k] = sum_n w[n] x[..., t hop + n] exp(-2 pi i k n / n_fft),  k = 0 .. n_fft / 2

with w the periodic Hann window w[n] = 0.5 - 0.5 cos(2 pi n / n_fft) (Allen 1977, "Short term
spectral analysis, synthesis, and modification by discrete Fourier transform"), over the frames
that lie wholly inside the signal (no padding). scipy.signal.stft with boundary=None,
padded=False returns the same X divided by sum(w). The magnitude in decibels is
20 log10(max(|X|, eps)); images show the top `dynamic_range` dB of each spectrogram.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5  # magnitude floor: -100 dB


def hann(n_fft: int, xp=np):
    """Periodic Hann window [n_fft] (the DFT-even window of spectral analysis)."""
    return 0.5 - 0.5 * xp.cos(2 * np.pi * xp.arange(n_fft) / n_fft)


def stft(x, n_fft: int = 256, hop: int = 128, xp=np):
    """x [..., T] -> complex X [..., (T - n_fft) // hop + 1, n_fft // 2 + 1] (see the module docstring)."""
    num_frames = (x.shape[-1] - n_fft) // hop + 1
    if num_frames < 1:
        raise ValueError(f"stft: a signal of {x.shape[-1]} samples is shorter than one frame of n_fft={n_fft}")
    index = (np.arange(num_frames)[:, None] * hop + np.arange(n_fft)[None, :]).reshape(-1)
    frames = xp.take(x, xp.asarray(index), axis=-1).reshape(*x.shape[:-1], num_frames, n_fft)
    return xp.fft.rfft(frames * hann(n_fft, xp), axis=-1)


def magnitude_db(x, n_fft: int = 256, hop: int = 128, xp=np):
    """x [..., T] -> 20 log10(max(|X|, EPS)) [..., frames, n_fft // 2 + 1]."""
    return 20.0 * xp.log10(xp.maximum(xp.abs(stft(x, n_fft, hop, xp)), EPS))


def spectrogram_images(
    waveforms: np.ndarray, n_fft: int = 256, hop: int = 64, dynamic_range: float = 80.0
) -> np.ndarray:
    """Waveforms [N, T, 1] (or [N, T]) -> uint8 images [N, n_fft // 2 + 1, frames, 1]: time left to right,
    frequency bottom to top, each spectrogram's peak white and `dynamic_range` dB below it black."""
    x = np.asarray(waveforms, np.float64)
    x = x[..., 0] if x.ndim == 3 else x
    db = magnitude_db(x, n_fft, hop)  # [N, frames, F]
    top = db.max(axis=(1, 2), keepdims=True)
    scaled = np.clip((db - (top - dynamic_range)) / dynamic_range, 0.0, 1.0)
    images = np.round(255.0 * scaled).astype(np.uint8)
    return images.transpose(0, 2, 1)[:, ::-1, :, None]
