"""The Train page through Streamlit's AppTest (no browser): settings, a run, stop, results, save, another browser refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_helpers import synthetic_table
from streamlit.testing.v1 import AppTest

from core.data.store import write_parquet_atomic
from core.jobs import JOBS, Job
from core.models.model_card import ModelCard

PATH_CHOICE = "Another file or store folder (path)…"
REPO = Path(__file__).resolve().parents[1]
WAIT = 300
pytestmark = pytest.mark.usefixtures("no_jobs_left")


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    """3 genres x 10 tracks, 3 slices each (seed schema)."""
    return write_parquet_atomic(synthetic_table(n_tracks=10, n_slices=3), tmp_path / "features.parquet")


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CPUNK_DATA_DIR", "")
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def train_page(path: Path | None = None, job_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    if job_id:
        at.query_params["job"] = job_id
    at.switch_page("app_pages/train.py").run()
    if path is not None:
        at.selectbox(key="train_source").select(PATH_CHOICE).run()
        at.text_input(key="train_path").input(str(path)).run()
    assert not at.exception, at.exception
    return at


def start(at: AppTest, epochs: int) -> Job:
    at.number_input(key="train_epochs").set_value(epochs)
    at.selectbox(key="train_batch").select(16)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    job = JOBS.get(at.session_state["train_job"])
    assert job is not None and at.query_params["job"] == job.id
    return job


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_settings_offer_levels_genres_protocols_and_feature_architectures(models, table_path):
    at = train_page(table_path)
    assert at.segmented_control(key="train_level").options == ["3-s slices (90)", "Whole tracks (30)"]
    assert at.pills(key="train_genres").value == ["blues", "classical", "metal"]
    assert at.radio(key="train_protocol").value == "track"
    assert "held out entirely" in texts(at.caption)
    at.radio(key="train_protocol").set_value("seed").run()
    assert "inflated" in texts(at.caption)
    architectures = at.selectbox(key="train_architecture").options
    assert "seed_mlp" in architectures and "mel_cnn" not in architectures  # the CNN reads spectrograms
    assert at.number_input(key="train_epochs").value == 120
    assert at.slider(key="train_seed_mlp_dropout").value == pytest.approx(0.2)
    at.pills(key="train_genres").set_value(["metal"]).run()
    assert "at least two genres" in texts(at.warning)
    assert not [b for b in at.button if b.key == "train_start"]


def test_stop_ends_a_run_early_another_browser_is_refused_and_the_model_is_saved_as_default(models, table_path):
    """One run (two genres, 3-s slices): Stop keeps the best epoch, a session from another browser with the
    run's URL is refused, and the model is saved as the default. (A run that ends by itself:
    tests/test_public_mode.py; a reload in the same browser reattaching: tests/browser/test_train_page.py,
    as AppTest sends no cookie, and tests/test_jobs.py.)"""
    at = train_page(table_path)
    at.pills(key="train_genres").set_value(["blues", "metal"]).run()
    job = start(at, epochs=2000)
    while job.snapshot().done < 2:
        job.wait(0.1)
    assert at.button(key="train_stop").disabled is False
    at.button(key="train_stop").click().run()
    assert job.wait(WAIT)
    assert job.snapshot().status == "stopped" and job.snapshot().done < 2000
    other = train_page(job_id=job.id)  # a new session, without this browser's cookie, with ?job= in the URL
    assert "started in another browser" in texts(other.info) and "train_job" not in other.session_state
    assert "job" not in other.query_params and "Save model" not in [b.label for b in other.button]
    at.run()
    assert "Stopped after" in texts(at.warning) and "stopped on request" in texts(at.warning)
    assert "3 · Test results" in [h.value for h in at.subheader]
    labels = [m.label for m in at.metric]
    assert {"Slice accuracy", "Track accuracy", "Top-3 accuracy", "Balanced accuracy"} <= set(labels)
    per_genre = at.dataframe[0].value
    assert per_genre["genre"].tolist() == ["Blues", "Metal"]  # written for people, as on every page
    assert {"precision", "recall", "f1", "support", "seed reported"} <= set(per_genre.columns)
    assert per_genre["support"].sum() == job.result.card.protocol.test_rows
    at.text_input(key="train_save_name").input("my-model")
    at.checkbox(key="train_save_default").check()
    at.button[[b.label for b in at.button].index("Save model")].click().run()
    assert not at.exception, at.exception
    assert "Saved as **my-model** and made the default model." in texts(at.success)
    card = ModelCard.from_json(json.loads((models / "my-model" / "model.json").read_text()))
    assert card.classes == ("blues", "metal") and card.protocol.name == "track" and card.level == "slice"
    assert card.metrics.rows == job.result.card.metrics.rows and card.command.startswith("python -m core train ")
    assert json.loads((models / "default.json").read_text()) == {"default": "my-model"}
    at.button[[b.label for b in at.button].index("Save model")].click().run()  # the name is taken now
    assert "already exists" in texts(at.error) and not [s for s in at.success if "Saved as" in s.value]


def test_an_unknown_run_in_the_url_and_a_failing_run_are_explained(models, tmp_path):
    at = train_page(job_id="no-such-run")
    assert "no longer on this server" in texts(at.info)
    tiny = write_parquet_atomic(synthetic_table(n_tracks=2, n_slices=2), tmp_path / "tiny.parquet")
    at = train_page(tiny)
    job = start(at, epochs=2)  # 2 tracks per genre cannot give a held-out fifth of tracks
    assert job.wait(WAIT)
    at.run()
    assert "Training failed: The track protocol holds out a fifth" in texts(at.error)
    assert "blues (2), classical (2), metal (2)" in texts(at.error)
    assert "Traceback" not in job.error  # the process's own message (its "error: " line), never a traceback


AUDIO_SETTINGS = {  # architecture -> the settings its form offers, and how its command ends with them
    "musicnn_linear": (["train_audio_evaluate", "train_audio_augment", "train_audio_music", "train_audio_seed"],
                       "--architecture musicnn_linear --genres blues,metal --seed 42 --evaluate track"),
    "seed_mlp": (["train_audio_seed_mlp_epochs", "train_audio_batch", "train_audio_seed_mlp_lr",
                  "train_audio_seed_mlp_dropout", "train_audio_seed"],
                 "--architecture seed_mlp --genres blues,metal --seed 42 --audio --epochs 120 --batch-size 128 "
                 "--model-config '{\"learning_rate\": 0.001, \"dropout\": 0.2}'"),
    "mel_cnn": (["train_audio_mel_cnn_epochs", "train_audio_cnn_crops", "train_audio_mel_cnn_lr",
                 "train_audio_mel_cnn_dropout", "train_audio_seed"],
                "--architecture mel_cnn --genres blues,metal --seed 42 --cnn-epochs 12 --cnn-crops 2 "
                "--model-config '{\"learning_rate\": 0.002, \"dropout\": 0.3}'"),
    "vgg_transfer": (["train_audio_vgg_transfer_epochs", "train_audio_vgg_transfer_lr",
                      "train_audio_vgg_transfer_dropout", "train_audio_seed"],
                     "--architecture vgg_transfer --genres blues,metal --seed 42 --head-epochs 60 "
                     "--model-config '{\"learning_rate\": 0.001, \"dropout\": 0.3}'"),
    "ensemble": (["train_audio_seed_mlp_epochs", "train_audio_mel_cnn_epochs", "train_audio_vgg_transfer_epochs",
                  "train_audio_cnn_crops", "train_audio_seed"],
                 "--architecture ensemble --genres blues,metal --seed 42 --epochs 120 --cnn-epochs 12 --head-epochs 60 "
                 "--cnn-crops 2"),
}


def test_audio_offers_every_architecture_core_train_trains_on_audio_each_with_its_settings_and_command(
        models, tmp_path, monkeypatch):
    """Each architecture's own settings (the command's defaults), and the command the page shows follows them;
    a network's run to its end is saved with that command."""
    import soundfile as sf
    from synth_audio import synth

    from core.commands.train_audio import ARCHITECTURES as AUDIO_ONLY
    from core.models.network_train import ARCHITECTURES as NETWORKS

    for genre, kind in (("blues", "chord"), ("metal", "noise")):
        (tmp_path / "audio" / genre).mkdir(parents=True)
        sf.write(tmp_path / "audio" / genre / f"{genre}.wav", synth(kind, sr=22_050, seconds=4.0), 22_050)
    monkeypatch.setenv("CPUNK_CACHE_DIR", str(tmp_path / "cache"))
    at = train_page()
    at.segmented_control(key="train_kind").set_value("audio").run()
    at.text_input(key="train_audio_path").input(str(tmp_path / "audio")).run()
    assert not at.exception, at.exception
    offered = at.selectbox(key="train_audio_architecture").options
    assert {o.split(":")[0] for o in offered} == set(AUDIO_ONLY) | set(NETWORKS)  # every one core train takes
    assert at.selectbox(key="train_audio_architecture").value == "musicnn_linear"  # the default's recipe first
    for architecture, (keys, ends) in AUDIO_SETTINGS.items():
        at.selectbox(key="train_audio_architecture").set_value(architecture).run()
        assert not at.exception, at.exception
        drawn = {w.key for w in [*at.number_input, *at.selectbox, *at.slider, *at.toggle]
                 if str(w.key).startswith("train_audio_") and w.key not in ("train_audio_source", "train_audio_architecture")}
        assert drawn == set(keys), architecture
        assert at.code[0].value == f"python -m core train {tmp_path / 'audio'} --source={tmp_path / 'audio'} {ends}"
    at.number_input(key="train_audio_mel_cnn_epochs").set_value(3).run()  # the ensemble's CNN
    assert "--cnn-epochs 3 " in at.code[0].value

    # A network's run to its end: what it was trained on, why it is not scored here, and Save, with the command.
    at.selectbox(key="train_audio_architecture").set_value("vgg_transfer").run()
    at.number_input(key="train_audio_vgg_transfer_epochs").set_value(2).run()
    shown = at.code[0].value
    at.button(key="train_start").click().run()
    job = JOBS.get(at.session_state["train_job"])
    assert job.wait(WAIT) and job.snapshot().status == "finished", job.snapshot().error
    at.run()
    assert not at.exception, at.exception
    assert "Trained vgg_transfer on 2 tracks" in texts(at.success) and "Not measured here" in texts(at.info)
    assert at.number_input(key="train_audio_vgg_transfer_epochs").value == 2  # the form keeps the run's settings
    at.text_input(key="train_save_name").input("heads")
    at.button[[b.label for b in at.button].index("Save model")].click().run()
    assert "Saved as **heads**." in texts(at.success)
    card = ModelCard.from_json(json.loads((models / "heads" / "model.json").read_text()))
    assert card.command == shown and card.architecture.name == "vgg_transfer" and card.classes == ("blues", "metal")
