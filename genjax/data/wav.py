"""WAV files with the standard library's `wave` module and NumPy: reading, fixing the length, writing.

Reading accepts uncompressed PCM of 8 (unsigned), 16, 24 or 32 bits (signed, little-endian),
and refuses with a `DataError` naming the file and the fix: a file that is not PCM WAV or is
cut short, no samples, or silence; `read_wav` also refuses a sample rate other than the expected
one (a wrong rate changes pitch and duration) and more than one channel, which `read_frames`
followed by `conform` converts instead: channels averaged to mono, the rate changed by
band-limited polyphase resampling (`resample`). Samples map to [-1, 1): s / 2^(bits - 1) (8-bit data
(u - 128) / 128).
"""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import numpy as np

from genjax.data.checks import DataError

CONVERT = "convert it with e.g. `sox IN.wav -r {rate} -c 1 -b 16 OUT.wav` (mono 16-bit PCM at {rate} Hz) or remove it"


def read_frames(path: Path) -> tuple[np.ndarray, int]:
    """(float32 [T, channels] in [-1, 1), sample rate) of a PCM WAV file, any rate and channel
    count. Every refusal is a DataError naming the file and the fix."""
    fix = CONVERT.format(rate=16000)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            data = f.readframes(frames)
    except (wave.Error, EOFError, OSError) as e:
        raise DataError(f"{path} is not a readable PCM WAV file ({e}); {fix}") from None
    if width not in (1, 2, 3, 4):
        raise DataError(f"{path} has {8 * width}-bit samples; {fix}")
    if len(data) < frames * width * channels:
        raise DataError(
            f"{path} is truncated: its header declares {frames} samples, the file holds "
            f"{len(data) // (width * channels)}; {fix}"
        )
    if frames == 0:
        raise DataError(f"{path} holds no samples (an empty recording); remove it")
    x = pcm_to_float(data, width).reshape(frames, channels)
    if not np.any(x):
        raise DataError(f"{path} is silent (every sample is 0); remove it or record it again")
    return x, rate


def read_wav(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 [T] in [-1, 1), sample rate) of a mono PCM WAV file; `sample_rate`, when given,
    is the rate the file must have (`read_frames` and `conform` convert other rates and channel
    counts instead)."""
    x, rate = read_frames(path)
    fix = CONVERT.format(rate=sample_rate or rate)
    if sample_rate is not None and rate != sample_rate:
        raise DataError(
            f"{path} has sample rate {rate} Hz, not the {sample_rate} Hz of the other files (or data.sample_rate); "
            f"resample it: {fix}, or set --config.data.resample=True"
        )
    if x.shape[1] != 1:
        raise DataError(
            f"{path} has {x.shape[1]} channels; audio sources are mono: {fix}, or set --config.data.resample=True "
            "(channels averaged)"
        )
    return x[:, 0], rate


def conform(x: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """[T, channels] at `rate` -> mono float32 [T'] at `sample_rate`: the channels' mean, then
    `resample` when the rates differ."""
    mono = x.mean(axis=1, dtype=np.float64).astype(np.float32)
    return mono if rate == sample_rate else resample(mono, rate, sample_rate)


def resample(x: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """[T] at `rate` Hz -> float32 [ceil(T * sample_rate / rate)] at `sample_rate` Hz.

    Polyphase resampling by the reduced ratio up/down = sample_rate/rate (scipy.signal.resample_poly):
    upsample by `up` (zeros between samples), low-pass with a Kaiser-windowed sinc FIR whose cutoff
    is the lower of the two Nyquist frequencies (so downsampling does not alias), keep every
    `down`-th sample. Crochiere & Rabiner, "Multirate Digital Signal Processing", 1983, ch. 4."""
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(sample_rate))
    up, down = int(sample_rate) // g, int(rate) // g
    return resample_poly(np.asarray(x, np.float64), up, down).astype(np.float32)


def pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian PCM bytes of `width` bytes per sample -> float32 [T] in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 3:  # 24-bit: widen each sample to 32 bits, the 3 bytes in the high part
        b = np.frombuffer(data, np.uint8).reshape(-1, 3)
        ints = np.zeros((len(b), 4), np.uint8)
        ints[:, 1:] = b
        return (ints.view("<i4")[:, 0] >> 8).astype(np.float32) / float(2**23)
    dtype = {2: "<i2", 4: "<i4"}[width]
    return (np.frombuffer(data, dtype).astype(np.float64) / float(2 ** (8 * width - 1))).astype(np.float32)


def fit_length(x: np.ndarray, num_samples: int) -> np.ndarray:
    """[T] -> [num_samples]: the first num_samples samples, or x followed by zeros (silence)."""
    out = np.zeros(num_samples, np.float32)
    n = min(len(x), num_samples)
    out[:n] = x[:n]
    return out


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Waveform [T] in [-1, 1] -> int16 [T]: round(32768 x) clipped to [-32768, 32767], the
    inverse of reading (s / 32768), so a 16-bit file read and written again is the same file."""
    return np.clip(np.round(np.asarray(x, np.float64) * 32768.0), -32768, 32767).astype("<i2")


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of waveform [T] (or [T, 1]) in [-1, 1]."""
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"wav_bytes: expected a mono waveform [T] or [T, 1], got shape {x.shape}")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(to_pcm16(x).tobytes())
    return buf.getvalue()


def write_wav(path: Path, x: np.ndarray, sample_rate: int) -> Path:
    """Writes `wav_bytes(x, sample_rate)` to `path` (parent folders created); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(x, sample_rate))
    return path
