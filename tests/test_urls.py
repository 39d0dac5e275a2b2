"""Every command that takes a path takes a URL the same way: a plain path, ``file://``, ``memory://`` and
``s3://`` (moto's S3 server, the ``s3`` fixture) for its inputs and its ``--out``; and a command that an
unexpected error stops prints one line naming the error and the log, never a traceback."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from model_helpers import synthetic_table
from s3_server import BUCKET
from synth_audio import synth

from core import storage
from core.cli import main
from core.data.store import read_features
from core.failures import LOG_ENV
from core.models import registry
from core.models.model_card import model_card
from core.models.train import TrainConfig, train

KINDS = ("path", "file", "memory", "s3")
SR = 22_050
Where = Callable[[str], str]


@pytest.fixture(params=KINDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """``where("a/b.csv")``: where the test keeps ``a/b.csv``, as a location of the kind under test."""
    kind = request.param
    if kind == "path":
        return lambda name: str(tmp_path / name)
    if kind == "file":
        return lambda name: (tmp_path / name).as_uri()
    if kind == "s3":
        request.getfixturevalue("s3")
    root = f"s3://{BUCKET}" if kind == "s3" else "memory:/"
    prefix = f"{root}/{uuid.uuid4().hex[:8]}"
    return lambda name: f"{prefix}/{name}"


def put(location: str, data: bytes) -> str:
    """Write ``data`` at ``location`` (local folders created); returns ``location``."""
    local = storage.location(location)
    if isinstance(local, Path):
        local.parent.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(location, data)
    return location


def wav(seed: int, seconds: float = 1.5) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, synth("music", seconds=seconds, freq=200.0 + 50 * seed, seed=seed, sr=SR), SR, format="WAV")
    return buffer.getvalue()


def parquet(location: str, table: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return put(location, buffer.getvalue())


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    config = TrainConfig(level="slice", epochs=1, batch_size=16, validation_fraction=0, model_config={"units": (8,)})
    model, history = train(config, synthetic_table(n_tracks=3, n_slices=2))
    registry.save_model("tiny", model, model_card(model, config, history, sources=("synthetic",), command=""), root)
    return root


@pytest.fixture
def tiny_model(models_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "log.txt"))
    return "tiny"


@pytest.fixture(scope="module")
def plain_table(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The table ``extract`` writes from a plain-path dataset to a plain-path file: what every kind must equal."""
    data = tmp_path_factory.mktemp("plain") / "data"
    for i, genre in enumerate(("rock", "jazz")):
        put(str(data / genre / f"{genre}.{i}.wav"), wav(i))
    assert main(["extract", str(data), "--out", str(data.parent / "out.parquet"), "--slices", "1",
                 "--workers", "1"]) == 0
    return read_features(data.parent / "out.parquet").drop(columns="path")


@pytest.mark.parametrize("out", ["features.parquet", "store"])
def test_extract(where: Where, out: str, plain_table: pd.DataFrame, tmp_path: Path, capsys) -> None:
    """A folder dataset to a single file and to a store folder. ``memory://`` lives in this process only, so
    the extraction workers cannot read a dataset there (the command says so): it is read from disk."""
    data = where("data")
    for i, genre in enumerate(("rock", "jazz")):
        put(str(storage.child(data, genre, f"{genre}.{i}.wav")), wav(i))
    if data.startswith("memory://"):
        assert main(["extract", data, "--out", where(out), "--slices", "1", "--workers", "1"]) == 2
        assert "the extraction workers cannot read it" in capsys.readouterr().err
        data = str(tmp_path / "data")
        for i, genre in enumerate(("rock", "jazz")):
            put(str(storage.child(data, genre, f"{genre}.{i}.wav")), wav(i))
    assert main(["extract", data, "--out", where(out), "--slices", "1", "--workers", "1"]) == 0
    pd.testing.assert_frame_equal(read_features(where(out)).drop(columns="path"), plain_table)


def test_import_csv(where: Where, tmp_path: Path) -> None:
    from bad_input_cases import gtzan_csv

    csv = put(where("features_30_sec.csv"), gtzan_csv(tmp_path, "made.csv").read_bytes())
    for out in ("gtzan.parquet", "gtzan-store"):
        assert main(["import-csv", csv, "--out", where(out)]) == 0
        assert len(read_features(where(out))) == 4


def test_train(where: Where) -> None:
    table = parquet(where("in/table.parquet"), synthetic_table(n_tracks=3, n_slices=2))
    assert main(["train", table, "--out", where("models/mlp"), "--epochs", "1", "--validation", "0",
                 "--model-config", '{"units": [8]}']) == 0
    meta = json.loads(storage.read_bytes(storage.child(where("models/mlp"), "model.json")))
    assert meta["name"] == "mlp" and storage.is_file(storage.child(where("models/mlp"), "model.keras"))


def test_evaluate(where: Where) -> None:
    table = synthetic_table(n_tracks=4, n_slices=2)
    tracks = sorted(set(table["track_id"]))
    split = "track_id,split\n" + "".join(f"{t},{'test' if i % 4 == 0 else 'train'}\n" for i, t in enumerate(tracks))
    assert main(["evaluate", parquet(where("table.parquet"), table), "--protocol", "file", "--split-file",
                 put(where("split.csv"), split.encode()), "--epochs", "1", "--validation", "0",
                 "--out", where("report.json")]) == 0
    assert json.loads(storage.read_bytes(where("report.json")))["protocol"] == "file"


def test_evaluate_audio(where: Where, tiny_model: str) -> None:
    for i in range(2):
        put(where(f"songs/{i}.wav"), wav(i))
    put(where("songs/MANIFEST.tsv"), b"file\tlabel\n0.wav\tblues\n1.wav\tmetal\n")
    assert main(["evaluate-audio", where("songs"), "--model", tiny_model, "--out", where("report.json")]) == 0
    report = json.loads(storage.read_bytes(where("report.json")))
    assert len(report["songs"]) == 2 and not report["failed"]


def test_predict(where: Where, tiny_model: str) -> None:
    for i in range(2):
        put(where(f"songs/{i}.wav"), wav(i))
    put(where("one.wav"), wav(3))
    assert main(["predict", where("songs"), where("one.wav"), "--model", tiny_model, "--workers", "1",
                 "--out", where("predictions.csv")]) == 0
    table = pd.read_csv(io.BytesIO(storage.read_bytes(where("predictions.csv"))), keep_default_na=False)
    assert len(table) == 3 and (table["genre"] != "").all()


def test_extract_to_a_file_url_equals_the_plain_path_table(tmp_path: Path, plain_table: pd.DataFrame) -> None:
    """The folders of a ``file://`` output are created (it once died with FileNotFoundError) and its table is
    the plain path's, ``path`` column included."""
    data = tmp_path / "data"
    for i, genre in enumerate(("rock", "jazz")):
        put(str(data / genre / f"{genre}.{i}.wav"), wav(i))
    plain, url = tmp_path / "a" / "plain.parquet", (tmp_path / "b" / "deeper" / "url.parquet").as_uri()
    assert main(["extract", str(data), "--out", str(plain), "--slices", "1", "--workers", "1"]) == 0
    assert main(["extract", data.as_uri(), "--out", url, "--slices", "1", "--workers", "1"]) == 0
    pd.testing.assert_frame_equal(read_features(url), read_features(plain))


@pytest.mark.parametrize("command", ["import-csv", "extract", "predict"])
def test_an_unexpected_error_is_one_line_naming_the_log(command: str, tmp_path: Path, tiny_model: str,
                                                         monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def bug(*args, **kwargs):
        raise ZeroDivisionError(f"a bug while reading {tmp_path / 'x.csv'}")

    monkeypatch.setattr("core.commands.import_csv.read_features", bug)
    monkeypatch.setattr("core.commands.extract.discover", bug)
    monkeypatch.setattr("core.predict_batch.audio_files", bug)
    args = {"import-csv": ["import-csv", "x.csv", "--out", str(tmp_path / "o.parquet")],
            "extract": ["extract", str(tmp_path), "--out", str(tmp_path / "o.parquet")],
            "predict": ["predict", str(tmp_path), "--model", tiny_model]}[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    log = tmp_path / "log.txt"
    assert err == (f"error: {command} stopped because of an internal error (ZeroDivisionError: a bug while reading "
                   f"{tmp_path / 'x.csv'}); the details are in the log ({log}).")
    assert "Traceback" in log.read_text() and f"python -m core {command} failed" in log.read_text()
