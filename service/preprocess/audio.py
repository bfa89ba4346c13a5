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
    # In place, and 2**-15 is a power of two, so this is bit-for-bit ``samples / 32768.0``.
    samples *= np.float32(1.0 / 32768.0)
    # 16-bit PCM is always finite and 1-D: only the length checks of check_samples can fail.
    return _check_length(samples, cfg, field)


def check_samples(samples: np.ndarray, cfg: KeywordsPreprocessing, field: str = "samples") -> np.ndarray:
    """Validate a float waveform: 1-D, non-empty, finite, within the length limit."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise PreprocessError(field, f"samples must be a flat list; got {samples.ndim} dimensions")
    _check_length(samples, cfg, field)
    if not np.all(np.isfinite(samples)):
        raise PreprocessError(field, "samples must be finite numbers (no NaN or Inf)")
    return samples


def _check_length(samples: np.ndarray, cfg: KeywordsPreprocessing, field: str) -> np.ndarray:
    """The length rules shared by decoded WAV and float samples: non-empty, at most the limit."""
    if samples.size == 0:
        raise PreprocessError(field, "audio must contain at least one sample")
    if samples.size > cfg.max_input_samples:
        raise PreprocessError(field, f"audio has {samples.size} samples; at most {cfg.max_input_samples} allowed")
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

    fft_freqs = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)  # bin k is at k·sr/n (odd n_fft too)
    mel_points = np.linspace(hz_to_mel(np.array(f_min)), hz_to_mel(np.array(f_max)), n_mels + 2)
    hz_points = mel_to_hz(mel_points)
    lower, centre, upper = hz_points[:-2, None], hz_points[1:-1, None], hz_points[2:, None]
    rising = (fft_freqs[None, :] - lower) / (centre - lower)
    falling = (upper - fft_freqs[None, :]) / (upper - centre)
    bank: np.ndarray = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    return bank


def log_mel(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    """Fixed-window waveform → ``(frames, n_mels)`` float32 log-mel features, scaled if fitted."""
    return log_mel_frames(fit_window(samples, cfg.clip_samples), cfg)


def complete_frames(n_samples: int, cfg: KeywordsPreprocessing) -> int:
    """How many whole analysis frames ``n_samples`` samples hold (frame i = samples [hop·i, hop·i + win))."""
    return 0 if n_samples < cfg.win_length else 1 + (n_samples - cfg.win_length) // cfg.hop_length


@lru_cache(maxsize=8)
def _analysis(
    win_length: int, n_fft: int, sample_rate: int, n_mels: int, f_min: float, f_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-config constants of :func:`log_mel_frames`, built once instead of on every request.

    Returns the float32 Hann window cropped to ``n_fft`` (``rfft(n=n_fft)`` crops a longer frame
    the same way) and the C-contiguous ``(n_fft // 2 + 1, n_mels)`` transposed filterbank, whose
    layout lets the float32 matmul run without a strided operand. Both are read-only because
    every request shares them.
    """
    window = np.hanning(win_length).astype(np.float32)[: min(win_length, n_fft)]
    fbank_t = np.ascontiguousarray(mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).T)
    window.flags.writeable = False
    fbank_t.flags.writeable = False
    return window, fbank_t


@lru_cache(maxsize=8)
def _scaling(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The fitted per-band mean/std as read-only float32 arrays, converted from lists once."""
    mean_arr, std_arr = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    mean_arr.flags.writeable = False
    std_arr.flags.writeable = False
    return mean_arr, std_arr


def log_mel_frames(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    """Waveform of any length → features of its complete frames, ``(frames, n_mels)`` float32.

    Each frame depends only on its own samples, so a stream that keeps the samples of the frames
    it has not completed yet gets exactly the frames of the concatenated audio (the streaming
    sessions' keyword chunks); :func:`log_mel` is this on the fixed 1-s window.

    The served models were trained on these features, so the arithmetic is kept: frames are
    windowed in float32, transformed in float64 (numpy's ``rfft`` of float32 input runs its
    float64 loop too), and the mel energies, log and scaling are float32. The one numeric change
    is that the power is ``re² + im²`` of the float64 spectrum, rounded once, where it used to be
    ``|X|²`` of a complex64 copy; features move by ~1e-6 at most on the FSDD clips. The rest only
    removes repeated work: the frames are a strided view (no index matrix, no gather copy); they
    are windowed straight into a zero-padded float64 buffer, because an ``n_fft``-long ``rfft``
    without ``n=`` skips numpy's per-row padding and its hidden float32→float64 copies; and the
    window, filterbank and scaling arrays are cached per config.
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    count = complete_frames(len(samples), cfg)
    if count == 0:
        return np.zeros((0, cfg.n_mels), dtype=np.float32)
    window, fbank_t = _analysis(cfg.win_length, cfg.n_fft, cfg.sample_rate, cfg.n_mels, cfg.f_min, cfg.f_max)
    width = window.size
    step = samples.itemsize
    # frame i = samples[hop·i : hop·i + width], as overlapping rows of one read-only view
    frames = np.ndarray((count, width), np.float32, samples, 0, (cfg.hop_length * step, step))
    padded = np.zeros((count, cfg.n_fft), dtype=np.float64)
    np.multiply(frames, window, out=padded[:, :width], dtype=np.float32)
    spectrum = np.fft.rfft(padded, axis=1).view(np.float64)  # (T, 2·bins): re, im interleaved
    np.multiply(spectrum, spectrum, out=spectrum)
    power = (spectrum[:, 0::2] + spectrum[:, 1::2]).astype(np.float32)  # (T, bins)
    feats: np.ndarray = power @ fbank_t  # (T, n_mels) float32
    np.add(feats, np.float32(cfg.log_floor), out=feats)
    np.log(feats, out=feats)
    if cfg.feature_mean is not None and cfg.feature_std is not None:
        mean, std = _scaling(tuple(cfg.feature_mean), tuple(cfg.feature_std))
        np.subtract(feats, mean, out=feats)
        np.divide(feats, std, out=feats)
    return feats


def n_frames(cfg: KeywordsPreprocessing) -> int:
    """Frames per fixed window (98 with the defaults)."""
    return 1 + (cfg.clip_samples - cfg.win_length) // cfg.hop_length
