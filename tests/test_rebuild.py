"""Every shipped model is rebuilt by the command in its card: each card's ``python -m core train ...`` runs on a
tiny subset (a few synthetic seconds of audio, or a few tracks of the demo table, 1 epoch) and trains the same
architecture on the same inputs, with the command it ran in the new card."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd
import pytest

from core.cli import build_parser, main
from core.commands.train_audio import ARCHITECTURES as AUDIO_ARCHITECTURES
from core.models import registry
from core.models.model_card import ModelCard

REPO = Path(__file__).resolve().parents[1]
CARDS = {p.parent.name: ModelCard.from_json(json.loads(p.read_text())) for p in sorted((REPO / "models").glob("*/model.json"))}
KINDS = {"blues": "chord", "classical": "tone", "metal": "noise"}
# What the test drops from a card's command (checks and extras around the architecture, each seconds to minutes
# on its own: the held-out protocol of a table model, the real-world check, the music detector, the default, the
# patch cache), with how many values follow each, and what it appends (one epoch of every network, no validation).
DROPPED = {"--evaluate": 1, "--check": 1, "--music-detector": 0, "--default": 0, "--cache": 1}
SMALL = ["--epochs", "1", "--cnn-epochs", "1", "--head-epochs", "1", "--validation", "0"]  # too few tracks to hold any out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """A folder of 3 genres x 2 synthetic 4-s tracks, a table of 3 genres x 3 tracks of the demo table, and the
    cache the audio commands share (each track decoded once for every architecture)."""
    import soundfile as sf
    from synth_audio import synth

    root = tmp_path_factory.mktemp("tiny")
    for genre, kind in KINDS.items():
        (root / "audio" / genre).mkdir(parents=True)
        for i in range(2):
            sf.write(root / "audio" / genre / f"{genre}.{i:05d}.wav",
                     synth(kind, sr=22_050, seconds=4.0, freq=220.0 * (i + 1), seed=i), 22_050)
    table = pd.read_parquet(REPO / "demo" / "gtzan_seed.parquet")
    tracks = table[table["label"].isin(KINDS)].groupby("label")["track_id"].unique().map(lambda t: sorted(t)[:3])
    table[table["track_id"].isin([t for ts in tracks for t in ts])].to_parquet(root / "table.parquet")
    return {"audio": root / "audio", "table": root / "table.parquet", "cache": root / "cache"}


def small_command(command: str, tiny: dict[str, Path], name: str) -> list[str]:
    """The card's command with its sources replaced by the tiny ones, its extras dropped, 1 epoch, the shared
    cache (audio) and ``name``."""
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "core", "train"], command
    args = words[4:]
    parsed = build_parser().parse_args(["train", *args])
    audio = parsed.audio or parsed.architecture in AUDIO_ARCHITECTURES
    source = str(tiny["audio"] if audio else tiny["table"])
    kept: list[str] = []
    skip = 0
    for i, word in enumerate(args):
        if skip:
            skip -= 1
        elif word in DROPPED:
            numeric = i + 1 < len(args) and args[i + 1].isdigit()
            skip = DROPPED[word] or int(word == "--music-detector" and numeric)
        elif word in parsed.features:
            kept += [] if source in kept else [source]
        else:
            kept.append(word)
    kept[kept.index("--name") + 1] = name
    evaluate = ["--evaluate", "track"] if parsed.architecture == "musicnn_linear" and parsed.evaluate else []
    cache = ["--cache", str(tiny["cache"])] if audio else []
    return ["train", *kept, *evaluate, *SMALL, *cache, "--overwrite"]


@pytest.mark.parametrize("name", sorted(CARDS))
def test_every_shipped_models_card_command_rebuilds_its_architecture(name, tiny, tmp_path, monkeypatch) -> None:
    shipped = CARDS[name]
    monkeypatch.setenv(registry.MODELS_ENV, str(tmp_path / "models"))
    argv = small_command(shipped.command, tiny, "rebuilt")
    assert main([*argv, "--workers", "1"]) == 0, argv
    card = registry.load_model("rebuilt").info.card
    assert card.architecture.name == shipped.architecture.name and card.inputs == shipped.inputs
    made = [w for i, w in enumerate(argv) if "--cache" not in (w, argv[i - 1])]
    assert card.command == shlex.join(["python", "-m", "core", *made])  # --workers and --cache are not part of the model
    assert set(card.classes) == set(KINDS)
