"""Spectrogram patches and their cache, the CNN, the VGG transfer model, ensembles, and classify with each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from model_helpers import bare_card

from core.data.store import FeatureTableError
from core.features import musicnn
from core.features import spectrograms as sp
from core.features.schema import SEED
from core.models import registry
from core.models.builders import BUILDERS, build_model, seed_mlp
from core.models.cnn import mel_cnn, track_probabilities, train_cnn
from core.models.model_inputs import ensemble_model, input_kinds
from core.models.transfer import transfer_model, vgg_head
from core.predict import classify

CLASSES = ("blues", "metal")


def test_quantise_round_trip_within_half_a_step_and_clipped():
    db = np.linspace(-100, 27.5, 1000, dtype=np.float32)
    assert np.abs(sp.dequantise(sp.quantise(db)) - db).max() <= sp.DB_STEP / 2 + 1e-5
    assert sp.quantise(np.array([-200.0, 500.0])).tolist() == [0, 255]
    assert sp.quantise(db).dtype == np.uint8


def test_patches_at_shapes_end_shift_and_short_repeat():
    spec = np.arange(sp.N_MELS * 300, dtype=np.float32).reshape(sp.N_MELS, 300)
    p = sp.patches_at(spec, np.array([0, 100, 250]))
    assert p.shape == (3, sp.N_MELS, sp.PATCH_FRAMES)
    np.testing.assert_array_equal(p[1], spec[:, 100:228])
    np.testing.assert_array_equal(p[2], spec[:, -sp.PATCH_FRAMES:])  # shifted back to end at the last frame
    short = sp.patches_at(spec[:, :50], np.array([0]))
    np.testing.assert_array_equal(short[0, :, 50:100], spec[:, :50])  # repeated to fill the window


def test_spectrogram_cache_round_trip_and_refusal(tmp_path):
    rng = np.random.default_rng(0)
    specs = [rng.uniform(-80, 20, (sp.N_MELS, n)).astype(np.float32) for n in (200, 90)]
    sp.write_spectrograms([sp.spectrogram_row(f"t{i}", "", g, s) for i, (g, s) in enumerate(zip(CLASSES, specs))],
                          tmp_path / "mel.parquet")
    got = sp.read_spectrograms(tmp_path / "mel.parquet")
    assert got.track_ids == ["t0", "t1"] and got.labels == list(CLASSES)
    for codes, spec in zip(got.codes, specs):
        assert codes.shape == spec.shape
        assert np.abs(sp.dequantise(codes) - spec).max() <= sp.DB_STEP / 2 + 1e-5
    pd.DataFrame({"track_id": ["x"]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(FeatureTableError, match="not a spectrogram cache"):
        sp.read_spectrograms(tmp_path / "other.parquet")


def synthetic_set(n_per_class: int = 6, frames: int = 260, seed: int = 0) -> sp.SpectrogramSet:
    """Class 0 loud in the low bands, class 1 in the high bands, plus noise."""
    rng = np.random.default_rng(seed)
    ids, labels, codes = [], [], []
    for c, genre in enumerate(CLASSES):
        for t in range(n_per_class):
            spec = rng.normal(-60, 5, (sp.N_MELS, frames))
            band = slice(0, 40) if c == 0 else slice(80, 120)
            spec[band] += 40
            ids.append(f"{genre}.{t}")
            labels.append(genre)
            codes.append(sp.quantise(spec))
    return sp.SpectrogramSet(ids, labels, codes)


def test_patch_dataset_batches_crops_and_weights():
    data = synthetic_set(2)
    y = np.array([0, 0, 1, 1])
    ds = sp.patch_dataset(data, y, batch_size=3, crops_per_track=2, augment=False, weights=np.ones(4))
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [3, 3, 2]
    x, labels, weights = batches[0]
    assert x.shape == (3, sp.N_MELS, sp.PATCH_FRAMES) and weights.shape == (3,)
    for patch, label in zip(x.numpy(), labels.numpy()):  # without augmentation a crop is a window of its track
        source = [sp.dequantise(c) for c, lab in zip(data.codes, y) if lab == label]
        assert any(np.allclose(patch, s[:, f:f + sp.PATCH_FRAMES]) for s in source for f in range(260 - 127))
    augmented = next(iter(sp.patch_dataset(data, y, batch_size=4, augment=True, seed=1)))[0].numpy()
    assert augmented.shape == (4, sp.N_MELS, sp.PATCH_FRAMES) and np.isfinite(augmented).all()


def test_mel_cnn_shapes_and_parameters():
    x = np.random.default_rng(0).normal(-40, 10, (4, sp.N_MELS, sp.PATCH_FRAMES)).astype(np.float32)
    model = mel_cnn(x, 10)
    assert model.input_shape == (None, sp.N_MELS, sp.PATCH_FRAMES) and model.output_shape == (None, 10)
    np.testing.assert_allclose(np.asarray(model(x)).sum(axis=1), 1.0, rtol=1e-5)
    assert {"mel_cnn", "vgg_head", "seed_mlp"} <= set(BUILDERS)


def test_tiny_cnn_training_run_separates_two_classes():
    data = synthetic_set()
    model, history = train_cnn(data, CLASSES, epochs=8, crops_per_track=4, batch_size=8, filters=(4, 8, 8))
    assert len(history.epochs) == 8 and history.epochs[-1].loss < history.epochs[0].loss
    probs = track_probabilities(model, synthetic_set(2, seed=1))
    assert probs.shape == (4, 2)
    assert probs.argmax(axis=1).tolist() == [0, 0, 1, 1]


@pytest.fixture(scope="module")
def networks():
    """Small untrained members: (kind, model) for the seed MLP, the CNN and the VGG transfer model."""
    rng = np.random.default_rng(0)
    mlp = seed_mlp(rng.normal(0, 1, (20, len(SEED.columns))).astype(np.float32), 2, units=(8,))
    cnn = build_model("mel_cnn", rng.normal(-40, 10, (4, sp.N_MELS, sp.PATCH_FRAMES)).astype(np.float32), 2,
                      filters=(4, 8))
    head = vgg_head(rng.normal(0, 1, (20, 256)).astype(np.float32), 2, units=8)
    return {"features": mlp, "log_mel": cnn, "musicnn": transfer_model(head)}


def test_transfer_model_reads_musicnn_patches_with_frozen_embedding(networks):
    model = networks["musicnn"]
    assert model.input_shape == (None, musicnn.PATCH_FRAMES, musicnn.N_MELS) and model.output_shape == (None, 2)
    trainable = {w.path for w in model.trainable_weights}
    assert trainable and all(p.startswith("vgg_head") for p in trainable)  # only the head learns
    spec = np.random.default_rng(0).normal(0, 1, (400, musicnn.N_MELS)).astype(np.float32)
    patches = musicnn.patches_at(spec, np.array([0.0, 3.0, 100.0]))
    np.testing.assert_array_equal(patches[1], spec[188:375])  # 3 s = 187.5 frames at 16 kHz / hop 256
    np.testing.assert_array_equal(patches[2], spec[-musicnn.PATCH_FRAMES:])


@pytest.mark.parametrize("kinds", [["log_mel"], ["musicnn"], ["features", "log_mel", "musicnn"]])
def test_registry_round_trip_and_classify(networks, kinds, tmp_path, make_wav):
    members = [(k, networks[k]) for k in kinds]
    model = members[0][1] if len(kinds) == 1 else ensemble_model(members)
    registry.save_model("net", model, bare_card(tuple(kinds), CLASSES), tmp_path)
    loaded = registry.load_model("net", tmp_path)
    assert input_kinds(loaded.info.card) == tuple(kinds)
    result = classify(make_wav("music", seconds=7.0), loaded)
    assert result.segment_probabilities.shape == (len(result.segment_starts), 2) == (2, 2)  # 3-s windows side by side
    np.testing.assert_allclose(result.probabilities, result.segment_probabilities.mean(axis=0))
    np.testing.assert_allclose(result.probabilities.sum(), 1.0, rtol=1e-5)
    if len(kinds) == 1:  # the saved model computes what the trained one did
        x = np.random.default_rng(1).normal(-30, 10, (2, *model.input_shape[1:])).astype(np.float32)
        np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    else:  # the ensemble is the mean of its members
        inputs = [np.random.default_rng(i).normal(-30, 10, (2, *m.input_shape[1:])).astype(np.float32)
                  for i, (_, m) in enumerate(members)]
        expected = np.mean([np.asarray(m(x)) for (_, m), x in zip(members, inputs)], axis=0)
        np.testing.assert_allclose(np.asarray(loaded.model(inputs)), expected, rtol=1e-5, atol=1e-6)


def test_unknown_model_input_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        input_kinds(bare_card(("waveform",), CLASSES))
