"""classify() and the batch predict command on good and bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from crash_helpers import dying_worker_init
from model_helpers import synthetic_table
from synth_audio import synth

from core.audio import AnalysisLimit, AudioError, load_audio
from core.cli import main
from core.features.schema import SEED
from core.models import registry
from core.models.model_card import model_card
from core.models.train import TrainConfig, train
from core.predict import classify
from core.predict_batch import predict_files


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    table = synthetic_table(n_tracks=3, n_slices=2)
    for level in ("slice", "track"):
        config = TrainConfig(level=level, epochs=2, batch_size=16, validation_fraction=0, model_config={"units": (16,)})
        model, history = train(config, table)
        registry.save_model(level, model, model_card(model, config, history, sources=("synthetic",), command=""), root)
    registry.set_default("slice", root)
    return root


def test_classify_gives_segments_track_verdict_features_and_spectrogram(models_dir, make_wav) -> None:
    loaded = registry.load_model("slice", models_dir)
    result = classify(make_wav("music", seconds=10.0, sr=44_100, channels=2), loaded)
    assert result.classes == ("blues", "classical", "metal")
    # 3-s windows side by side over 10 s: starts 0, 3, 6
    np.testing.assert_allclose(result.segment_starts, np.arange(3) * 3.0)
    assert result.segment_probabilities.shape == (3, 3)
    np.testing.assert_allclose(result.segment_probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.probabilities, result.segment_probabilities.mean(axis=0))
    top = result.top(3)
    assert [g for g, _ in top][0] == result.genre and top[0][1] >= top[1][1] >= top[2][1]
    assert list(result.features.index) == list(SEED.columns) and np.isfinite(result.features).all()
    assert result.audio.info.channels == 2 and result.audio.duration_s == pytest.approx(10.0, abs=0.01)
    assert result.spectrogram.db.shape[0] == 128 and 0 < result.spectrogram.db.shape[1] <= 600
    assert result.spectrogram.times[-1] == pytest.approx(10.0, abs=0.2)
    assert result.segment_probabilities.shape == (3, 3) and list(result.segment_starts) == [0.0, 3.0, 6.0]
    assert {"decode", "feature STFT", "network"} <= set(result.stages)


def test_describe_compares_with_the_genre_statistics_and_never_argues_against_the_verdict(models_dir,
                                                                                         make_wav) -> None:
    result = classify(make_wav("music", seconds=6.0), registry.load_model("slice", models_dir))
    (genre, _), (runner_up, _) = result.top(2)
    everything = result.describe(features=list(result.features.index))
    assert len(everything) == len(result.features)
    stats = result.feature_stats.genres[genre][everything[0].feature]
    assert everything[0].z_genre == pytest.approx((everything[0].value - stats.mean) / stats.std)
    evidence = result.describe(4)
    assert all(e.genre == genre and e.runner_up == runner_up and e.description for e in evidence)
    assert [e.score for e in evidence] == sorted((e.score for e in evidence), reverse=True)
    assert all(abs(e.z_genre) < 1 and e.score > 0 for e in evidence)  # typical of the verdict, every one
    typical = [e for e in everything if abs(e.z_genre) < 1 and e.score > 0]
    assert len(evidence) == min(4, len(typical))


def test_track_level_model_uses_the_whole_track_row_and_source_time(models_dir, make_wav) -> None:
    loaded = registry.load_model("track", models_dir)
    audio = load_audio(make_wav("music", seconds=12.0), limit=AnalysisLimit(max_seconds=8.0, offset_s=2.0))
    result = classify(audio, loaded)
    expected = np.asarray(loaded.model(result.features.to_numpy(np.float32)[None, :]))[0]
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5)
    assert result.segment_starts[0] == pytest.approx(2.0) and len(result.segment_starts) == 2


def test_bad_input_raises_a_readable_error(models_dir, make_wav) -> None:
    loaded = registry.load_model("slice", models_dir)
    with pytest.raises(AudioError, match="not an audio file"):
        classify(b"this is not audio at all" * 100, loaded)
    with pytest.raises(AudioError, match="silent"):
        classify(make_wav("silence", seconds=5.0), loaded)


def test_batch_lists_bad_files_and_carries_on(models_dir, make_wav, tmp_path) -> None:
    good = make_wav("music", seconds=4.0, name="songs/good.wav")
    (tmp_path / "songs" / "notes.txt").write_text("not audio")  # ignored: not an audio extension
    (tmp_path / "songs" / "broken.mp3").write_bytes(b"\x00" * 1000)
    missing = tmp_path / "missing.wav"
    table = predict_files([str(tmp_path / "songs" / "broken.mp3"), str(good), str(missing)],
                          registry.load_model("slice", models_dir))
    assert list(table["genre"] != "") == [False, True, False]
    assert "not an audio file" in table.loc[0, "error"] and "not found" in table.loc[2, "error"]
    assert table.loc[1, ["p_blues", "p_classical", "p_metal"]].sum() == pytest.approx(1.0, abs=1e-3)


def test_predict_command_writes_a_csv(models_dir, make_wav, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    make_wav("music", seconds=4.0, name="in/a.wav")
    make_wav("noise", seconds=4.0, name="in/b.flac")
    (tmp_path / "in" / "c.ogg").write_bytes(b"OggS" + b"\x00" * 100)
    out = tmp_path / "predictions.csv"
    # one process: the worker pool's own test is the next but one (and tests/test_isolation.py)
    assert main(["predict", str(tmp_path / "in"), "--model", "track", "--workers", "1", "--out", str(out)]) == 1
    table = pd.read_csv(out, keep_default_na=False)
    assert [p.rsplit("/", 1)[1] for p in table["path"]] == ["a.wav", "b.flac", "c.ogg"]
    assert (table["error"] != "").tolist() == [False, False, True]
    assert "c.ogg" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "in" / "a.wav"), "--model", "nope"]) == 2


def test_the_shipped_default_model_classifies_real_music(shared_data) -> None:
    result = classify(shared_data / "gtzan_flac" / "metal" / "metal.00000.flac", registry.load_model())
    assert result.genre == "metal"


def test_predict_workers_write_the_same_csv_as_one_process(models_dir, make_wav, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    for i, kind in enumerate(("music", "noise", "chord")):
        make_wav(kind, seconds=4.0 + i, name=f"in/{i}.wav")
    (tmp_path / "in" / "3.mp3").write_bytes(b"\x00" * 1000)  # a bad file keeps its place and its error
    tables = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.csv"
        assert main(["predict", str(tmp_path / "in"), "--model", "slice", "--workers", str(workers),
                     "--out", str(out)]) == 1
        tables[workers] = pd.read_csv(out, keep_default_na=False)
    assert tables[1]["error"].ne("").tolist() == [False, False, False, True]
    pd.testing.assert_frame_equal(tables[1], tables[2], check_exact=False, atol=1e-3)


def test_a_worker_that_dies_costs_only_its_file(models_dir, make_wav, tmp_path, monkeypatch, capsys) -> None:
    """Workers that die on two files (through the real pool, its initializer wrapped to ``os._exit`` on them):
    those files get the error row, the pool is replaced, every other file is classified and the CSV written."""
    from core import predict_batch

    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    monkeypatch.setattr(predict_batch, "_init_predict_worker", dying_worker_init)
    names = ["0.wav", "1-crash.wav", "2-crash.wav", "3.wav", "4.wav", "5.mp3"]
    for i, name in enumerate(names[:-1]):
        make_wav("music", seconds=4.0 + i, name=f"in/{name}")
    (tmp_path / "in" / "5.mp3").write_bytes(b"\x00" * 1000)
    out = tmp_path / "p.csv"
    assert main(["predict", str(tmp_path / "in"), "--model", "slice", "--workers", "2", "--out", str(out)]) == 1
    table = pd.read_csv(out, keep_default_na=False)
    assert [p.rsplit("/", 1)[1] for p in table["path"]] == names
    assert (table["genre"] != "").tolist() == [True, False, False, True, True, False]
    assert table["error"].str.contains("ended unexpectedly").tolist() == [False, True, True, False, False, False]
    assert "2-crash.wav: the analysis process ended unexpectedly" in capsys.readouterr().err


def test_the_network_runs_in_fixed_batches_that_grow_linearly_with_the_audio(models_dir, make_wav, monkeypatch) -> None:
    from core import predict
    from core.models import model_inputs

    monkeypatch.setattr(model_inputs, "BATCH", 4)
    monkeypatch.setattr(predict, "explain", lambda *args, **kwargs: None)  # its occlusion runs the network too
    loaded = registry.load_model("slice", models_dir)
    calls: list[int] = []
    real = loaded.network.run
    monkeypatch.setattr(loaded.network, "run", lambda x: calls.append(len(x[0])) or real(x))
    seen = []
    for seconds in (30.0, 60.0):
        calls.clear()
        result = classify(make_wav("music", seconds=seconds), loaded, progress=seen.append)
        windows = int(seconds // 3)
        assert len(result.segment_starts) == windows and sum(calls) == windows  # each window once
        assert max(calls) == 4 and len(calls) == -(-windows // 4)
    listening = [p for p in seen if p.stage == "listening" and p.windows_done]
    assert [p.windows_done for p in listening[-5:]] == [4, 8, 12, 16, 20]
    np.testing.assert_allclose(listening[-1].probabilities, result.probabilities)
    assert seen[-1].stage == "finishing" and seen[-1].remaining_s() == 0


def test_the_analysis_limit_spreads_the_windows_and_the_cli_gives_the_same_verdict(models_dir, tmp_path,
                                                                                  monkeypatch) -> None:
    """A 60-s song whose 20 windows all differ (a new tone every 3 s), read whole and with at most 5
    windows: the 5 are spread from the first window to the last, each judged as in the full analysis,
    and ``core predict --max-windows 5`` gives the same verdict and says what it read."""
    path = tmp_path / "song.wav"
    sf.write(path, np.concatenate([synth("tone", seconds=3.0, freq=220 * 2 ** (i / 12)) for i in range(20)]), 22_050)
    loaded = registry.load_model("slice", models_dir)
    full = classify(path, loaded, limit=AnalysisLimit(max_windows=None))
    limited = classify(path, loaded, limit=AnalysisLimit(max_windows=5))
    assert len(full.segment_starts) == full.windows == limited.windows == 20
    picked = [0, 5, 10, 14, 19]  # rint(linspace(0, 19, 5))
    np.testing.assert_allclose(limited.segment_starts, full.segment_starts[picked])
    np.testing.assert_allclose(limited.segment_probabilities, full.segment_probabilities[picked], rtol=1e-5)
    np.testing.assert_allclose(limited.probabilities, limited.segment_probabilities.mean(axis=0))
    assert full.analysed() == "the whole file (1:00)"
    assert limited.analysed() == "the whole file (1:00), 5 of its 20 windows of 3 s spread evenly"
    monkeypatch.setenv(registry.MODELS_ENV, str(models_dir))
    out = tmp_path / "p.csv"
    assert main(["predict", str(path), "--model", "slice", "--max-windows", "5", "--workers", "1",
                 "--out", str(out)]) == 0
    row = pd.read_csv(out, keep_default_na=False).iloc[0]
    np.testing.assert_allclose(row[[f"p_{c}" for c in loaded.classes]].to_numpy(float), limited.probabilities,
                               atol=1e-4)
    assert row["genre"] == limited.genre and row["analysed"] == limited.analysed()


def test_a_musicnn_model_needs_no_feature_stft_for_its_verdict(make_wav, monkeypatch) -> None:
    """The shipped default reads musicnn patches only: no feature STFT before its verdict, the same
    probabilities as the network on the patches, a picture from the musicnn log-mel, and the
    description's feature rows computed when first asked for."""
    from core import predict
    from core.features import extract as features
    from core.features import musicnn

    loaded = registry.load_model()
    assert loaded.info.card.inputs == ("musicnn",)
    calls: list[int] = []
    real = features.compute_signals

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(features, "compute_signals", counted)
    monkeypatch.setattr(predict, "compute_signals", counted)
    path = make_wav("music", seconds=10.0)
    result = classify(path, loaded)
    assert calls == []
    audio = load_audio(path)
    patches = musicnn.patches_at(musicnn.log_mel(musicnn.to_16k(audio.y, audio.sr)), np.arange(3) * 3.0)
    np.testing.assert_allclose(result.segment_probabilities, np.asarray(loaded.model.predict_on_batch(patches)),
                               atol=1e-5)
    assert result.spectrogram.db.shape[0] == musicnn.N_MELS and result.spectrogram.fmax_hz == 8_000
    assert result.spectrogram.times[-1] == pytest.approx(10.0, abs=0.2)
    assert result.segment_features.shape == (3, len(SEED.columns)) and calls == [1]
    assert result.describe(features=["tempo"])[0].value == pytest.approx(120, rel=0.1)  # clicks every 0.5 s
