"""The Dask engine on a local cluster of 2 worker processes: same table as the local pool, bad files
recorded, a worker killed mid-run loses and duplicates nothing, the CLI's --engine dask."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster
from extraction_helpers import raw_rows, worker_killer, write_small_dataset

from core.cli import main
from core.data.dask_engine import dask_engine
from core.data.dataset import discover, extract_dataset
from core.data.store import part_paths, read_errors, read_features
from core.features.schema import SEED

SLICES = 1


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_small_dataset(tmp_path_factory.mktemp("dask") / "data")


@pytest.fixture(scope="module")
def local_table(dataset, tmp_path_factory) -> pd.DataFrame:
    store = tmp_path_factory.mktemp("local") / "store"
    extract_dataset(discover(dataset), store, SEED, max_slices=SLICES, workers=1)
    return read_features(store)


def test_same_table_as_local_engine_and_bad_file_recorded(cluster, dataset, local_table, tmp_path):
    store = tmp_path / "store"
    summary = extract_dataset(discover(dataset), store, SEED, max_slices=SLICES, part_tracks=2,
                              engine=dask_engine(cluster.scheduler_address))
    assert (summary.extracted, [t for t, _ in summary.errors]) == (6, ["rock/broken"])
    assert list(read_errors(store)["track_id"]) == ["rock/broken"]
    pd.testing.assert_frame_equal(read_features(store), local_table)
    assert len(part_paths(store)) == 4  # batches of 2: the bad file's batch holds one good track

    again = extract_dataset(discover(dataset), store, SEED, max_slices=SLICES, part_tracks=2,
                            engine=dask_engine(cluster.scheduler_address))
    assert (again.skipped, again.extracted, len(again.errors)) == (6, 0, 1)  # only the bad file is retried
    assert len(raw_rows(store)) == len(local_table)


def test_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, dataset, local_table, tmp_path):
    store = tmp_path / "store"
    with Client(cluster) as client:
        kill_a_busy_worker, killed = worker_killer(client)
        summary = extract_dataset(discover(dataset), store, SEED, max_slices=SLICES, part_tracks=1,
                                  engine=dask_engine(cluster.scheduler_address), progress=kill_a_busy_worker)
        assert killed
        # The cluster's nanny restarts the worker; the lost batch ran again elsewhere.
        deadline = time.monotonic() + 120
        while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    assert summary.extracted + len(summary.errors) == 7
    rerun = extract_dataset(discover(dataset), store, SEED, max_slices=SLICES, part_tracks=1,
                            engine=dask_engine(cluster.scheduler_address))
    assert rerun.extracted == 0 and rerun.skipped == 6
    rows = raw_rows(store)
    assert not rows.duplicated(["track_id", "slice"]).any()
    pd.testing.assert_frame_equal(read_features(store), local_table)


def test_cli_engine_dask(cluster, dataset, local_table, tmp_path, capsys):
    out = tmp_path / "features.parquet"
    code = main(["extract", str(dataset), "--out", str(out), "--slices", str(SLICES), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--part-size", "3"])
    assert code == 1  # one file failed
    assert "rock/broken" in capsys.readouterr().out
    pd.testing.assert_frame_equal(read_features(out), local_table)
    assert main(["extract", str(dataset), "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler is for --engine dask" in capsys.readouterr().err
