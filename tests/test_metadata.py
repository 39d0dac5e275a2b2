"""Metadata CSVs (FMA tracks.csv style): ids, paths (given or FMA layout), GTZAN genres matched, others kept, none left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.data.dataset import DatasetError, discover

REPO = Path(__file__).resolve().parents[1]


def test_flat_metadata_csv(tmp_path):
    csv = tmp_path / "tracks.csv"
    csv.write_text("track_id,path,genre_top,title\n"
                   "a1,audio/one.wav,Rock,x\n2,,Hip-Hop,\n155066,,hip hop,\n7,,Electronic,\n8,,,\n")
    tracks = discover(csv)
    assert [(t.track_id, t.label) for t in tracks] == [  # any genre: a model can learn FMA's 16 as well as GTZAN's 10
        ("155066", "hiphop"), ("2", "hiphop"), ("7", "electronic"), ("a1", "rock")]
    paths = {t.track_id: Path(t.path) for t in tracks}
    assert paths["a1"] == tmp_path / "audio" / "one.wav"
    assert paths["2"] == tmp_path / "000" / "000002.mp3" and paths["155066"] == tmp_path / "155" / "155066.mp3"


def test_fma_tracks_csv_with_two_header_rows(tmp_path):
    csv = tmp_path / "tracks.csv"
    csv.write_text(",album,track,track\n,title,genre_top,title\ntrack_id,,,\n"
                   "2,AWOL,Hip-Hop,Food\n3,AWOL,Old-Time /  Historic,Electric Ave\n5,AWOL,Jazz,This World\n6,AWOL,,x\n")
    assert [(t.track_id, t.label, Path(t.path).name) for t in discover(csv)] == [
        ("2", "hiphop", "000002.mp3"), ("3", "old-time / historic", "000003.mp3"), ("5", "jazz", "000005.mp3")]


def test_unusable_metadata_csvs(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("track_id,style\n1,Rock\n")
    with pytest.raises(DatasetError, match="needs a genre column"):
        discover(csv)
    csv.write_text("track_id,genre\n1,\n")
    with pytest.raises(DatasetError, match="no row has a genre"):
        discover(csv)
    csv.write_text("track_id,genre\nabc,Rock\n")
    with pytest.raises(DatasetError, match="not an FMA number"):
        discover(csv)


def test_documented_example_reads():
    tracks = discover(REPO / "examples" / "metadata" / "tracks.csv")
    assert [(t.track_id, t.label) for t in tracks] == [("140", "electronic"), ("2", "hiphop"), ("blues.00000", "blues"), (
        "classical.00000", "classical"), ("hiphop.00000", "hiphop"), ("rock.00000", "rock")]
