"""Waveform → log-mel features for the keyword (spoken digit) models.

The same functions turn training clips and served requests into features, so there is no
train/serve skew. Defaults (8 kHz, 25 ms window, 10 ms hop, 40 mel bands, 1-s window) give
98 frames × 40 features, the shape Speech-Commands-style keyword spotters use.
"""

from __future__ import annotations

import io
import wave
from functools import lru_cache

import numpy as np

from service.package import KeywordsPreprocessing
from service.preprocess.errors import PreprocessError


def decode_wav(data: bytes, cfg: KeywordsPreprocessing, field: str = "audio") -> np.ndarray:
    """PCM WAV bytes → float32 samples in [-1, 1]; reject anything the model was not trained on.

    Only 16-bit PCM, mono, at ``cfg.sample_rate``, at most ``cfg.max_input_samples`` long.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            n_frames = wav.getnframes()
            if n_frames > cfg.max_input_samples:
                raise PreprocessError(
                    field,
                    f"audio has {n_frames} samples; at most {cfg.max_input_samples} "
                    f"({cfg.max_input_samples / cfg.sample_rate:g} s) allowed",
                )
            raw = wav.readframes(n_frames)
    except PreprocessError:
        raise
    except (wave.Error, EOFError, ValueError) as exc:
        raise PreprocessError(field, f"must be a PCM WAV file ({exc})") from None
    if channels != 1:
        raise PreprocessError(field, f"audio must be mono; got {channels} channels")
    if width != 2:
        raise PreprocessError(field, f"audio must be 16-bit PCM; got {8 * width}-bit samples")
    if rate != cfg.sample_rate:
        raise PreprocessError(field, f"sample rate must be {cfg.sample_rate} Hz; got {rate} Hz")
    samples = np.frombuffer(raw[: len(raw) - len(raw) % 2], dtype="<i2").astype(np.float32)
    return check_samples(samples / 32768.0, cfg, field)


def check_samples(samples: np.ndarray, cfg: KeywordsPreprocessing, field: str = "samples") -> np.ndarray:
    """Validate a float waveform: 1-D, non-empty, finite, within the length limit."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise PreprocessError(field, f"samples must be a flat list; got {samples.ndim} dimensions")
    if samples.size == 0:
        raise PreprocessError(field, "audio must contain at least one sample")
    if samples.size > cfg.max_input_samples:
        raise PreprocessError(
            field, f"audio has {samples.size} samples; at most {cfg.max_input_samples} allowed"
        )
    if not np.all(np.isfinite(samples)):
        raise PreprocessError(field, "samples must be finite numbers (no NaN or Inf)")
    return samples


def fit_window(samples: np.ndarray, clip_samples: int, offset: int = 0) -> np.ndarray:
    """Place a clip in the fixed window: zero-pad at the end, or crop ``clip_samples`` from ``offset``.

    Training may shift ``offset``/padding for augmentation; serving always uses offset 0.
    """
    out = np.zeros(clip_samples, dtype=np.float32)
    piece = samples[offset : offset + clip_samples]
    out[: len(piece)] = piece
    return out


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Triangular HTK-mel filters, ``(n_mels, n_fft // 2 + 1)`` float32."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2)
    hz_points = mel_to_hz(mel_points)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (fft_freqs[None, :] - lower) / (centre - lower)
    falling = (upper - fft_freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def log_mel(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    """Fixed-window waveform → ``(frames, n_mels)`` float32 log-mel features, scaled if fitted."""
    return log_mel_frames(fit_window(samples, cfg.clip_samples), cfg)


def complete_frames(n_samples: int, cfg: KeywordsPreprocessing) -> int:
    """How many whole analysis frames ``n_samples`` samples hold (frame i = samples [hop·i, hop·i + win))."""
    return 0 if n_samples < cfg.win_length else 1 + (n_samples - cfg.win_length) // cfg.hop_length


def log_mel_frames(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    """Waveform of any length → features of its complete frames, ``(frames, n_mels)`` float32.

    Each frame depends only on its own samples, so a stream that keeps the samples of the frames
    it has not completed yet gets exactly the frames of the concatenated audio (the streaming
    sessions' keyword chunks); :func:`log_mel` is this on the fixed 1-s window.
    """
    samples = np.asarray(samples, dtype=np.float32)
    n_frames = complete_frames(len(samples), cfg)
    idx = np.arange(cfg.win_length)[None, :] + cfg.hop_length * np.arange(n_frames)[:, None]
    frames = samples[idx] * np.hanning(cfg.win_length).astype(np.float32)  # (T, win)
    power = np.abs(np.fft.rfft(frames, n=cfg.n_fft, axis=1)) ** 2  # (T, n_fft/2+1)
    fbank = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    feats = np.log(power.astype(np.float32) @ fbank.T + cfg.log_floor)  # (T, n_mels)
    if cfg.feature_mean is not None and cfg.feature_std is not None:
        feats = (feats - np.asarray(cfg.feature_mean, np.float32)) / np.asarray(cfg.feature_std, np.float32)
    return feats.astype(np.float32)


def n_frames(cfg: KeywordsPreprocessing) -> int:
    """Frames per fixed window (98 with the defaults)."""
    return 1 + (cfg.clip_samples - cfg.win_length) // cfg.hop_length
