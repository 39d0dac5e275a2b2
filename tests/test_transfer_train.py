"""The default model's recipe end to end on a tiny synthetic dataset: audio folders -> calibrated model."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import softmax

from core.cli import main
from core.models import registry
from core.models.model_card import ModelCard
from core.models.train import report_of
from core.models.transfer import fit_linear_head, fit_temperature, linear_head_model
from core.models.transfer_data import EmbeddingSpec, collect_tracks, track_patches
from core.predict import classify

GENRES = ("blues", "classical", "metal")
KINDS = {"blues": "chord", "classical": "tone", "metal": "noise"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two folders of the same 3 genres x 3 tracks (4 s each); the first has one track fewer."""
    import soundfile as sf
    from synth_audio import synth

    root = tmp_path_factory.mktemp("audio")
    for genre in GENRES:
        for i in range(3):
            y = synth(KINDS[genre], sr=22_050, seconds=4.0, freq=220.0 * (i + 1), seed=i)
            for folder in ("lossless", "lossy"):
                if folder == "lossless" and i == 2:
                    continue
                (root / folder / genre).mkdir(parents=True, exist_ok=True)
                sf.write(root / folder / genre / f"{genre}.{i:05d}.{'flac' if folder == 'lossless' else 'ogg'}", y, 22_050)
    return root


def test_tracks_come_from_the_first_folder_that_has_them(dataset):
    tracks = collect_tracks([dataset / "lossless", dataset / "lossy"])
    assert len(tracks) == 9
    assert sum(t.path.endswith(".flac") for t in tracks) == 6


def test_patches_are_seeded_and_augmented_copies_differ(dataset):
    track = collect_tracks([dataset / "lossless"])[0]
    spec = EmbeddingSpec(variants=2, hop_s=1.0)
    patches, variants, starts, described = track_patches(track, spec)
    again = track_patches(track, spec)[0]
    np.testing.assert_array_equal(patches, again)
    assert patches.shape[1:] == (187, 96) and set(variants) == {0, 1, 2}
    assert not np.array_equal(patches[variants == 0][0], patches[variants == 1][0])
    assert described.shape[1] == 87


def test_a_stop_request_ends_audio_training_at_its_next_step():
    """The Train page's Stop (SIGINT, which sets the flag) ends a run at the next track or setting; keeps nothing."""
    import threading

    from core.models.train import Stages, TrainingStopped

    seen, stop = [], threading.Event()
    stages = Stages(seen.append, stop)
    stages.step("patches", 1, 3)
    stop.set()
    with pytest.raises(TrainingStopped):
        stages.step("patches", 2, 3)
    assert [(s.stage, s.done, s.total) for s in seen] == [("patches", 1, 3)]


def test_temperature_and_linear_head_in_keras_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) + np.repeat(np.eye(3, 5) * 3, 20, axis=0)
    y = np.repeat(np.arange(3), 20)
    head = fit_linear_head(x, y, 3)
    wrong = rng.random(60) < 0.3  # a third of the verdicts wrong but all said with ~99.99% confidence
    predicted = np.where(wrong, (y + 1) % 3, y)
    overconfident = 10.0 * np.eye(3)[predicted]
    assert fit_temperature(overconfident, y, np.arange(60)) > 2.0
    assert fit_temperature(0.1 * np.eye(3)[y], y, np.arange(60)) < 1.0  # right but timid: sharpen
    keras_probs = np.asarray(linear_head_model(head, 2.0)(x.astype(np.float32)))
    per_row = softmax(head.logits(x) / 2.0, axis=1)
    np.testing.assert_allclose(keras_probs, per_row, atol=1e-5)


def test_train_command_builds_a_calibrated_reproducible_model(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path / "models"))
    folders = [str(dataset / "lossless"), str(dataset / "lossy")]
    args = ["train", *folders, "--architecture", "musicnn_linear", "--backbones", "msd_vgg", "--augment", "1",
            "--evaluate", "track", "--workers", "1", "--seed", "3", "--c", "0.1", "1"]
    reports = tmp_path / "reports.jsonl"
    assert main([*args, "--name", "a", "--default", "--report-jsonl", str(reports)]) == 0
    assert main([*args, "--name", "b"]) == 0
    stages = [report_of(json.loads(line)) for line in reports.read_text().splitlines()]
    assert [s.stage for s in stages][:1] == ["patches"] and stages[-1].stage == "final"
    patches = [s for s in stages if s.stage == "patches"]
    assert [s.done for s in patches] == sorted(s.done for s in patches) and patches[-1].done == patches[-1].total
    folds = [s.scores for s in stages if s.stage == "folds" and s.scores]  # what the Train page's fold curves draw
    assert [f["c"] for f in folds] == [0.1, 1.0] and all(0 <= f["balanced_accuracy"] <= 1 for f in folds)
    a, b = registry.load_model("a"), registry.load_model("b")
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)  # same data and seed: same weights
    card = ModelCard.from_json(json.loads((tmp_path / "models" / "a" / "model.json").read_text()))
    assert card.inputs == ("musicnn",) and card.classes == GENRES
    assert card.dataset.tracks == 9 and card.calibration.temperature > 0
    assert 0.0 <= card.metrics.ece <= 1.0 and card.metrics.tracks["n"] == 9
    assert card.training.augmented_patches > 0
    at = args.index("--workers")  # how many processes decode is not part of the recipe
    given = args[1:at] + args[at + 2:]
    assert card.command == shlex.join(["python", "-m", "core", "train", *given, "--name", "a", "--default"])
    same_seed = ModelCard.from_json(json.loads((tmp_path / "models" / "b" / "model.json").read_text()))
    assert set(card.reliability) == {"calibration", "novelty"}  # fitted in the same run, reproducibly
    assert card.reliability == same_seed.reliability
    assert len(card.reliability["novelty"]["track_ids"]) == 9
    assert registry.default_name() == "a"
    result = classify(dataset / "lossy" / "metal" / "metal.00002.ogg", a)
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert result.segment_probabilities.shape[1] == 3
    assert result.novelty is not None and len(result.novelty.closest) == 5 and result.model_probabilities is not None


def test_tag_reasons_are_the_models_own_arithmetic(dataset, tmp_path, monkeypatch):
    """The tags' shares add up to the verdict's margin over the runner-up; only supporting tags are listed."""
    from core.features import musicnn
    from core.models.tag_evidence import LinearHead, explaining_model, explains_with_tags, tag_reasons, tag_shares

    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path / "models"))
    assert main(["train", str(dataset / "lossy"), "--architecture", "musicnn_linear", "--backbones", "msd_vgg",
                 "--workers", "1", "--c", "1", "--name", "t"]) == 0
    loaded = registry.load_model("t")
    meta = loaded.info.card
    other = replace(meta, architecture=replace(meta.architecture, name="vgg_transfer"))
    assert explains_with_tags(meta) and not explains_with_tags(other)
    audio = classify(dataset / "lossy" / "blues" / "blues.00001.ogg", loaded).audio
    patches = musicnn.patches_at(musicnn.log_mel(musicnn.to_16k(audio.y, audio.sr)), np.array([0.0, 1.0]))
    logits, probs = (np.asarray(a, dtype=np.float64) for a in explaining_model(loaded.model).predict_on_batch(patches))
    np.testing.assert_allclose(probs, loaded.model.predict_on_batch(patches), atol=1e-6)
    classes = meta.classes
    order = np.argsort(-probs.mean(axis=0))
    genre, runner_up = classes[order[0]], classes[order[1]]
    head = LinearHead.of(loaded.model)
    shares, _ = tag_shares(head, meta, logits, genre, runner_up)
    bias = loaded.model.get_layer("linear_head").get_layer("genre").get_weights()[1]
    margin = np.mean(np.log(probs[:, order[0]]) - np.log(probs[:, order[1]]))
    assert shares.sum() + bias[order[0]] - bias[order[1]] == pytest.approx(margin, abs=1e-3)
    reasons = tag_reasons(head, meta, logits, genre, runner_up, k=5)
    assert reasons and all(r.share > 0 for r in reasons)
    assert [r.share for r in reasons] == sorted((r.share for r in reasons), reverse=True)
    assert {r.tag for r in reasons} <= set(musicnn.tag_names("msd_vgg"))


def test_a_file_that_cannot_be_read_is_skipped_and_training_goes_on(dataset, tmp_path, monkeypatch, capsys):
    """A corrupt file among the tracks (patches cached): its reason on stderr, the model is
    trained and saved on the others, and a second run from the cache says the same."""
    import shutil

    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path / "models"))
    folder = tmp_path / "songs"
    shutil.copytree(dataset / "lossy", folder)
    (folder / "metal" / "metal.broken.ogg").write_bytes(b"OggS" + b"\x00" * 500)
    args = ["train", str(folder), "--architecture", "musicnn_linear", "--backbones", "msd_vgg", "--workers", "1",
            "--c", "1", "--cache", str(tmp_path / "cache"), "--overwrite", "--name", "m"]
    for _ in range(2):
        assert main(args) == 0
        err = capsys.readouterr().err
        assert f"skipped {folder / 'metal' / 'metal.broken.ogg'}: " in err and "Traceback" not in err
        card = registry.load_model("m").info.card
        assert card.dataset.tracks == 9 and card.dataset.tracks_per_class == {g: 3 for g in GENRES}
