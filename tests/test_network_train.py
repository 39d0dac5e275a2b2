"""Networks trained on audio (:mod:`core.models.network_train`) report what the Train page draws: the tracks
decoded, the embedding batches and each network's epochs, as ``--report-jsonl`` lines; a stop keeps nothing; a
second run of another network on the same audio reads the decoded tracks from the cache."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.cli import main
from core.models import registry
from core.models.network_train import NetworkRecipe, train_network
from core.models.train import EpochReport, StageReport, Stages, TrainingStopped, report_of

KINDS = {"blues": "chord", "classical": "tone", "metal": "noise"}


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> Path:
    """3 genres x 2 synthetic 4-s tracks."""
    import soundfile as sf
    from synth_audio import synth

    root = tmp_path_factory.mktemp("network") / "audio"
    for genre, kind in KINDS.items():
        (root / genre).mkdir(parents=True)
        for i in range(2):
            sf.write(root / genre / f"{genre}.{i:05d}.wav", synth(kind, sr=22_050, seconds=4.0, freq=220.0 * (i + 1),
                                                                 seed=i), 22_050)
    return root


def test_a_network_reports_its_stages_and_epochs_and_another_network_reads_the_cache(audio, tmp_path):
    cache, reports = tmp_path / "cache", tmp_path / "reports.jsonl"
    args = [str(audio), "--genres", "blues,metal", "--source", "my music", "--cache", str(cache), "--workers", "1"]
    assert main(["train", *args, "--architecture", "mel_cnn", "--cnn-epochs", "2", "--model-config",
                 '{"dropout": 0.5}', "--out", str(tmp_path / "cnn"), "--report-jsonl", str(reports)]) == 0
    seen = [report_of(json.loads(line)) for line in reports.read_text().splitlines()]
    stages = [(r.stage, r.done, r.total) for r in seen if isinstance(r, StageReport)]
    assert stages == [("decode", i, 4) for i in range(5)] + [("embeddings", 0, 1), ("embeddings", 1, 1)] + \
        [("mel_cnn", i, 2) for i in range(3)]
    epochs = [r for r in seen if isinstance(r, EpochReport)]
    assert [(e.epoch, e.epochs) for e in epochs] == [(1, 2), (2, 2)]
    card = registry.load_model("cnn", tmp_path).info.card
    assert card.classes == ("blues", "metal") and card.dataset.sources == ("my music",)
    assert card.training.config["dropout"] == 0.5 and card.training.config["epochs"] == 2

    decoded = sorted((p.name, p.stat().st_mtime_ns) for p in cache.rglob("*.parquet"))
    reports.unlink()
    assert main(["train", *args, "--audio", "--architecture", "seed_mlp", "--epochs", "2", "--validation", "0",
                 "--out", str(tmp_path / "mlp"), "--report-jsonl", str(reports)]) == 0
    assert sorted((p.name, p.stat().st_mtime_ns) for p in cache.rglob("*.parquet")) == decoded  # read, not made again
    seen = [report_of(json.loads(line)) for line in reports.read_text().splitlines()]
    assert [(r.stage, r.done) for r in seen if isinstance(r, StageReport) and r.stage == "decode"] == [("decode", 0),
                                                                                                        ("decode", 4)]
    assert [e.epoch for e in seen if isinstance(e, EpochReport)] == [1, 2]


@pytest.mark.parametrize("when", ["decode", "epoch"])
def test_a_stop_ends_a_network_run_at_its_next_track_or_batch_and_keeps_nothing(audio, tmp_path, when):
    """The Train page's Stop (SIGINT, which sets the flag): during the decoding nothing is cached; during the
    epochs no model is made."""
    stop, cache = threading.Event(), tmp_path / "cache"
    if when == "epoch":  # the tracks decoded and cached first
        train_network([audio], "vgg_transfer", NetworkRecipe(head_epochs=1), cache=cache, genres=("blues", "metal"))
    heard: list = []

    def report(r) -> None:
        heard.append(r)
        if (when == "decode" and isinstance(r, StageReport) and r.stage == "decode" and r.done == 1) or \
                (when == "epoch" and isinstance(r, EpochReport)):
            stop.set()

    cached = sorted(cache.rglob("*")) if cache.exists() else []
    with pytest.raises(TrainingStopped):
        train_network([audio], "seed_mlp", NetworkRecipe(), cache=cache, genres=("blues", "metal"),
                      stages=Stages(report, stop))
    assert (sorted(cache.rglob("*")) if cache.exists() else []) == cached  # nothing half-made is kept
    decoded = [r.done for r in heard if isinstance(r, StageReport) and r.stage == "decode"]
    assert decoded == ([0, 1] if when == "decode" else [0, 4])
    assert sum(isinstance(r, EpochReport) for r in heard) == (0 if when == "decode" else 1)
    if when == "epoch":  # the progress line says the epoch the curves draw
        assert (heard[-1].stage, heard[-1].done) == ("seed_mlp", 1)
