"""Augmentations: same length, rate and dtype; seeded (same seed, same audio); each one changes the sound."""

from __future__ import annotations

import numpy as np
import pytest
from synth_audio import synth

from core.data.augment import AUGMENTATIONS, MODERN_CHAIN, augment

SR = 16_000


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return synth("music", sr=SR, seconds=4.0, amplitude=0.3)[:, 0]


@pytest.mark.parametrize("kind", sorted(AUGMENTATIONS))
def test_each_augmentation_keeps_shape_rate_dtype_and_is_seeded(music, kind):
    a = augment(music, SR, [kind], np.random.default_rng(7))
    b = augment(music, SR, [kind], np.random.default_rng(7))
    c = augment(music, SR, [kind], np.random.default_rng(8))
    assert a.shape == music.shape and a.dtype == np.float32
    assert np.isfinite(a).all() and np.abs(a).max() <= 1.0
    np.testing.assert_array_equal(a, b)  # same seed, same audio
    assert not np.array_equal(a, c)  # another seed draws other settings
    assert not np.allclose(a, music, atol=1e-4)  # it does change the sound


def test_modern_chain_is_reproducible_and_louder_on_quiet_input(music):
    quiet = music * 0.05  # about -40 dBFS RMS, quieter than any chain target
    out = augment(quiet, SR, MODERN_CHAIN, np.random.default_rng(0))
    np.testing.assert_array_equal(out, augment(quiet, SR, MODERN_CHAIN, np.random.default_rng(0)))
    rms_db = lambda y: 10 * np.log10(np.mean(y.astype(np.float64) ** 2))  # noqa: E731
    assert rms_db(out) > rms_db(quiet) + 10


def test_codec_round_trip_is_lossy_but_aligned(music):
    out = augment(music, SR, ["codec"], np.random.default_rng(1))
    assert not np.array_equal(out, music)
    corr = np.corrcoef(out, music)[0, 1]
    assert corr > 0.5  # the encoder's delay is not allowed to shift the audio far


def test_unknown_augmentation_and_unsupported_rate_are_refused(music):
    with pytest.raises(ValueError, match="Unknown augmentation"):
        augment(music, SR, ["reverse"], np.random.default_rng(0))
    with pytest.raises(ValueError, match="MP3 cannot carry"):
        augment(music, 17_000, ["codec"], np.random.default_rng(0))
