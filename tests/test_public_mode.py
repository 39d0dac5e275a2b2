"""Public mode through Streamlit's AppTest: a visitor sees only the allowlist, cannot type paths, cannot
change the shared registry or its default, stays within the job, row and upload limits, and every
refusal says so plainly. (Lab mode is what every other page test runs: tests/conftest.py.)"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from model_helpers import bare_card, synthetic_table
from streamlit.testing.v1 import AppTest
from synth_audio import synth

import ui.classify_data
import ui.loaders
import ui.mode
from core import modes
from core.data.store import write_parquet_atomic
from core.jobs import JOBS
from core.models import registry
from ui import session_models
from ui.plain import plain

REPO = Path(__file__).resolve().parents[1]
WAIT = 300
PATH_CHOICE = "Another file or store folder (path)…"
pytestmark = pytest.mark.usefixtures("no_jobs_left")


def wav(seed: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, synth("music", seconds=2, sr=22_050, seed=seed), 22_050, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Public mode sharing ``shared/`` (a clip, a table, links out of it and a loop); secrets beside it;
    a copy of the shipped models as the registry."""
    shared, secret = tmp_path / "shared", tmp_path / "secret"
    (shared / "jazz").mkdir(parents=True)
    (shared / "features").mkdir()
    secret.mkdir()
    sf.write(shared / "jazz" / "jazz.00001.wav", synth("music", seconds=2, sr=22_050), 22_050)
    sf.write(secret / "private.wav", synth("music", seconds=2, sr=22_050), 22_050)
    table = synthetic_table(n_tracks=10, n_slices=3)
    write_parquet_atomic(table, shared / "features" / "shared.parquet")
    write_parquet_atomic(table, secret / "private.parquet")
    (shared / "jazz" / "leak.wav").symlink_to(secret / "private.wav")
    (shared / "features" / "leak.parquet").symlink_to(secret / "private.parquet")
    (shared / "secret").symlink_to(secret)
    (shared / "loop").symlink_to(shared)
    models = tmp_path / "models"
    models.mkdir()
    for name in ("clips100-seed-mlp",):
        (models / name).mkdir()
        for file in (REPO / "models" / name).iterdir():
            (models / name / file.name).write_bytes(file.read_bytes())
    (models / "default.json").write_text('{"default": "clips100-seed-mlp"}\n')
    monkeypatch.setenv("CPUNK_MODE", "public")
    monkeypatch.setenv("CPUNK_ALLOWED_DIRS", str(shared))
    monkeypatch.setenv("CPUNK_MODELS_DIR", str(models))
    return {"shared": shared, "secret": secret, "models": models}


def limits(monkeypatch: pytest.MonkeyPatch, **changes) -> None:
    """Public mode with some limits changed (the policy is decided in ui.mode only)."""
    decide = modes.decide
    monkeypatch.setattr(ui.mode, "decide", lambda address: modes.Policy(
        **{**decide(address).__dict__, "limits": modes.Limits(**changes)}))


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def everything(at: AppTest) -> str:
    """All text a visitor can read on the page (messages, captions, widget labels and options)."""
    parts = [texts(getattr(at, kind)) for kind in ("markdown", "caption", "info", "warning", "error", "success")]
    parts += [f"{w.label} {getattr(w, 'options', '')}" for w in (*at.selectbox, *at.text_input)]
    parts += [texts(at.sidebar.caption)]
    return "\n".join(parts)


def test_the_sidebar_offers_the_allowlist_as_a_picker_never_a_path_field(server):
    at = page("home")
    assert not at.sidebar.text_input  # no free-text folder
    assert at.sidebar.selectbox[0].label == "Dataset folder"
    assert at.sidebar.selectbox[0].options == ["shared"]
    assert "Public demo" in texts(at.sidebar.caption)
    assert str(server["shared"]) not in everything(at)


def test_example_clips_list_only_files_inside_the_allowed_folder(server):
    at = page("classify")
    at.segmented_control(key="classify_source").set_value("example").run()
    assert at.selectbox(key="classify_example").options == ["jazz/jazz.00001.wav"]  # not the leak, not via secret/ or loop/
    assert not at.exception and str(server["shared"]) not in everything(at)


def test_tables_come_from_the_demo_the_allowed_folder_or_an_upload_never_a_typed_path(server):
    for name, key in (("explore", "explore_source"), ("train", "train_source")):
        options = page(name).selectbox(key=key).options
        assert PATH_CHOICE not in options
        assert "Dataset: features/shared.parquet" in options and "Dataset: features/leak.parquet" not in options
        assert options[-1] == "Upload a CSV or Parquet file…" and all(o.startswith(("Demo:", "Dataset:")) for o in options[:-1])


def test_an_uploaded_table_beyond_the_limits_is_refused_unread_and_deleted(server, monkeypatch, tmp_path):
    """The row and unpacked-size limits come from the table's metadata; a refused upload's file is gone at
    once, an accepted one stays (a file of its session, removed by age: tests/test_bad_inputs.py)."""
    monkeypatch.setattr(ui.loaders, "UPLOAD_DIR", tmp_path / "uploads")
    table = tmp_path / "upload.parquet"
    write_parquet_atomic(synthetic_table(n_tracks=10, n_slices=3), table)
    for changes, said in (({"max_table_rows": 50}, "at most 50 rows (this one has 120)"),
                          ({"max_table_mb": 0.001}, "at most 0.001 MB unpacked")):
        limits(monkeypatch, **changes)
        at = page("explore")
        at.selectbox(key="explore_source").select("Upload a CSV or Parquet file…").run()
        at.file_uploader(key="explore_upload").upload("mine.parquet", table.read_bytes(), "application/octet-stream")
        at.run()
        assert not at.exception and said in texts(at.error), texts(at.error)
        assert not list((tmp_path / "uploads").iterdir())
    limits(monkeypatch)
    at.run()
    assert not at.error and len(list((tmp_path / "uploads").iterdir())) == 1


def test_lab_mode_still_reads_a_typed_path(server, monkeypatch):
    monkeypatch.setenv("CPUNK_MODE", "lab")
    at = page("train")
    assert at.sidebar.text_input[0].label == "Dataset folder"  # the free folder field
    at.selectbox(key="train_source").select(PATH_CHOICE).run()
    at.text_input(key="train_path").input(str(server["secret"] / "private.parquet")).run()
    assert not at.error and at.segmented_control(key="train_level").options == ["3-s slices (90)", "Whole tracks (30)"]


def test_without_an_allowlist_no_folder_is_shared(server, monkeypatch):
    monkeypatch.delenv("CPUNK_ALLOWED_DIRS")
    monkeypatch.setenv("CPUNK_DATA_DIR", str(server["secret"]))  # ignored in public mode
    at = page("classify")
    assert "shares no dataset folder" in texts(at.sidebar.caption)
    at.segmented_control(key="classify_source").set_value("example").run()
    assert "Example clips come from the dataset folder" in texts(at.info)
    assert "private" not in everything(at)


def session_models_info(at: AppTest, name: str) -> registry.ModelInfo:
    return registry.model_info(name, at.session_state["session_models_dir"])


def train_page(epochs: int = 3) -> AppTest:
    at = page("train")
    at.selectbox(key="train_source").select("Dataset: features/shared.parquet").run()
    at.number_input(key="train_epochs").set_value(epochs)
    at.selectbox(key="train_batch").select(16)
    return at


def test_a_visitor_keeps_a_model_for_the_session_only_and_can_download_and_classify_with_it(server):
    """A run on whole tracks that ends by itself (the Train page's other runs are stopped early)."""
    before = sorted(p.name for p in server["models"].iterdir()), (server["models"] / "default.json").read_text()
    at = train_page()
    assert at.number_input(key="train_epochs").max == 200
    at.segmented_control(key="train_level").set_value("track").run()
    at.button(key="train_start").click().run()
    job = JOBS.get(at.session_state["train_job"])
    assert job.wait(WAIT)
    at.run()
    assert not at.exception, at.exception
    assert "Trained 3 epochs" in texts(at.success)
    labels = [m.label for m in at.metric]
    assert "Track accuracy" in labels and "Slice accuracy" not in labels  # whole-track rows: one accuracy
    assert not [c for c in at.checkbox if c.key in ("train_save_default", "train_save_overwrite")]
    assert "Shared models and the default are not changed" in texts(at.caption)
    at.text_input(key="train_save_name").input("mine")
    at.button[[b.label for b in at.button].index("Keep for this session")].click().run()
    assert not at.exception, at.exception
    assert "Kept as **mine** for this session." in texts(at.success)
    assert [d for d in at.get("download_button") if "(.zip)" in d.proto.label]
    assert (sorted(p.name for p in server["models"].iterdir()), (server["models"] / "default.json").read_text()) == before
    card = json.loads((Path(at.session_state["session_models_dir"]) / "mine" / "model.json").read_text())
    assert card["dataset"]["sources"] == ["Dataset: features/shared.parquet"]  # the card names no server path
    assert card["command"].startswith("python -m core train shared.parquet ") and str(server["shared"]) not in card["command"]
    assert card["level"] == "track"
    with zipfile.ZipFile(io.BytesIO(session_models.archive(session_models_info(at, "mine")))) as zf:
        assert sorted(zf.namelist()) == ["mine/model.json", "mine/model.keras", "mine/model.onnx"]
    at.switch_page("app_pages/classify.py").run()
    picker = at.selectbox(key="classify_model")
    assert picker.options[0] == "yours: mine" and picker.value == "clips100-seed-mlp"  # never the default
    other = page("classify")  # another visitor does not see it
    assert "yours: mine" not in other.selectbox(key="classify_model").options


def test_training_beyond_the_limits_is_refused_with_a_plain_message_and_audio_comes_from_shared_folders(server, monkeypatch):
    """Then training on audio: only genre folders and audio CSVs under the shared folder (not one reached through
    a link out of it), no typed path, the command the page shows names the audio as the picker does, and the
networks' epochs are capped."""
    for genre in ("ambient", "punk"):
        for folder in (server["shared"] / "mine", server["secret"]):
            (folder / genre).mkdir(parents=True)
            sf.write(folder / genre / "a.wav", synth("music", seconds=2, sr=22_050), 22_050)
    limits(monkeypatch, max_rows=50)
    at = train_page()
    at.button(key="train_start").click().run()
    assert "at most 50 rows (90 chosen)" in texts(at.error) and "train_job" not in at.session_state
    limits(monkeypatch, max_jobs_server=1)
    release = threading.Event()
    JOBS.start(lambda log, stop: release.wait(WAIT), total_epochs=1, owner="another-visitor")
    try:
        at = train_page()
        at.button(key="train_start").click().run()
        assert "training runs are going on this server already" in texts(at.error)
        assert "train_job" not in at.session_state
    finally:
        release.set()
    at.segmented_control(key="train_kind").set_value("audio").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_audio_source").options == ["shared/mine"]  # not shared/secret (a link out)
    assert at.pills(key="train_audio_genres").options == ["Ambient (1)", "Punk (1)"]
    shown = texts(at.code)
    assert shown.startswith("python -m core train shared/mine --source=shared/mine --architecture musicnn_linear")
    assert str(server["shared"].parent) not in shown
    at.selectbox(key="train_audio_architecture").set_value("ensemble").run()  # the epoch limit holds for each network
    assert [at.number_input(key=f"train_audio_{n}_epochs").max for n in ("seed_mlp", "mel_cnn", "vgg_transfer")] == [200] * 3


def test_uploads_beyond_the_rate_limit_are_refused_and_said_so(server, monkeypatch):
    limits(monkeypatch, uploads_per_window=1)
    at = page("classify")
    at.file_uploader(key="classify_files").set_value(
        [("a.wav", wav(1), "audio/wav"), ("b.wav", wav(2), "audio/wav")]).run()
    assert not at.exception, at.exception
    assert "Upload limit reached" in texts(at.error) and "Not analysed: b.wav" in texts(at.error)
    assert "a.wav" in everything(at)


def test_the_upload_limit_holds_across_tabs_and_counts_recordings(server, monkeypatch):
    """The counters are per visitor and server-wide: a new tab (a new session of the same browser) does not
    reset them, and a recording counts like an upload. (AppTest sends no cookie: the visitor is fixed here.)"""
    limits(monkeypatch, uploads_per_window=2)
    monkeypatch.setattr(ui.mode, "visitor_key", lambda: "one-browser")
    at = page("classify")
    at.file_uploader(key="classify_files").set_value([("a.wav", wav(1), "audio/wav")]).run()
    assert not at.error
    tab = page("classify")  # a new tab
    tab.segmented_control(key="classify_source").set_value("record").run()
    tab.audio_input(key="classify_mic").set_value(("rec.wav", wav(2), "audio/wav")).run()
    assert not tab.exception and not tab.error, tab.error
    tab.audio_input(key="classify_mic").set_value(("rec.wav", wav(3), "audio/wav")).run()
    assert "Upload limit reached" in texts(tab.error) and "2 new files or recordings per 10 minutes" in texts(tab.error)
    assert "Not analysed: Microphone recording" in texts(tab.error)
    monkeypatch.setattr(ui.mode, "visitor_key", lambda: "another-browser")
    tab.run()
    assert not tab.error  # another visitor has its own count


def test_past_the_servers_limit_of_analyses_a_visitor_is_told_it_is_busy_and_can_retry(server, monkeypatch):
    limits(monkeypatch, max_analyses=1)
    at = page("classify")
    with ui.classify_data.ANALYSES.take(1):  # another visitor's analysis runs
        at.file_uploader(key="classify_files").set_value([("busy.wav", wav(7), "audio/wav")]).run()
    assert not at.exception, at.exception
    assert plain(ui.classify_data.busy_message(1)) in texts(at.error) and "1 at a time" in texts(at.error)
    at.run()  # nothing was stored: the next run analyses it
    assert not at.exception and not at.error, texts(at.error)
    assert "busy.wav" in everything(at)


def test_while_the_server_holds_its_budget_of_uploads_new_ones_are_refused_naming_it(server, monkeypatch):
    at = page("classify")
    monkeypatch.setattr(ui.mode, "held_bytes", lambda: 1_000_000_001)  # Streamlit's uploads, all sessions
    at.file_uploader(key="classify_files").set_value([("full.wav", wav(8), "audio/wav")]).run()
    assert not at.exception, at.exception
    assert "1,000 MB for all its visitors" in texts(at.error) and "Not analysed: full.wav" in texts(at.error)
    monkeypatch.setattr(ui.mode, "held_bytes", lambda: 0)
    at.run()
    assert not at.error, texts(at.error)


def test_model_cards_name_their_data_without_folders_in_public_mode(server, monkeypatch):
    source = "../shared/data/features/features_30_sec.csv"
    assert ui.mode.source_label(source) == "features_30_sec.csv"
    assert ui.mode.source_label("shared GTZAN clips (flac, 100 tracks)") == "shared GTZAN clips (flac, 100 tracks)"
    monkeypatch.setenv("CPUNK_MODE", "lab")
    assert ui.mode.source_label(source) == source


def test_a_session_keeps_at_most_its_limit_of_models_and_names_the_ones_removed(tmp_path, monkeypatch):
    """The store under the Train page: the fourth model kept removes the oldest and says which; keeping a name
    again replaces it (and makes it the newest) without removing another."""
    from core.keras_env import keras

    monkeypatch.setattr(session_models, "ROOT", tmp_path)
    monkeypatch.setattr(session_models.st, "session_state", {})
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    card = bare_card(("features",), ("blues", "jazz", "metal"))
    limit = modes.Limits().session_models
    assert limit == 3  # the README's number
    assert [session_models.keep(n, model, card, limit)[1] for n in ("a", "b", "c", "a")] == [[], [], [], []]
    assert session_models.keep("d", model, card, limit)[1] == ["b"]
    assert sorted(i.name for i in session_models.models()) == ["a", "c", "d"]


HOSTILE_NAME = "![pixel](http://127.0.0.1:9/p.png) [click me](http://127.0.0.1:9/) www.example.org :material/home: $x$ **b**.wav"


def test_plain_text_renders_as_exactly_the_text_given():
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(plain(HOSTILE_NAME))
    assert "<a" not in rendered and "<img" not in rendered and "<strong" not in rendered
    assert rendered.strip() == f"<p>{HOSTILE_NAME}</p>".replace("&", "&amp;").replace('"', "&quot;")
    assert ":" not in plain(HOSTILE_NAME).replace("\\:", "") and "$" not in plain(HOSTILE_NAME).replace("\\$", "")


def test_a_visitors_file_name_is_shown_as_text_never_as_markup(server):
    at = page("classify")
    at.file_uploader(key="classify_files").set_value([(HOSTILE_NAME, b"not audio at all", "audio/wav")]).run()
    assert not at.exception, at.exception
    shown = texts(at.error)
    assert plain(HOSTILE_NAME) in shown and HOSTILE_NAME not in shown


@pytest.mark.parametrize("mode", ["public", "lab"])
def test_an_unexpected_error_shows_a_traceback_and_server_paths_only_in_lab_mode(server, monkeypatch, mode):
    monkeypatch.setenv("CPUNK_MODE", mode)
    secret = str(server["secret"])

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"could not read {secret}/models")

    monkeypatch.setattr(registry, "default_name", broken)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page("app_pages/home.py").run()
    assert len(at.exception) == 1
    shown = f"{at.exception[0].message} {' '.join(at.exception[0].stack_trace)}"
    assert (secret in shown) == (mode == "lab")
    assert (len(at.exception[0].stack_trace) > 0) == (mode == "lab")


def test_a_failure_message_names_the_log_file_only_when_asked():
    from core.failures import failure_message, log_path

    assert str(log_path()) in failure_message(RuntimeError("x"), "a.wav")
    message = failure_message(RuntimeError("x"), "a.wav", name_log=False)
    assert str(log_path()) not in message and "server's log" in message
