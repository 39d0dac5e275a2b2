"""Train a model in the browser: pick data and an architecture, watch it learn live, test it, save it."""

import datetime as dt
import json
import re

import streamlit as st

from core.commands.train_common import command_line
from core.data.explore import row_kinds, select_rows
from core.display import LEVEL_NAMES, genre_name
from core.features.schema import genre_order
from core.jobs import FAILED, RUNNING, STOPPED, Job, JobError, JobSnapshot, TrainedRun, TrainProcess
from core.models import registry
from core.models.builders import table_architectures, tunable_defaults
from core.models.evaluate import HOLDOUT_PROTOCOLS, PROTOCOL_SENTENCES, SEED_REPORTED, TEST_FRACTION
from core.models.train import EpochReport, TrainConfig
from core.modes import AccessError
from ui import session_models
from ui import train_audio as audio
from ui import train_recipes as recipes
from ui import train_views as views
from ui.mode import policy
from ui.navigation import PAGES
from ui.plain import plain
from ui.table_picker import choose_table, read_table
from ui.train_jobs import current_job, forget_job, heartbeat, start_job

POLL_S = 1.0  # live curves refresh: a fragment rerun reads the job snapshot (bench/train_overhead.py: 0.5 s cost >10%)
BATCH_SIZES = recipes.BATCH_SIZES
PROTOCOL_NAMES = {"seed": "seed: random rows (the seed's way)", "track": "track: held-out songs (honest)"}
FORM_KEYS = re.compile(r"train_(kind|source|path|level|protocol|genres|architecture|epochs|batch|seed|\w+_lr|\w+_dropout|audio_\w+)")
FORM_KEPT = "train_form_kept"  # the form's values while a run hides it
SAVED = "train_saved"  # (job id, model name, made default, session models removed) of the last save
KINDS = {"table": "A feature table", "audio": "Audio (genre folders, a manifest or tracks.csv)"}

st.title("Train a model")
st.caption("Pick a feature table or labelled audio and a model, press Train and watch it learn. Training runs in the "
           "background: the rest of the app stays usable, and a reloaded page finds its run again.")

rules = policy()
job = current_job()
busy = job is not None and job.status == RUNNING


def keep_form_values() -> None:
    """Keep the settings form's values while the run hides it (Streamlit forgets the values of widgets that its
    runs, fragment runs included, do not draw): copied once here, given back by :func:`restore_form_values`."""
    st.session_state.setdefault(FORM_KEPT, {k: v for k, v in st.session_state.items() if FORM_KEYS.fullmatch(str(k))})


def restore_form_values() -> None:
    """The form's values as they were when the run started (see :func:`keep_form_values`)."""
    for key, value in st.session_state.pop(FORM_KEPT, {}).items():
        st.session_state[key] = value


def run_settings(job: Job) -> None:
    """The settings the run was started with (a reattached page shows these, not the form's defaults) and the
    command that trains the same model in a terminal."""
    st.code(job.info["command"], language="bash", wrap_lines=True)
    if job.info.get("kind") == "audio":
        st.caption(f"Run: {plain(job.info['source'])} · {len(job.info['classes'])} genres · "
                   f"{job.info['architecture']} · {job.info['said']}")
        return
    config: TrainConfig = job.info["config"]
    extras = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in config.model_config.items())
    st.caption(f"Run: {plain(job.info['source'])} · {LEVEL_NAMES[config.level].lower()} · {len(job.info['classes'])} genres · "
               f"{job.info['protocol']} protocol · {config.architecture}, {config.epochs} epochs, batch "
               f"{config.batch_size}{', ' + extras if extras else ''}, seed {config.seed}")


def best_so_far(epochs: list[EpochReport]) -> int | None:
    """The epoch with the lowest validation loss (training loss without validation) so far."""
    values = [(e.val_loss if e.val_loss is not None else e.loss, e.epoch) for e in epochs]
    return min(values)[1] if values else None


def live(job: Job, watching: bool) -> None:
    """Progress, timing and the curves; while ``watching``, a full rerun once the run has ended."""
    heartbeat()
    snap = job.snapshot()
    if watching and snap.status != RUNNING:
        st.rerun()
    bar, stop = st.columns([5, 1], vertical_alignment="bottom")
    if job.info.get("kind") == "audio":
        fraction, text = views.stage_line(snap.stage) if snap.stage else (0.0, "Reading the audio…")
        bar.progress(fraction, text=text)
    else:
        bar.progress(snap.done / snap.total_epochs, text=f"Epoch {snap.done} of {snap.total_epochs}")
    if snap.status == RUNNING:
        stop.button("Stopping…" if snap.stop_reason else "Stop", icon=":material/stop_circle:", key="train_stop",
                    on_click=job.stop, disabled=bool(snap.stop_reason), width="stretch")
    if job.info.get("kind") == "audio":
        live_audio(snap)
        return
    last = snap.epochs[-1] if snap.epochs else None
    best = job.result.history["best_epoch"] if job.result is not None else best_so_far(snap.epochs)
    a, b, c, d = st.columns(4)
    a.metric("Elapsed", views.duration(snap.elapsed_s))
    b.metric("Time left", views.duration(snap.eta_s) if snap.status == RUNNING else "done")
    c.metric("Validation accuracy", f"{last.val_accuracy:.1%}" if last and last.val_accuracy is not None else "–")
    d.metric("Best epoch" if snap.status != RUNNING else "Best epoch so far", best or "–")
    for column, metric in zip(st.columns(2), views.METRICS):
        column.altair_chart(views.curve(snap.epochs, snap.total_epochs, metric, best), width="stretch")


def live_audio(snap: JobSnapshot) -> None:
    """Audio training: the stages done, time, the held-out scores of each setting tried so far (the default's
    recipe) or the curves of the network being trained (the ensemble: one after the other)."""
    done = [views.stage_line(s)[1] for s, after in zip(snap.stages, snap.stages[1:]) if s.stage != after.stage]
    if done:
        st.caption("Done: " + " · ".join(done))
    a, b = st.columns(2)
    a.metric("Elapsed", views.duration(snap.elapsed_s))
    b.metric("Time left in this stage", views.duration(snap.stage_eta_s()) if snap.status == RUNNING else
             "stopped" if snap.status == STOPPED else "–" if snap.status == FAILED else "done")
    if any(s.stage == "folds" and s.scores for s in snap.stages):
        for column, metric in zip(st.columns(2), ("balanced_log_loss", "balanced_accuracy")):
            column.altair_chart(views.fold_curve(snap.stages, metric), width="stretch")
    network = next((s.stage for s in reversed(snap.stages) if s.stage in recipes.NETWORKS), None)
    if network is not None:
        epochs = views.current_network(snap.epochs, snap.stage if snap.stage.stage == network else None)
        st.caption(f"{network}: loss and accuracy per epoch" + ("" if epochs or snap.status != RUNNING
                                                                  else " (its first epoch is under way)"))
        total = epochs[-1].epochs if epochs else snap.stage.total
        for column, metric in zip(st.columns(2), views.METRICS):
            column.altair_chart(views.curve(epochs, total, metric, best_so_far(epochs)), width="stretch")


if busy:  # the live run comes first; the settings form returns when the run has ended
    keep_form_values()
    st.subheader("Training")
    run_settings(job)
    st.fragment(run_every=POLL_S)(live)(job, True)
    st.stop()

# 1 · Data ------------------------------------------------------------------------------------------
restore_form_values()
st.subheader("1 · Data")
def table_form() -> None:
    """A feature table's rows, genres and protocol, a table architecture and its settings; Train."""
    path, source = choose_table("train")
    table, _ = read_table(path, "trained on")
    kinds = row_kinds(table)
    levels = [k for k in ("slice", "track") if kinds[k]]
    left, right = st.columns([2, 3])
    level = left.segmented_control("Rows", levels, default=levels[0], required=True, key="train_level",
                                   format_func=lambda k: f"{LEVEL_NAMES[k]} ({kinds[k]:,})")
    protocol = right.radio("Test protocol", HOLDOUT_PROTOCOLS, format_func=PROTOCOL_NAMES.get, horizontal=True,
                           key="train_protocol", index=1)
    tracks = table.drop_duplicates("track_id")["label"].value_counts()
    present = genre_order(tracks.index)
    genres = st.pills("Genres", present, selection_mode="multi", default=present, key="train_genres",
                      format_func=lambda g: f"{genre_name(g)} ({tracks[g]})",
                      help="Numbers are tracks per genre. Genres are weighted by inverse frequency in training.") or []
    right.caption(f"{PROTOCOL_SENTENCES[protocol]} {TEST_FRACTION:.0%} of the {'rows' if protocol == 'seed' else 'tracks'} "
                  "are held out for the test.")

    st.subheader("2 · Model")
    cols = st.columns(6)
    architecture = cols[0].selectbox("Architecture", table_architectures(), key="train_architecture")
    epochs = cols[1].number_input("Epochs", 1, rules.limits.max_epochs if rules.public else 2000, 120,
                                  key="train_epochs")
    batch_size = cols[2].selectbox("Batch size", BATCH_SIZES, index=BATCH_SIZES.index(128), key="train_batch")
    model_config = recipes.tunable_inputs(tunable_defaults(architecture), iter(cols[3:5]), f"train_{architecture}")
    seed = cols[5].number_input("Seed", 0, 2**31 - 1, 42, key="train_seed",
                                help="The same seed, data and settings give the same split and the same model.")

    if len(genres) < 2:
        st.warning("Choose at least two genres to train a classifier.")
    elif st.button("Train", type="primary", icon=":material/model_training:", key="train_start"):
        config = TrainConfig(architecture=architecture, level=level, epochs=int(epochs), batch_size=int(batch_size),
                             seed=int(seed), model_config=model_config)
        classes = genre_order(genres)
        origin = source if rules.public else str(path)  # what the model card and comparison name as its data
        info = {"source": source, "path": origin, "protocol": protocol, "classes": classes, "config": config}
        try:
            subset = table[table["label"].isin(classes)]
            rules.check_training(config.epochs, len(select_rows(subset, level)))
            work = TrainProcess([str(path), f"--source={origin}", "--holdout", protocol, "--level", level,
                                 "--architecture", architecture, "--epochs", str(config.epochs),
                                 "--batch-size", str(config.batch_size), "--seed", str(config.seed),
                                 "--genres", ",".join(classes), "--model-config", json.dumps(model_config)])
            shown = command_line([origin, *work.args[1:]])  # public mode: the table as the picker names it, no path
            start_job(work, config.epochs, {**info, "command": shown}, max_running=rules.max_jobs_server)
        except (JobError, AccessError) as exc:
            st.error(str(exc), icon=":material/hourglass:")
        else:
            st.rerun()


def audio_form() -> None:
    """Labelled audio, its genres, an architecture (the default model's recipe or a network) and its settings;
    Train."""
    found = audio.choose_audio()
    present = genre_order(found.tracks)
    genres = st.pills("Genres", present, selection_mode="multi", default=present, key="train_audio_genres",
                      format_func=lambda g: f"{genre_name(g)} ({found.tracks[g]})",
                      help="Numbers are tracks per genre. Genres weigh equally in training.") or []
    st.subheader("2 · Model")
    architecture = st.selectbox("Architecture", recipes.ARCHITECTURES, format_func=recipes.NAMES.get,
                                key="train_audio_architecture")
    recipe = recipes.recipe_form(architecture, rules.limits.max_epochs if rules.public else 2000)
    if len(genres) < 2:
        st.warning("Choose at least two genres to train a classifier.")
        return
    classes = genre_order(genres)
    args = [str(found.path), f"--source={found.label}", "--architecture", architecture,
            "--genres", ",".join(classes), *recipe.args]
    command = command_line([found.label, *args[1:]])  # public mode: the audio as the picker names it, no path
    st.caption("The same model from a terminal (" + ("patch features are cached, so a second run on this audio is "
                                                     "quick):" if architecture == "musicnn_linear" else
                                                     "decoded tracks are cached, so a second run of any network on "
                                                     "this audio is quick):"))
    st.code(command, language="bash", wrap_lines=True)
    if st.button("Train", type="primary", icon=":material/model_training:", key="train_start"):
        info = {"kind": "audio", "source": found.label, "path": found.label, "classes": classes, "said": recipe.said,
                "architecture": architecture, "command": command}
        try:
            tracks = sum(found.tracks[g] for g in classes)
            rules.check_training(recipe.epochs, tracks)
            work = TrainProcess([*args, "--cache", str(audio.cache_dir()), "--workers", str(audio.workers(tracks))])
            start_job(work, recipe.epochs, info, max_running=rules.max_jobs_server)
        except (JobError, AccessError) as exc:
            st.error(str(exc), icon=":material/hourglass:")
        else:
            st.rerun()


kind = st.segmented_control("Train on", list(KINDS), default="table", required=True, key="train_kind",
                            format_func=KINDS.get)
if kind == "audio":
    audio_form()
else:
    table_form()


def results(job: Job) -> None:
    """Test metrics under the protocol, confusion matrix, per-genre scores, comparison, save."""
    snap, run = job.snapshot(), job.result
    if run is None and job.info.get("kind") == "audio":
        st.warning(f"{(snap.stop_reason or 'stopped on request').capitalize()}: training on audio keeps nothing, so "
                   "there is nothing to test or save. Tracks already cached are kept for the next run.",
                   icon=":material/stop_circle:")
        return
    if run is None:
        st.info("The run was stopped before its first epoch ended, so there is nothing to test or save.")
        return
    if job.info.get("kind") == "audio":
        results_audio(job, run)
        return
    history, metrics, protocol = run.history, run.card.metrics, run.card.protocol
    if metrics is None or protocol is None or metrics.rows is None:
        st.error("This run's card holds no test results; train it again.")
        return
    kept = f"the model keeps epoch {history['best_epoch']} (lowest {history['monitor'].replace('_', ' ')})"
    if snap.status == STOPPED:
        st.warning(f"Stopped after {snap.done} of {snap.total_epochs} epochs ({snap.stop_reason}); {kept}.",
                   icon=":material/stop_circle:")
    else:
        st.success(f"Trained {snap.done} epochs in {views.duration(snap.elapsed_s)}; {kept}.",
                   icon=":material/check_circle:")
    st.subheader("3 · Test results")
    slices = run.card.level == "slice"
    st.caption(f"Protocol **{protocol.name}**: {protocol.test_rows or 0:,} test rows from "
               f"{protocol.test_tracks or 0:,} tracks, never used in training. "
               + (f"The seed reported {SEED_REPORTED['accuracy']:.2%} on 3-s slices under the seed protocol."))
    for note in protocol.notes:
        st.warning(note, icon=":material/warning:")
    rows, tracks = metrics.rows, metrics.tracks
    cols = st.columns(4)
    cols[0].metric("Slice accuracy" if slices else "Track accuracy", f"{rows['accuracy']:.1%}")
    if slices:
        cols[1].metric("Track accuracy", f"{tracks['accuracy']:.1%}",
                       help="A track's verdict is the mean of its slices' probabilities.")
    cols[2].metric("Top-3 accuracy", f"{rows['top3_accuracy']:.1%}")
    cols[3].metric("Balanced accuracy", f"{rows['balanced_accuracy']:.1%}", help="Mean recall over genres.")
    what = st.segmented_control("Count", ["rows", "tracks"], default="rows", required=True, key="train_count",
                                format_func=lambda w: "slices" if w == "rows" and slices else w) if slices else "rows"
    scores = rows if what == "rows" else tracks
    left, right = st.columns([1, 1])
    left.plotly_chart(views.confusion(scores["confusion"], run.info.classes, "slices" if what == "rows" and slices
                                      else "tracks"), key="train_confusion")
    with right:
        st.dataframe(views.per_genre(scores), hide_index=True, width="stretch", column_config={
            **{k: st.column_config.ProgressColumn(k, format="percent", min_value=0, max_value=1)
               for k in ("precision", "recall", "f1")},
            "seed reported": st.column_config.NumberColumn(format="percent",
                                                           help="The seed project's per-genre figure (metric not stated).")})
    st.subheader("Compared with saved models")
    own = {"row_accuracy": rows["accuracy"], "track_accuracy": tracks["accuracy"],
           "note": f"{run.card.level} rows, {protocol.name} protocol"}
    st.dataframe(views.comparison(own, list(metrics.comparison)), hide_index=True, width="stretch",
                 column_config={
                     "row_accuracy": st.column_config.NumberColumn("slice accuracy" if slices else "row accuracy",
                                                                   format="percent"),
                     "track_accuracy": st.column_config.NumberColumn("track accuracy", format="percent")})
    st.caption("Every model is scored on this run's test tracks (a model trained on the other kind of rows on "
               "those tracks' rows of its kind, so only its track accuracy compares). A saved model may have been "
               "trained on some of them (the shipped models saw the demo tables' tracks), which flatters it.")
    save_form(job, run)


def results_audio(job: Job, run: TrainedRun) -> None:
    """Audio training: the recipe's held-out scores (when measured), per genre, the command; save."""
    snap, card = job.snapshot(), run.card
    rows = f"{card.training.patches:,} patches" if card.training.patches else f"{card.dataset.rows:,} feature rows"
    st.success(f"Trained {card.architecture.name} on {card.dataset.tracks} tracks ({rows}) in "
               f"{views.duration(snap.elapsed_s)}.", icon=":material/check_circle:")
    st.caption("The same model from a terminal:")
    st.code(job.info["command"], language="bash", wrap_lines=True)
    st.subheader("3 · Held-out results")
    if card.architecture.name != "musicnn_linear":
        st.info("Not measured here: a network trained on audio is not scored on held-out tracks (seed_mlp's "
                "validation tracks only choose its epoch). Score the saved model on a labelled folder with "
                "`python -m core evaluate-audio FOLDER --model NAME`.", icon=":material/info:")
    elif card.metrics is None or card.protocol is None:
        st.info("Not measured: turn on held-out folds to score the recipe on tracks it was not trained on.",
                icon=":material/info:")
    else:
        tracks = card.metrics.tracks
        st.caption(f"{card.protocol.detail}.")
        cols = st.columns(4)
        cols[0].metric("Track accuracy", f"{tracks['accuracy']:.1%}")
        cols[1].metric("Balanced accuracy", f"{tracks['balanced_accuracy']:.1%}", help="Mean recall over genres.")
        cols[2].metric("Top-3 accuracy", f"{tracks['top3_accuracy']:.1%}")
        cols[3].metric("Calibration error (ECE)", f"{card.metrics.ece:.1%}" if card.metrics.ece is not None else "–")
        left, right = st.columns([1, 1])
        left.plotly_chart(views.confusion(tracks["confusion"], card.classes, "tracks"), key="train_confusion")
        right.dataframe(views.per_genre(tracks), hide_index=True, width="stretch", column_config={
            k: st.column_config.ProgressColumn(k, format="percent", min_value=0, max_value=1)
            for k in ("precision", "recall", "f1")})
        st.caption("Saved models are not scored here: each fold trains the recipe anew on the others' tracks.")
    save_form(job, run)


def save_form(job: Job, run: TrainedRun) -> None:
    """Lab mode: save to the shared registry (optionally as the default). Public mode: keep the model for
    this session only (Classify offers it to this visitor) and download it; the registry stays read-only."""
    st.subheader("4 · Save")
    suggested = f"{run.card.architecture.name}-{run.card.level}-{dt.datetime.now():%Y%m%d-%H%M}".replace("_", "-")
    if rules.public:
        st.caption("On this public demo a model stays in your browser session: the Classify page offers it to "
                   "you alone, and you can download it (model.keras and its card). Shared models and the "
                   "default are not changed.")
    with st.form("train_save_form", border=False):
        name = st.text_input("Model name", value=suggested, key="train_save_name", max_chars=64)
        if not rules.public:
            default = st.checkbox("Make it the default model (the Classify page uses it at once)",
                                  key="train_save_default")
            overwrite = st.checkbox("Replace a saved model of the same name", key="train_save_overwrite")
        submitted = st.form_submit_button("Keep for this session" if rules.public else "Save model", type="primary",
                                          icon=":material/save:")
    if submitted:
        st.session_state.pop(SAVED, None)  # one message: this attempt's
        try:
            if rules.public:
                default = False
                saved, removed = session_models.keep(name.strip(), run.model(), run.card, rules.limits.session_models)
            else:
                saved, removed = registry.save_model(name.strip(), run.model(), run.card, overwrite=overwrite), []
                if default:
                    registry.set_default(saved.name)
        except registry.RegistryError as exc:
            st.error(str(exc))
        else:
            st.session_state[SAVED] = (job.id, saved.name, default, removed)
    if (done := st.session_state.get(SAVED)) and done[0] == job.id:
        if rules.public:
            st.success(f"Kept as **{plain(done[1])}** for this session.", icon=":material/save:")
            if done[3]:
                st.info(f"A session keeps at most {rules.limits.session_models} models, so your oldest "
                        f"({plain(', '.join(done[3]))}) was removed to make room.", icon=":material/info:")
            if kept := next((i for i in session_models.models() if i.name == done[1]), None):
                st.download_button("Download the model (.zip)", data=session_models.archive(kept),
                                   file_name=f"{kept.name}.zip", mime="application/zip", icon=":material/download:",
                                   on_click="ignore", key="train_download")
        else:
            st.success(f"Saved as **{plain(done[1])}**" + (" and made the default model." if done[2] else "."),
                       icon=":material/save:")
        classify = next((p for p in PAGES if p.path == "app_pages/classify.py"), None)
        if classify is not None:
            st.page_link(classify.path, label="Classify a song with it", icon=classify.icon)

if job is not None:
    st.divider()
    run_settings(job)
    live(job, False)
    if job.status == FAILED:
        st.error(f"Training failed: {plain(job.snapshot().error)}", icon=":material/error:")
    else:
        results(job)
    st.button("Clear this run", icon=":material/delete:", key="train_forget", on_click=forget_job)
