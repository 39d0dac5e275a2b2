"""Datasets, stores and tables in object storage (fsspec URLs).

``memory://`` checks the store and discovery in-process; the rest runs against a real S3-compatible
server (moto's standalone server on loopback, started here; credentials and endpoint from the usual
``AWS_*`` variables) with a local Dask cluster whose workers read the audio from and write their
parts to ``s3://``: the table equals the local-disk one row for row, a worker killed mid-run loses
and duplicates nothing, the CLI compacts to an ``s3://`` file, and a model streams one epoch from it.
"""

from __future__ import annotations

import time
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest
from extraction_helpers import raw_rows, worker_killer, write_small_dataset
from s3_server import BUCKET

from core import storage
from core.cli import main
from core.data.dataset import discover, extract_dataset
from core.data.explore import synthetic_table
from core.data.store import done_keys, is_store, open_store, part_paths, read_errors, read_features, write_errors, write_part
from core.features.schema import SEED

SLICES = 1
DATA = f"s3://{BUCKET}/data"


def test_memory_store_and_discovery(tmp_path):
    """A store and a genre-folder dataset under ``memory://`` behave as on disk."""
    table = synthetic_table(SEED, n_tracks=6, slices=2, seed=1)
    root = open_store("memory://stores/a", SEED, 2)
    assert root == "memory://stores/a" and is_store(root)
    write_part(root, table.iloc[:9].reset_index(drop=True))
    write_part(root, table.iloc[9:].reset_index(drop=True))
    assert [storage.name(p) for p in part_paths(root)] == ["part-0000.parquet", "part-0001.parquet"]
    assert done_keys(root) == set(table["track_id"])
    pd.testing.assert_frame_equal(read_features(root), read_features(_local_store(tmp_path, table)))
    write_errors(root, pd.DataFrame({"track_id": ["x"], "path": ["memory://x.wav"], "reason": ["bad"]}))
    assert list(read_errors(root)["reason"]) == ["bad"]

    fs = fsspec.filesystem("memory")
    fs.pipe({"/ds/rock/a.wav": b"", "/ds/jazz/sub/b.flac": b"", "/ds/jazz/notes.txt": b"",
             "/ds/manifest.csv": b"path,label\nrock/a.wav,rock\n../elsewhere/c.ogg,jazz\n"})
    assert [(t.track_id, t.path, t.label) for t in discover("memory://ds")] == [
        ("jazz/sub/b", "memory:///ds/jazz/sub/b.flac", "jazz"), ("rock/a", "memory:///ds/rock/a.wav", "rock")]
    assert [(t.track_id, t.path) for t in discover("memory://ds/manifest.csv")] == [
        ("../elsewhere/c", "memory://elsewhere/c.ogg"), ("rock/a", "memory://ds/rock/a.wav")]


def test_audio_from_a_url_is_decoded_as_from_disk(make_wav):
    from core.audio import AudioError, load_audio
    from core.predict_batch import audio_files

    wav = make_wav("music", seconds=2.0)
    fsspec.filesystem("memory").pipe({"/songs/rock/a.wav": wav.read_bytes(), "/songs/rock/b.txt": b"x"})
    from_url = load_audio("memory://songs/rock/a.wav")
    np.testing.assert_array_equal(from_url.y, load_audio(wav).y)
    assert audio_files(["memory://songs"]) == ["memory:///songs/rock/a.wav"]
    with pytest.raises(AudioError, match="c.wav: file not found"):
        load_audio("memory://songs/rock/c.wav")


def _local_store(tmp_path: Path, table: pd.DataFrame) -> Path:
    root = open_store(tmp_path / "local", SEED, 2)
    write_part(root, table)
    return root


def test_reads_see_what_another_process_wrote_meanwhile(s3):
    """Listings are not cached between reads: extraction workers write into the same store."""
    table = synthetic_table(SEED, n_tracks=4, slices=1, seed=2)
    first = table["track_id"].isin(sorted(set(table["track_id"]))[:2])
    root = open_store(f"s3://{BUCKET}/stores/shared", SEED, 1)
    write_part(root, table[first].reset_index(drop=True))
    assert (len(part_paths(root)), len(done_keys(root)), len(read_errors(root))) == (1, 2, 0)
    assert len(read_features(root)) == first.sum()
    elsewhere = open_store(f"s3://{BUCKET}/stores/elsewhere", SEED, 1)
    # Another process (the fixture's own S3 client) copies a part and an errors table into the store:
    write_part(elsewhere, table[~first].reset_index(drop=True))
    write_errors(elsewhere, pd.DataFrame({"track_id": ["x"], "path": ["s3://x.wav"], "reason": ["bad"]}))
    s3.copy(f"{BUCKET}/stores/elsewhere/parts/part-0000.parquet", f"{BUCKET}/stores/shared/parts/part-0001.parquet")
    s3.copy(f"{BUCKET}/stores/elsewhere/errors.parquet", f"{BUCKET}/stores/shared/errors.parquet")
    assert (len(part_paths(root)), done_keys(root), len(read_errors(root))) == (2, set(table["track_id"]), 1)
    assert len(read_features(root)) == len(table)


@pytest.fixture(scope="module")
def local_data(tmp_path_factory) -> Path:
    return write_small_dataset(tmp_path_factory.mktemp("objstore") / "data")


@pytest.fixture(scope="module")
def cluster(s3):
    """Two Dask worker processes, started after the AWS_* variables are set (they inherit them)."""
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def s3_data(s3, local_data) -> str:
    """The dataset uploaded to ``s3://``, with a path,label manifest beside it."""
    s3.put(f"{local_data}/", f"{BUCKET}/data/", recursive=True)
    rows = [f"{f.relative_to(local_data).as_posix()},{f.parent.name}" for f in sorted(local_data.rglob("*.wav"))]
    s3.pipe_file(f"{BUCKET}/data/manifest.csv", ("path,label\n" + "\n".join(rows) + "\n").encode())
    return DATA


@pytest.fixture(scope="module")
def local_table(cluster, local_data) -> pd.DataFrame:
    from core.data.dask_engine import dask_engine
    store = local_data.parent / "local-store"
    extract_dataset(discover(local_data), store, SEED, max_slices=SLICES, engine=dask_engine(cluster.scheduler_address))
    return read_features(store)


def same_rows(table: pd.DataFrame, local: pd.DataFrame, local_data: Path) -> None:
    """Row for row the local-disk table, except that paths point into the bucket."""
    pd.testing.assert_frame_equal(table.drop(columns="path"), local.drop(columns="path"))
    assert list(table["path"]) == [p.replace(str(local_data), DATA) for p in local["path"]]


def test_extract_from_and_to_s3_equals_local_disk(cluster, s3, s3_data, local_data, local_table):
    from core.data.dask_engine import dask_engine
    store = f"s3://{BUCKET}/stores/plain"
    engine = dask_engine(cluster.scheduler_address)
    summary = extract_dataset(discover(s3_data), store, SEED, max_slices=SLICES, part_tracks=2, engine=engine)
    assert (summary.extracted, [t for t, _ in summary.errors]) == (6, ["rock/broken"])
    assert "not an audio file" in summary.errors[0][1]
    assert list(read_errors(store)["track_id"]) == ["rock/broken"]
    assert len(part_paths(store)) == 4 and all(p.startswith(f"{store}/parts/") for p in part_paths(store))
    same_rows(read_features(store), local_table, local_data)

    again = extract_dataset(discover(s3_data), store, SEED, max_slices=SLICES, part_tracks=2, engine=engine)
    assert (again.skipped, again.extracted, len(again.errors)) == (6, 0, 1)  # only the bad file is retried
    assert len(raw_rows(store)) == len(local_table)


def test_worker_killed_mid_run_resumes_with_no_lost_or_duplicated_rows(cluster, s3, s3_data, local_data,
                                                                       local_table):
    from distributed import Client

    from core.data.dask_engine import dask_engine
    store = f"s3://{BUCKET}/stores/killed"
    with Client(cluster) as client:
        kill_a_busy_worker, killed = worker_killer(client)
        extract_dataset(discover(s3_data), store, SEED, max_slices=SLICES, part_tracks=1,
                        engine=dask_engine(cluster.scheduler_address), progress=kill_a_busy_worker)
        assert killed
        deadline = time.monotonic() + 60  # the nanny restarts the worker
        while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    rerun = extract_dataset(discover(s3_data), store, SEED, max_slices=SLICES, part_tracks=1,
                            engine=dask_engine(cluster.scheduler_address))
    assert rerun.extracted == 0 and rerun.skipped == 6
    assert not raw_rows(store).duplicated(["track_id", "slice"]).any()
    same_rows(read_features(store), local_table, local_data)


def test_cli_manifest_on_s3_to_one_parquet_file_then_stream_train(cluster, s3, s3_data, local_data, local_table,
                                                                  capsys):
    out = f"s3://{BUCKET}/out/features.parquet"
    code = main(["extract", f"{s3_data}/manifest.csv", "--out", out, "--slices", str(SLICES), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--part-size", "3"])
    assert code == 1  # the broken file
    assert f"s3://{BUCKET}/out/features.errors.parquet" in capsys.readouterr().out
    same_rows(read_features(out), local_table, local_data)
    assert s3.ls(f"{BUCKET}/out") == [f"{BUCKET}/out/features.errors.parquet", f"{BUCKET}/out/features.parquet"]

    from core.models.streaming import train_streaming
    from core.models.train import TrainConfig
    model, history, stats = train_streaming(TrainConfig(epochs=1, batch_size=4, validation_fraction=0.0,
                                                        monitor="loss"), out)
    assert stats.rows == 6 and stats.classes == ("jazz", "rock") and len(history.epochs) == 1
