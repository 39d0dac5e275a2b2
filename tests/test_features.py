"""The fast extractor against the plain librosa recipe, and against the published GTZAN table.

Tolerance: the fast path aggregates in float64 where the recipe uses float32 ``np.mean``/``np.var``,
and computes centroid/bandwidth from float64 moments, so values agree to float rounding, not bit
for bit: relative 1e-5, plus an absolute slack of 1e-6 of the signal's scale ``sqrt(mean^2 + var)``
for means (1e-6 of ``mean^2 + var`` for variances) so that zero-centred means (harmony, perceptr)
compare sensibly. Tuning, roll-off and zero-crossing rate are checked bit for bit.

Slices are a deliberate difference from the seed's recipe: :func:`core.features.extract.extract` summarises
the whole track's frames centred in each slice, so its slice rows are compared with
:func:`core.features.reference.reference_frame_slices` (same frame ranges, plain librosa calls), not with
cut-and-analysed slices (``python -m bench.features --csv-check`` reports that difference).
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
from synth_audio import synth

from bench.features import clips, published_errors
from core.audio import SAMPLE_RATE, load_audio
from core.features import extract as extraction
from core.features import reference, spectral
from core.features.extract import HOP, N_FFT, extract
from core.features.schema import GTZAN_KAGGLE, IDENTITY_COLUMNS, SEED, WHOLE_TRACK, FeatureSchema

SR = SAMPLE_RATE
SCHEMAS = [SEED, GTZAN_KAGGLE]


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Chord + 120-bpm clicks + noise, mono float32."""
    return synth("music", seconds=seconds, seed=seed)[:, 0]


def assert_rows_close(ours: np.ndarray, ref: np.ndarray, schema: FeatureSchema) -> None:
    """The module's tolerance (see the docstring), column by column."""
    ours, ref = np.atleast_2d(ours), np.atleast_2d(ref)
    atol = np.zeros(ref.shape)
    for i, col in enumerate(schema.columns):
        if col.endswith("_mean"):  # always followed by its _var
            second_moment = ref[:, i] ** 2 + np.abs(ref[:, i + 1])
            atol[:, i], atol[:, i + 1] = 1e-6 * np.sqrt(second_moment), 1e-6 * second_moment
    bad = ~(np.abs(ours - ref) <= 1e-5 * np.abs(ref) + atol)
    assert not bad.any(), [(schema.columns[j], ours[i, j], ref[i, j]) for i, j in zip(*np.nonzero(bad))][:5]


def spectrum(y: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))


# ------------------------------------------------------------------ the faster kernels, one by one
TUNING_SIGNALS = {
    "music": lambda: music(4),
    "detuned chord": lambda: synth("chord", seconds=2, freq=440 * 2 ** (0.27 / 12))[:, 0],
    "noise": lambda: synth("noise", seconds=2)[:, 0],
    "silence": lambda: np.zeros(SR, dtype=np.float32),
    "low tone only": lambda: synth("tone", seconds=2, freq=60)[:, 0],  # no peak inside 150 Hz-4 kHz
}


@pytest.mark.parametrize("name", TUNING_SIGNALS)
def test_tuning_is_bit_equal_to_librosa(name: str) -> None:
    power = spectrum(TUNING_SIGNALS[name]()) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa warns on an empty pitch set
        expected = librosa.estimate_tuning(S=power, sr=SR, bins_per_octave=12)
    assert spectral.estimate_tuning(power, SR, N_FFT) == expected


def test_tuning_detects_detuning() -> None:
    power = spectrum(TUNING_SIGNALS["detuned chord"]()) ** 2
    assert spectral.estimate_tuning(power, SR, N_FFT) == pytest.approx(0.27, abs=0.05)


def awkward_signal() -> np.ndarray:
    """Music with digital silence, signed zeros, values at the zero-crossing threshold, odd length."""
    y = music(3.0)
    y[5000:9000] = 0.0
    y[9000:9100] = -0.0
    y[9100:9200:2], y[9101:9200:2] = 1e-10, -1e-10  # at the (float32) threshold: count as zero
    y[9200:9300:2], y[9201:9300:2] = 2e-10, -2e-10  # outside: real crossings
    return np.concatenate([y, music(0.5)[:777]])


@pytest.mark.parametrize("length", [len(awkward_signal()), 512 * 130])  # odd, and a multiple of HOP
def test_rolloff_and_zero_crossings_are_bit_equal(length: int) -> None:
    y = awkward_signal()[:length]
    mag = spectrum(y)
    assert np.array_equal(spectral.rolloff(mag, SR, N_FFT), librosa.feature.spectral_rolloff(S=mag, sr=SR))
    expected = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    assert np.array_equal(spectral.zero_crossing_rate(y, N_FFT, HOP), expected)
    assert np.array_equal(spectral.zero_crossing_rate(y, N_FFT, HOP, block_frames=7), expected)


def test_centroid_and_bandwidth_match_librosa_including_silent_frames() -> None:
    y = awkward_signal()
    y[20000:40000] = 0.0  # whole frames of zero energy
    mag = spectrum(y)
    centroid, bandwidth = spectral.centroid_bandwidth(mag, SR, N_FFT)
    assert (centroid == 0).any()
    np.testing.assert_allclose(centroid, librosa.feature.spectral_centroid(S=mag, sr=SR), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bandwidth, librosa.feature.spectral_bandwidth(S=mag, sr=SR), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ rows vs the plain recipe
@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
@pytest.mark.parametrize("seconds", [7.3, 512 * 300 / SR])  # 300 hops exactly: the final frame counts
def test_whole_track_row_equals_reference(schema: FeatureSchema, seconds: float) -> None:
    y = music(seconds)[: int(round(seconds * SR))]
    assert_rows_close(extract(y, SR, schema).track, reference.reference_row(y, SR, schema), schema)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_blockwise_stft_equals_reference(schema: FeatureSchema, monkeypatch) -> None:
    """Long recordings go through the STFT in blocks (with a first pass for the global tuning)."""
    monkeypatch.setattr(extraction, "BLOCK_FRAMES", 100)
    y = music(7.3, seed=3)
    ours = extract(y, SR, schema)
    assert_rows_close(ours.track, reference.reference_row(y, SR, schema), schema)
    assert_rows_close(ours.slices, reference.reference_frame_slices(y, SR, schema), schema)


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.name)
def test_slice_rows_equal_whole_track_reference(schema: FeatureSchema) -> None:
    y = music(10.0, seed=1)
    ours = extract(y, SR, schema)
    assert len(ours.slices) == 3
    assert_rows_close(ours.slices, reference.reference_frame_slices(y, SR, schema), schema)


def test_real_clip_equals_reference(shared_data) -> None:
    y = load_audio(shared_data / "gtzan_flac" / "jazz" / "jazz.00001.flac").y
    for schema in SCHEMAS:
        ours = extract(y, SR, schema)
        assert len(ours.slices) == 10
        assert_rows_close(ours.track, reference.reference_row(y, SR, schema), schema)
        assert_rows_close(ours.slices, reference.reference_frame_slices(y, SR, schema), schema)


def test_overlapping_slices_reuse_the_same_frames() -> None:
    y = music(12.0, seed=2)
    plain = extract(y, SR, SEED)
    overlapping = extract(y, SR, SEED, hop_seconds=1.5)
    assert list(overlapping.slice_starts) == [int(i * 1.5 * SR) for i in range(7)]
    np.testing.assert_array_equal(overlapping.slices[::2], plain.slices)
    np.testing.assert_array_equal(overlapping.track, plain.track)


def test_frame_ranges_hold_the_frames_centred_in_each_range() -> None:
    n_samples = 10 * HOP
    n_frames = 1 + n_samples // HOP
    centres = np.arange(n_frames) * HOP
    starts, stops = np.array([0, 1, HOP, 3 * HOP + 5]), np.array([HOP, HOP + 1, 4 * HOP, n_samples])
    first, last = extraction.frame_ranges(starts, stops, n_samples, n_frames)
    for a, b, start, stop in zip(first, last, starts, stops):
        inside = np.flatnonzero((centres >= start) & (centres < stop))
        expected = (inside[0], n_frames if stop == n_samples else inside[-1] + 1)
        assert (a, b) == expected


# ------------------------------------------------------------------ slicing and the table layout
def test_thirty_seconds_make_ten_slices_and_a_table() -> None:
    y = music(30.0)
    ext = extract(y, SR, SEED)
    assert ext.slices.shape == (10, len(SEED.columns)) and np.isfinite(ext.slices).all()
    assert list(ext.slice_starts) == [i * 66150 for i in range(10)]
    table = ext.table("blues/x", path="x.wav", label="blues")
    assert list(table.columns) == list(IDENTITY_COLUMNS) + list(SEED.columns)
    assert list(table["slice"]) == [WHOLE_TRACK, *range(10)]
    assert table["duration_s"].iloc[0] == pytest.approx(30.0) and (table["duration_s"].iloc[1:] == 3.0).all()
    assert (table["schema_version"] == SEED.id).all()
    np.testing.assert_array_equal(table[list(SEED.columns)].to_numpy()[0], ext.track)


def test_short_recording_gets_one_slice_covering_it() -> None:
    y = music(2.0)
    ext = extract(y, SR, SEED)
    assert len(ext.slices) == 1
    np.testing.assert_array_equal(ext.slices[0], ext.track)
    assert ext.table("x")["duration_s"].iloc[1] == pytest.approx(2.0)


def test_max_slices_and_too_short_slices() -> None:
    assert len(extract(music(10.0), SR, SEED, max_slices=2).slices) == 2
    with pytest.raises(ValueError, match="at least"):
        extract(music(2.0), SR, SEED, slice_seconds=0.01)


# ------------------------------------------------------------------ the published GTZAN table
def test_lossless_clips_reproduce_published_table(shared_data) -> None:
    """1 FLAC clip per genre (10 of the 100, to stay fast; the bench runs all 100): every column's
    median scale-aware error (relative to max(|published|, the column's std across the table)) is
    within 2%, and the plain relative error too except for the zero-centred harmony/perceptr means."""
    errors = published_errors(clips(shared_data / "gtzan_flac", 1), shared_data / "features" / "features_30_sec.csv")
    scale_aware, relative = errors["scale_aware"].median(), errors["relative"].median()
    assert len(scale_aware) == 57
    assert (scale_aware <= 0.02).all(), scale_aware[scale_aware > 0.02]
    relative = relative.drop(["harmony_mean", "perceptr_mean"])
    assert (relative <= 0.02).all(), relative[relative > 0.02]
