"""``service.preprocess.audio`` against a plain, loop-per-frame reference written here.

The served keyword models were trained on these features, so the optimised front-end (strided
frames, cached window/filterbank, float64 FFT on a pre-padded buffer) must keep the maths: each
case compares it with the textbook version below, on synthetic signals and configs here and on
real FSDD clips and the packages' ``reference.npz`` where ``../shared/data`` and ``models/`` exist.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import service.preprocess.audio as audio
from export.data import FSDD_DIR, KEYWORD_TEST_TAKES, list_fsdd
from export.verify import N_REFERENCE, REFERENCE_FILE
from service.package import KeywordsPreprocessing, read_package
from service.preprocess.errors import PreprocessError
from tests.service.conftest import tone, wav_bytes

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
KEYWORD_PACKAGES = [MODELS / f"keywords-{cell}" for cell in ("gru", "lstm")]
#: the brief's bar on log features; the implementations agree to ~1e-6 in practice
TOL = 1e-4

needs_fsdd = pytest.mark.skipif(
    not FSDD_DIR.is_dir(), reason=f"FSDD not found at {FSDD_DIR} (shared data is beside the repository)"
)


def textbook_mel_filterbank(cfg: KeywordsPreprocessing) -> np.ndarray:
    """HTK-mel triangles written out band by band and bin by bin, independent of the service's
    vectorised version: band m rises linearly from the mel-spaced edge m to edge m+1 and falls to
    edge m+2; an FFT bin's weight is the triangle's height at the bin's frequency."""

    def mel(hz: float) -> float:
        return 2595.0 * math.log10(1.0 + hz / 700.0)

    def hz(m: float) -> float:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    lo, hi = mel(cfg.f_min), mel(cfg.f_max)
    edges = [hz(lo + (hi - lo) * i / (cfg.n_mels + 1)) for i in range(cfg.n_mels + 2)]
    bins = cfg.n_fft // 2 + 1
    bank = np.zeros((cfg.n_mels, bins))
    for m in range(cfg.n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k in range(bins):
            f = k * cfg.sample_rate / cfg.n_fft
            if left < f <= centre:
                bank[m, k] = (f - left) / (centre - left)
            elif centre < f < right:
                bank[m, k] = (right - f) / (right - centre)
    return bank


def test_textbook_filterbank_sanity() -> None:
    """The oracle itself: 1000 Hz is 1000 mel in HTK's scale, and the triangles peak at 1."""
    assert abs(2595.0 * math.log10(1.0 + 1000.0 / 700.0) - 1000.0) < 0.1
    bank = textbook_mel_filterbank(KeywordsPreprocessing())
    assert bank.shape == (40, 129) and np.all(bank >= 0) and np.all(bank.max(axis=1) <= 1.0)
    assert np.all(bank.max(axis=1) > 0.4)  # every band covers at least one bin well
    np.testing.assert_allclose(bank, audio.mel_filterbank(8000, 256, 40, 20.0, 4000.0), atol=1e-6)


def reference_log_mel_frames(samples: np.ndarray, cfg: KeywordsPreprocessing) -> np.ndarray:
    """One frame at a time: Hann-windowed float32 frame → n_fft-point FFT → |X|² → mel → log → scale.

    The window product stays float32 because that is what training did; everything after it is
    float64 here, so the implementation's float32 mel/log steps are measured against exact-ish maths.
    """
    samples = np.asarray(samples, dtype=np.float32)
    window = np.hanning(cfg.win_length).astype(np.float32)
    fbank = textbook_mel_filterbank(cfg)
    rows = []
    start = 0
    while start + cfg.win_length <= len(samples):
        frame = samples[start : start + cfg.win_length] * window
        spectrum = np.fft.rfft(frame.astype(np.float64), n=cfg.n_fft)
        power = spectrum.real**2 + spectrum.imag**2
        rows.append(np.log(fbank @ power + cfg.log_floor))
        start += cfg.hop_length
    feats = np.array(rows, dtype=np.float64).reshape(len(rows), cfg.n_mels)
    if cfg.feature_mean is not None and cfg.feature_std is not None:
        feats = (feats - np.asarray(cfg.feature_mean)) / np.asarray(cfg.feature_std)
    return feats


def _scaled(cfg: KeywordsPreprocessing, seed: int = 0) -> KeywordsPreprocessing:
    rng = np.random.default_rng(seed)
    return cfg.model_copy(
        update={
            "feature_mean": rng.normal(-10, 1, cfg.n_mels).tolist(),
            "feature_std": rng.uniform(3, 6, cfg.n_mels).tolist(),
        }
    )


def _signals(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 8000
    return {
        "silence": np.zeros(n, np.float32),
        "tone": tone(n, freq=700.0),
        "chirp": (0.5 * np.sin(2 * np.pi * (100 + 1500 * t) * t)).astype(np.float32),
        "noise": rng.normal(0, 0.2, n).clip(-1, 1).astype(np.float32),
        "full-scale square": np.sign(np.sin(2 * np.pi * 300 * t) + 1e-9).astype(np.float32),
        "quiet burst": np.where((t > 0.3) & (t < 0.6), 1e-4 * rng.normal(size=n), 0).astype(np.float32),
    }


CONFIGS = {
    "default": KeywordsPreprocessing(),
    "scaled": _scaled(KeywordsPreprocessing()),
    "window longer than n_fft": KeywordsPreprocessing(win_length=300, hop_length=120),
    "hop longer than window": KeywordsPreprocessing(win_length=160, hop_length=200, n_mels=24),
    "odd n_fft": _scaled(KeywordsPreprocessing(n_fft=255, n_mels=32), seed=1),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_log_mel_frames_matches_reference(name: str) -> None:
    cfg = CONFIGS[name]
    for label, x in _signals(8000).items():
        got = audio.log_mel_frames(x, cfg)
        want = reference_log_mel_frames(x, cfg)
        assert got.dtype == np.float32 and got.flags.c_contiguous, label
        assert got.shape == want.shape == (audio.complete_frames(len(x), cfg), cfg.n_mels), label
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=f"{name} / {label}")


@pytest.mark.parametrize("n", [0, 1, 199, 200, 201, 279, 280, 4321, 8000, 32000])
def test_any_length_and_frame_count(n: int) -> None:
    """Streaming chunks hand any length: none, one and many frames, with a partial tail."""
    cfg = CONFIGS["scaled"]
    x = np.random.default_rng(n).normal(0, 0.3, n).astype(np.float32)
    got = audio.log_mel_frames(x, cfg)
    assert got.shape == (audio.complete_frames(n, cfg), cfg.n_mels) and got.dtype == np.float32
    if n >= cfg.win_length:
        np.testing.assert_allclose(got, reference_log_mel_frames(x, cfg), rtol=0, atol=TOL)


def test_input_views_and_dtypes() -> None:
    """Float64 input, a strided view and an offset slice give the features of the same samples."""
    cfg = CONFIGS["default"]
    x = np.random.default_rng(3).normal(0, 0.3, 9000).astype(np.float32)
    want = audio.log_mel_frames(x[37:8037].copy(), cfg)
    np.testing.assert_array_equal(audio.log_mel_frames(x[37:8037], cfg), want)
    np.testing.assert_array_equal(audio.log_mel_frames(x[37:8037].astype(np.float64), cfg), want)
    doubled = np.repeat(x[37:8037], 2)[::2]
    np.testing.assert_array_equal(audio.log_mel_frames(doubled, cfg), want)
    assert not np.shares_memory(audio.log_mel_frames(x, cfg), x)


def test_cached_constants_are_read_only() -> None:
    """Requests share the cached window and filterbank, so none may modify them."""
    cfg = CONFIGS["default"]
    audio.log_mel_frames(np.ones(8000, np.float32), cfg)
    window, fbank_t = audio._analysis(cfg.win_length, cfg.n_fft, cfg.sample_rate, cfg.n_mels, cfg.f_min, cfg.f_max)
    assert not window.flags.writeable and not fbank_t.flags.writeable
    out = audio.log_mel_frames(np.ones(8000, np.float32), cfg)
    kept = out.copy()
    out += 1.0  # the result itself is the caller's to modify
    np.testing.assert_array_equal(audio.log_mel_frames(np.ones(8000, np.float32), cfg), kept)


def test_chunked_frames_equal_whole() -> None:
    """What service/stream_chunks.py relies on: carrying the incomplete tail gives the same frames."""
    cfg = CONFIGS["scaled"]
    x = _signals(12000, seed=5)["chirp"]
    pending = np.zeros(0, np.float32)
    parts = []
    for chunk in np.split(x, [333, 1000, 1001, 5000, 9999]):
        buffer = np.concatenate([pending, chunk])
        frames = audio.complete_frames(len(buffer), cfg)
        pending = buffer[frames * cfg.hop_length :]
        if frames:
            parts.append(audio.log_mel_frames(buffer, cfg))
    np.testing.assert_allclose(np.concatenate(parts), audio.log_mel_frames(x, cfg), rtol=0, atol=1e-6)


def test_log_mel_is_the_fixed_window() -> None:
    cfg = CONFIGS["scaled"]
    for n in (3000, 8000, 11000):
        x = _signals(n)["tone"]
        want = reference_log_mel_frames(audio.fit_window(x, cfg.clip_samples), cfg)
        assert want.shape == (audio.n_frames(cfg), cfg.n_mels)
        np.testing.assert_allclose(audio.log_mel(x, cfg), want, rtol=0, atol=TOL)


def test_decode_wav_is_pcm_over_32768() -> None:
    cfg = KeywordsPreprocessing()
    x = _signals(7000)["noise"]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    got = audio.decode_wav(wav_bytes(x), cfg)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, pcm.astype(np.float32) / 32768.0)
    with pytest.raises(PreprocessError, match="at least one sample"):
        audio.decode_wav(wav_bytes(np.zeros(0, np.float32)), cfg)
    with pytest.raises(PreprocessError, match="at most"):
        audio.decode_wav(wav_bytes(np.zeros(cfg.max_input_samples + 1, np.float32)), cfg)


@needs_fsdd
def test_real_clips_match_reference() -> None:
    """Every 9th FSDD clip (300 clips, all speakers and digits), raw and with a package's scaling."""
    files = list_fsdd(FSDD_DIR)[::9]
    configs = [KeywordsPreprocessing()]
    configs += [read_package(p, False).preprocessing for p in KEYWORD_PACKAGES if (p / "model.json").is_file()]
    worst = 0.0
    for cfg in configs:
        for path, *_ in files:
            samples = audio.decode_wav(path.read_bytes(), cfg, path.name)
            got = audio.log_mel(samples, cfg)
            want = reference_log_mel_frames(audio.fit_window(samples, cfg.clip_samples), cfg)
            worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= TOL


@needs_fsdd
@pytest.mark.parametrize("folder", KEYWORD_PACKAGES, ids=lambda p: p.name)
def test_packages_reference_inputs_are_reproduced(folder: Path) -> None:
    """``reference.npz`` holds the exporter's features of the first test-split clips (takes 5–9);
    today's ``log_mel`` must rebuild them, and the model's outputs on them must stay in tolerance."""
    if not (folder / REFERENCE_FILE).is_file():
        pytest.skip(f"{folder.name}: no {REFERENCE_FILE} (make models)")
    package = read_package(folder, False)
    cfg = package.preprocessing
    assert isinstance(cfg, KeywordsPreprocessing)
    tolerance = json.loads((folder / "model.json").read_text())["reference"]["tolerance"]
    clips = [f[0] for f in list_fsdd(FSDD_DIR) if f[3] in KEYWORD_TEST_TAKES][:N_REFERENCE]
    feats = np.stack([audio.log_mel(audio.decode_wav(p.read_bytes(), cfg, p.name), cfg) for p in clips])
    with np.load(folder / REFERENCE_FILE) as ref:
        stored, expected = ref["features"], ref["expected"]
    assert feats.shape == stored.shape
    np.testing.assert_allclose(feats, stored, rtol=0, atol=TOL)
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"features": feats})[0]
    assert float(np.abs(logits - expected).max()) <= tolerance
