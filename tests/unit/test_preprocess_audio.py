"""service/preprocess/audio.py: WAV decoding and validation with the messages a client sees, the
fixed window, frame counts, and log-mel features against a textbook computation written here
(a frame at a time: Hann window, |FFT|², HTK-mel triangles, log, scaling) in float64."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from service.package import KeywordsPreprocessing
from service.preprocess.audio import (
    check_samples,
    complete_frames,
    decode_wav,
    fit_window,
    log_mel,
    log_mel_frames,
    n_frames,
)
from service.preprocess.errors import PreprocessError

CFG = KeywordsPreprocessing(max_input_samples=16_000)


def wav(pcm: bytes, rate: int = 8000, channels: int = 1, width: int = 2, frames: int | None = None) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    data = buf.getvalue()
    if frames is not None:  # claim another length in the header (nframes lives in the data chunk size)
        data = data[:40] + (frames * width * channels).to_bytes(4, "little") + data[44:]
    return data


def rule(exc: pytest.ExceptionInfo[PreprocessError]) -> tuple[str, str]:
    return exc.value.field, exc.value.rule


def test_decode_wav_scales_16_bit_pcm_to_plus_minus_one() -> None:
    pcm = np.array([0, 16384, -32768, 32767, -1], dtype="<i2").tobytes()
    samples = decode_wav(wav(pcm), CFG)
    assert samples.dtype == np.float32
    assert samples.tolist() == [0.0, 0.5, -1.0, 32767 / 32768, -1 / 32768]


def test_decode_wav_of_a_truncated_file_drops_the_half_sample() -> None:
    pcm = np.array([8192, -8192, 4096], dtype="<i2").tobytes()
    data = wav(pcm, frames=3)[:-1]  # the last sample lost its second byte
    assert decode_wav(data, CFG).tolist() == [0.25, -0.25]


def test_decode_wav_rules() -> None:
    one = np.zeros(4, dtype="<i2").tobytes()
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(one, channels=2), CFG)
    assert rule(info) == ("audio", "audio must be mono; got 2 channels")
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(b"\0\0", width=1), CFG, field="inputs[0]")
    assert rule(info) == ("inputs[0]", "audio must be 16-bit PCM; got 8-bit samples")
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(one, rate=16000), CFG)
    assert rule(info) == ("audio", "sample rate must be 8000 Hz; got 16000 Hz")
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(b""), CFG)
    assert rule(info) == ("audio", "audio must contain at least one sample")
    for junk in (b"not a wav at all", b"RIFF", wav(one)[:30]):
        with pytest.raises(PreprocessError) as info:
            decode_wav(junk, CFG)
        assert info.value.field == "audio" and info.value.rule.startswith("must be a PCM WAV file (")


def test_decode_wav_length_limit_is_inclusive_and_checked_before_reading() -> None:
    assert decode_wav(wav(np.zeros(16_000, "<i2").tobytes()), CFG).size == 16_000
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(np.zeros(16_001, "<i2").tobytes()), CFG)
    assert rule(info) == ("audio", "audio has 16001 samples; at most 16000 (2 s) allowed")
    # a header claiming more samples than the limit is refused without reading them
    with pytest.raises(PreprocessError) as info:
        decode_wav(wav(np.zeros(10, "<i2").tobytes(), frames=20_000), CFG)
    assert rule(info) == ("audio", "audio has 20000 samples; at most 16000 (2 s) allowed")


def test_check_samples() -> None:
    got = check_samples([0.5, -0.25], CFG)  # type: ignore[arg-type]
    assert got.dtype == np.float32 and got.tolist() == [0.5, -0.25]
    assert check_samples(np.zeros(16_000), CFG).size == 16_000
    cases = [
        (np.zeros((2, 2)), ("samples", "samples must be a flat list; got 2 dimensions")),
        (np.array(1.0), ("samples", "samples must be a flat list; got 0 dimensions")),
        (np.zeros(0), ("samples", "audio must contain at least one sample")),
        (np.zeros(16_001), ("samples", "audio has 16001 samples; at most 16000 allowed")),
        (np.array([0.0, np.nan]), ("samples", "samples must be finite numbers (no NaN or Inf)")),
        (np.array([np.inf]), ("samples", "samples must be finite numbers (no NaN or Inf)")),
    ]
    for samples, expected in cases:
        with pytest.raises(PreprocessError) as info:
            check_samples(samples, CFG)
        assert rule(info) == expected
    with pytest.raises(PreprocessError) as info:
        check_samples(np.zeros(0), CFG, field="chunk")
    assert info.value.field == "chunk"


def test_fit_window_pads_or_crops() -> None:
    assert fit_window(np.array([1.0, 2.0]), 4).tolist() == [1, 2, 0, 0]
    assert fit_window(np.arange(6.0), 4).tolist() == [0, 1, 2, 3]
    assert fit_window(np.arange(6.0), 4, offset=3).tolist() == [3, 4, 5, 0]
    out = fit_window(np.arange(4.0), 4)
    assert out.dtype == np.float32 and out.tolist() == [0, 1, 2, 3]


def test_frame_counts() -> None:
    # win 200, hop 80: frame i covers [80·i, 80·i + 200)
    assert [complete_frames(n, CFG) for n in (0, 199, 200, 279, 280, 8000)] == [0, 0, 1, 1, 2, 98]
    assert n_frames(CFG) == 98  # 1 + (8000 − 200) // 80
    assert n_frames(KeywordsPreprocessing(clip_samples=1000, win_length=100, hop_length=50)) == 19


# ---- log-mel against the textbook ----------------------------------------------------------------


def textbook_fbank(sr: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK mel triangles in Hz: filter m rises from point m to m+1 and falls to m+2."""

    def mel(f: float) -> float:
        return float(2595 * np.log10(1 + f / 700))

    def hz(m: float) -> float:
        return float(700 * (10 ** (m / 2595) - 1))

    points = [hz(mel(f_min) + (mel(f_max) - mel(f_min)) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    bank = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        lo, mid, hi = points[m], points[m + 1], points[m + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            if lo < f <= mid:
                bank[m, k] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                bank[m, k] = (hi - f) / (hi - mid)
    return bank


def textbook_log_mel(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    bank = textbook_fbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.win_length) / (cfg.win_length - 1))
    rows = []
    start = 0
    while start + cfg.win_length <= len(samples):
        frame = samples[start : start + cfg.win_length].astype(np.float64) * hann
        frame = np.pad(frame, (0, max(0, cfg.n_fft - cfg.win_length)))[: cfg.n_fft]
        spectrum = np.fft.rfft(frame)
        power = spectrum.real**2 + spectrum.imag**2
        rows.append(np.log(bank @ power + cfg.log_floor))
        start += cfg.hop_length
    feats = np.array(rows).reshape(-1, cfg.n_mels)
    if cfg.feature_mean is not None and cfg.feature_std is not None:
        feats = (feats - np.array(cfg.feature_mean)) / np.array(cfg.feature_std)
    return feats


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 8000
    return (
        0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1900 * t) + 0.05 * rng.standard_normal(n)
    ).astype(np.float32)


SMALL = KeywordsPreprocessing(n_fft=64, win_length=48, hop_length=20, n_mels=6, clip_samples=400)


@pytest.mark.parametrize(
    "cfg",
    [
        SMALL,
        SMALL.model_copy(update={"win_length": 64, "hop_length": 32}),  # window = n_fft
        SMALL.model_copy(
            update={"feature_mean": [1.0, -2.0, 0.5, 0.0, 3.0, -1.0], "feature_std": [2.0, 0.5, 1.0, 4.0, 1.5, 3.0]}
        ),
        SMALL.model_copy(update={"log_floor": 0.5, "f_min": 300.0, "f_max": 3000.0}),
    ],
    ids=["small", "window-is-n-fft", "scaled", "floor-and-band"],
)
def test_log_mel_frames_match_the_textbook(cfg: KeywordsPreprocessing) -> None:
    samples = _signal(300)
    got = log_mel_frames(samples, cfg)
    expected = textbook_log_mel(samples, cfg)
    assert got.dtype == np.float32 and got.shape == expected.shape == (complete_frames(300, cfg), cfg.n_mels)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


def test_a_mean_without_a_std_does_not_scale() -> None:
    half = SMALL.model_copy(update={"feature_mean": [100.0] * 6})
    samples = _signal(200, seed=1)
    np.testing.assert_array_equal(log_mel_frames(samples, half), log_mel_frames(samples, SMALL))


def test_too_short_for_a_frame_gives_no_rows() -> None:
    got = log_mel_frames(np.ones(47, dtype=np.float32), SMALL)
    assert got.shape == (0, 6) and got.dtype == np.float32


def test_silence_is_the_log_of_the_floor() -> None:
    got = log_mel_frames(np.zeros(100, dtype=np.float32), SMALL)
    assert got.shape == (3, 6)
    np.testing.assert_allclose(got, np.log(1e-6), rtol=1e-6)


def test_log_mel_is_the_fixed_window_padded_or_cropped() -> None:
    short = _signal(250, seed=2)
    padded = np.concatenate([short, np.zeros(150, dtype=np.float32)])  # the 400-sample window
    np.testing.assert_allclose(log_mel(short, SMALL), textbook_log_mel(padded, SMALL), rtol=2e-4, atol=2e-4)
    long = _signal(900, seed=3)
    assert log_mel(long, SMALL).shape == (n_frames(SMALL), 6) == (18, 6)
    np.testing.assert_array_equal(log_mel(long, SMALL), log_mel_frames(long[:400], SMALL))
