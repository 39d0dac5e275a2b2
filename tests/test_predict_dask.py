"""``core predict --engine dask`` on a real local cluster of 2 worker processes on loopback: the local engine's
CSV, each worker loading the model once, a manifest, and a killed worker or a killed client resumed to the
same table with no row missing or twice."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf
from distributed import Client, LocalCluster
from extraction_helpers import raw_rows, worker_killer
from model_helpers import save_tiny_model
from synth_audio import synth

from core.cli import main
from core.data.store import part_paths, read_errors
from core.models import registry
from core.predict_dask import predict_on_dask, read_results

REPO = Path(__file__).resolve().parents[1]
GOOD = 7  # good files; one more is not audio


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("songs")
    for i in range(GOOD):
        sf.write(folder / f"{i}.wav", synth("music", seconds=3.0 + i / 2, freq=150.0 + 30 * i, seed=i), 22_050)
    (folder / "9-broken.wav").write_bytes(b"RIFF not really a wave file")
    return folder


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def local_csv(models_dir, songs, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "local.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_ENV, str(models_dir))
        assert main(["predict", str(songs), "--model", "tiny", "--workers", "1", "--out", str(out)]) == 1
    return pd.read_csv(out, keep_default_na=False)


def as_csv(table: Path | pd.DataFrame) -> pd.DataFrame:
    """A CSV file, or a table as it reads back from its CSV."""
    return pd.read_csv(table if isinstance(table, Path) else io.StringIO(table.to_csv(index=False)),
                       keep_default_na=False)


def same_table(table: Path | pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(as_csv(table), as_csv(expected), check_exact=False, atol=1e-3)


def no_row_twice(store: Path) -> None:
    rows = raw_rows(store)
    assert not rows["path"].duplicated().any()
    assert not set(rows["path"]) & set(read_errors(store)["path"])


def test_the_local_engines_csv_each_worker_loading_the_model_once(models_dir, songs, cluster, local_csv, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    store, out = tmp_path / "store", tmp_path / "dask.csv"
    command = ["predict", str(songs), "--model", "tiny", "--engine", "dask", "--scheduler", cluster.scheduler_address,
               "--store", str(store), "--part-size", "2", "--out", str(out)]

    def count_model_loads() -> None:  # on each worker: count the calls of the registry's load_model
        from core import predict_dask

        real = predict_dask.load_model

        def counted(*args, **kwargs):
            predict_dask.model_loads += 1  # type: ignore[attr-defined]
            return real(*args, **kwargs)

        predict_dask.model_loads = 0  # type: ignore[attr-defined]
        predict_dask.load_model = counted

    def model_loads() -> int:
        from core import predict_dask

        return predict_dask.model_loads  # type: ignore[attr-defined]

    with Client(cluster) as client:
        client.run(count_model_loads)
        assert main(command) == 1  # the broken file
        assert sorted(client.run(model_loads).values()) == [1, 1]  # each worker loaded the model once for its files
    same_table(out, local_csv)
    assert "9-broken.wav" in capsys.readouterr().err
    assert list(read_errors(store)["path"]) == [str(songs / "9-broken.wav")]
    assert len(raw_rows(store)) == GOOD and len(part_paths(store)) == 4  # parts of 2 rows: 2 + 2 + 2 + 1

    assert main(command) == 1  # again: only the failed file is tried, the others are in the store
    assert f"{GOOD} files were already in {store}" in capsys.readouterr().err
    same_table(out, local_csv)
    assert len(part_paths(store)) == 4
    no_row_twice(store)

    manifest = tmp_path / "list.csv"  # a manifest, in its own order; the default store goes once the CSV is written
    manifest.write_text(f"path,label\n{songs / '3.wav'},rock\n{os.path.relpath(songs / '1.wav', tmp_path)},jazz\n")
    assert main(["predict", str(manifest), "--model", "tiny", "--engine", "dask", "--scheduler",
                 cluster.scheduler_address, "--out", str(tmp_path / "m.csv")]) == 0
    expected = local_csv.iloc[[3, 1]].reset_index(drop=True).assign(path=[str(songs / "3.wav"), str(songs / "1.wav")])
    same_table(tmp_path / "m.csv", expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dask.csv", "list.csv", "m.csv", "store"]


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(models_dir, songs, cluster, local_csv, tmp_path):
    store, files = tmp_path / "store", [str(p) for p in sorted(songs.iterdir())]
    model = registry.load_model("tiny", models_dir)
    with Client(cluster) as client:
        kill_a_busy_worker, killed = worker_killer(client)
        summary = predict_on_dask(files, model, store, scheduler=cluster.scheduler_address, part_files=1,
                                  progress=kill_a_busy_worker)
        assert killed  # (its nanny starts a new worker meanwhile)
    assert (summary.classified, summary.failed) == (GOOD, 1)  # the killed worker's file ran again elsewhere
    same_table(read_results(store, files, model.classes), local_csv)
    no_row_twice(store)
    again = predict_on_dask(files, model, store, scheduler=cluster.scheduler_address)
    assert (again.skipped, again.classified, again.failed) == (GOOD, 0, 1)


def test_a_client_killed_mid_run_resumes_with_the_same_command(models_dir, songs, cluster, local_csv, tmp_path):
    store, out = tmp_path / "store", tmp_path / "p.csv"
    command = ["predict", str(songs), "--model", "tiny", "--engine", "dask", "--scheduler", cluster.scheduler_address,
               "--store", str(store), "--part-size", "1", "--out", str(out)]
    env = {**os.environ, registry.MODELS_ENV: str(models_dir), "PYTHONPATH": str(REPO)}
    client = subprocess.Popen([sys.executable, "-m", "core", *command], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not part_paths(store):
            assert client.poll() is None, "the client ended before it saved a row"
            time.sleep(0.02)
        os.kill(client.pid, signal.SIGKILL)
    finally:
        client.wait(60)
    assert client.returncode == -signal.SIGKILL
    saved = len(raw_rows(store))
    assert 1 <= saved < GOOD and not out.exists()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.MODELS_ENV, str(models_dir))
        assert main(command) == 1
    same_table(out, local_csv)
    no_row_twice(store)
