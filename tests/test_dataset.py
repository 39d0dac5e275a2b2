"""Datasets: discovery, parallel extraction into the store, bad files, the CLI. (Resume after kill -9 of a
parallel extraction: tests/test_crash_safety.py.)"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.data.dataset import DatasetError, Track, discover, extract_dataset
from core.data.store import part_paths, read_errors, read_features, read_manifest
from core.features.schema import SEED


@pytest.fixture
def dataset(make_wav, tmp_path) -> Path:
    for genre in ("rock", "jazz"):
        for i in range(2):
            make_wav("music", name=f"data/{genre}/{genre}.{i:05d}.wav", seconds=7.0, freq=200.0 + 50 * i)
    return tmp_path / "data"


def test_discover_folder(make_wav, tmp_path):
    make_wav(name="data/Rock/a.WAV")
    make_wav(name="data/rock/live/b.flac")
    make_wav(name="data/jazz/c.ogg")
    (tmp_path / "data/jazz/notes.txt").write_text("not audio")
    (tmp_path / "data/empty").mkdir()
    tracks = discover(tmp_path / "data")
    assert [(t.track_id, t.label) for t in tracks] == [
        ("Rock/a", "rock"), ("jazz/c", "jazz"), ("rock/live/b", "rock")]
    assert Path(tracks[0].path).is_file()


def test_discover_refuses_unclear_datasets(make_wav, tmp_path):
    make_wav(name="polka/a.wav")
    assert [(t.track_id, t.label) for t in discover(tmp_path)] == [("polka/a", "polka")]  # any genre names
    with pytest.raises(DatasetError, match="one sub-folder per genre"):
        discover(tmp_path / "polka")
    make_wav(name="two/rock/a.wav")
    make_wav(name="two/rock/a.flac")
    with pytest.raises(DatasetError, match="share the track id rock/a"):
        discover(tmp_path / "two")
    (tmp_path / "nothing/rock").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no audio files found"):
        discover(tmp_path / "nothing")
    with pytest.raises(DatasetError, match="expected a folder"):
        discover(tmp_path / "absent")


def test_discover_manifest(make_wav, tmp_path):
    make_wav(name="audio/one.wav")
    make_wav(name="elsewhere/two.wav")
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "m.csv"
    manifest.write_text("path,label\n../audio/one.wav,Rock\n../elsewhere/two.wav,jazz\n")
    tracks = discover(manifest)
    assert [(t.track_id, t.label) for t in tracks] == [("../audio/one", "rock"), ("../elsewhere/two", "jazz")]
    assert all(Path(t.path).is_file() for t in tracks)
    manifest.write_text("file,genre\na.wav,rock\n")
    with pytest.raises(DatasetError, match="missing: path, label"):
        discover(manifest)
    manifest.write_text("path,label\n../audio/one.wav,Lo-Fi  Beats\n../elsewhere/two.wav, \n")
    with pytest.raises(DatasetError, match="line 3: no genre label"):
        discover(manifest)
    manifest.write_text("path,label\n../audio/one.wav,Lo-Fi  Beats\n")
    assert [t.label for t in discover(manifest)] == ["lo-fi beats"]


def test_extract_dataset_records_bad_files_and_resumes(dataset, tmp_path, shared_data):
    tracks = discover(dataset) + [Track("jazz/bad", str(shared_data / "bad_audio" / "jazz.00054.wav"), "jazz")]
    calls: list[tuple[int, int]] = []
    summary = extract_dataset(tracks, tmp_path / "store", SEED, max_slices=2, workers=2,
                              progress=lambda done, total: calls.append((done, total)))
    assert (summary.extracted, summary.skipped, len(summary.errors)) == (4, 0, 1)
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    table = read_features(tmp_path / "store")
    assert table.groupby("track_id").size().to_dict() == {t.track_id: 3 for t in tracks[:4]}
    errors = read_errors(tmp_path / "store")
    assert errors["track_id"].tolist() == ["jazz/bad"] and "damaged" in errors["reason"].iloc[0]
    assert read_manifest(tmp_path / "store")["schema"] == SEED.id
    parts = part_paths(tmp_path / "store")

    again = extract_dataset(tracks, tmp_path / "store", SEED, max_slices=2, workers=1)
    assert (again.extracted, again.skipped, len(again.errors)) == (0, 4, 1)  # the bad file is retried
    assert part_paths(tmp_path / "store") == parts  # nothing new to save
    with pytest.raises(ValueError, match="slices 2, not schema seed@1, slices 10"):
        extract_dataset(tracks, tmp_path / "store", SEED, max_slices=10)


def test_fixed_file_leaves_the_errors_table(make_wav, tmp_path):
    path = tmp_path / "data" / "rock" / "x.wav"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RIFF....garbage")
    tracks = discover(tmp_path / "data")
    assert len(extract_dataset(tracks, tmp_path / "store", SEED, max_slices=1, workers=1).errors) == 1
    make_wav("music", name="data/rock/x.wav")
    summary = extract_dataset(tracks, tmp_path / "store", SEED, max_slices=1, workers=1)
    assert (summary.extracted, len(summary.errors)) == (1, 0)
    assert read_errors(tmp_path / "store").empty


def test_cli_single_file_output_and_resume(dataset, tmp_path, capsys):
    out = tmp_path / "features.parquet"
    assert main(["extract", str(dataset), "--out", str(out), "--slices", "3", "--workers", "1",
                 "--limit-files", "3"]) == 0
    assert not (tmp_path / "features.parquet.parts").exists()
    assert read_features(out)["track_id"].nunique() == 3
    capsys.readouterr()
    assert main(["extract", str(dataset), "--out", str(out), "--slices", "3", "--workers", "1"]) == 0
    assert "1 extracted (" in capsys.readouterr().out and not (tmp_path / "features.parquet.parts").exists()
    table = read_features(out)
    assert len(table) == 4 * 3 and not table.duplicated(["track_id", "slice"]).any()
    assert main(["extract", str(dataset), "--out", str(out), "--schema", "gtzan-kaggle"]) == 2
    assert "holds seed@1 features" in capsys.readouterr().err


def test_cli_reports_failed_files(tmp_path, make_wav, capsys):
    make_wav("music", name="data/rock/good.wav")
    make_wav("silence", name="data/rock/quiet.wav")
    out = tmp_path / "f.parquet"
    assert main(["extract", str(tmp_path / "data"), "--out", str(out), "--workers", "1"]) == 1
    printed = capsys.readouterr().out
    assert "1 failed" in printed and "rock/quiet: The recording is silent" in printed
    assert read_errors_file(tmp_path / "f.errors.parquet") == ["rock/quiet"]
    assert read_features(out)["track_id"].unique().tolist() == ["rock/good"]


def read_errors_file(path: Path) -> list[str]:
    return pd.read_parquet(path)["track_id"].tolist()


def test_cli_import_csv(tmp_path, shared_data, capsys):
    csv = shared_data / "features" / "features_30_sec.csv"
    assert main(["import-csv", str(csv), "--out", str(tmp_path / "k.parquet")]) == 0
    assert main(["import-csv", str(csv), "--out", str(tmp_path / "store")]) == 0
    pd.testing.assert_frame_equal(read_features(tmp_path / "k.parquet"), read_features(tmp_path / "store"))
    assert "1,000 rows of 1,000 tracks" in capsys.readouterr().out
    assert main(["import-csv", str(tmp_path / "k.parquet.csv"), "--out", str(tmp_path / "x.parquet")]) == 2
