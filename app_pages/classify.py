"""Classify a song: upload, record or pick an example; see its genre, how it moves over time, and why."""

import mimetypes
import random

import numpy as np
import streamlit as st

from core.audio import AnalysisLimit
from core.models.registry import RegistryError, default_name, list_models
from core.predict import Classification, Progress
from core.predict_batch import summary_row
from ui import classify_data as data
from ui import classify_views as views
from ui import session_models
from ui.classify_data import Clip
from ui.mode import allowed_uploads, readable
from ui.plain import plain
from ui.settings import data_dir

SOURCES = {"upload": ":material/upload_file: Upload files", "record": ":material/mic: Record",
           "example": ":material/library_music: Example clip"}
FORMATS = "WAV, MP3, OGG, FLAC (M4A and other formats when ffmpeg is installed)"
EXAMPLE = "classify_example"
# Pictures rather than instruments: no hover layers or zoom handlers to build (the page redraws faster).
STATIC = {"staticPlot": True}

st.markdown(views.VERDICT_CSS, unsafe_allow_html=True)


def pick_model() -> data.ModelKey:
    """The model picker (default preselected; this session's own models first) with the model's facts;
    stops the page when there is none. The model is loaded with the first analysis (:func:`analyse_all`)."""
    own = {f"yours: {i.name}": i for i in session_models.models()}  # ':' never occurs in a registry name
    infos = {**own, **{i.name: i for i in list_models()}}
    if not infos:
        st.error("No trained model found. Train one with `python -m core train` (see the README).")
        st.stop()
    names, default = list(infos), default_name()
    name = st.selectbox("Model", names, index=names.index(default) if default in names else 0, key="classify_model",
                        format_func=lambda n: f"{n} (default)" if n == default else n)
    info = infos[name]
    with st.popover("About this model", icon=":material/info:", width="stretch"):  # overlays: no layout shift
        st.markdown("\n".join(f"- **{label}**: {plain(value)}" for label, value in views.model_facts(info.card)))
        if info.card.notes:
            st.caption(plain(info.card.notes))
    return data.model_key(info)


def loaded_model(key: data.ModelKey):
    """The chosen model (loaded once per process); stops the page with the reason when it cannot load."""
    try:
        model = data.model(key)
    except RegistryError as exc:
        st.error(f"This model cannot be used: {plain(exc)}")
        st.stop()
    if model.note:
        st.caption(plain(model.note))
    return model


def analyse_all(clips: list[Clip], key: data.ModelKey, area) -> list[Classification | str]:
    """Every clip's analysis. New ones replace whatever ``area`` showed (the previous results) with a
    progress bar, an estimate of the time left and, for one clip, the verdict of the part heard so far."""
    outcomes = [data.cached(clip, key) for clip in clips]
    if all(o is not None for o in outcomes):
        return outcomes
    with area.container():
        bar = st.progress(0.0, text="Loading the model…")
        so_far = st.empty()
        classes = loaded_model(key).classes
        for i, clip in enumerate(clips):
            if outcomes[i] is not None:
                continue
            count = f" (file {i + 1} of {len(clips)})" if len(clips) > 1 else ""

            def update(p: Progress, i: int = i, name: str = clip.name, count: str = count) -> None:
                bar.progress(min(1.0, (i + p.fraction) / len(clips)), text=views.progress_text(name, p) + count)
                if p.probabilities is not None and len(clips) == 1:
                    so_far.markdown(views.partial_verdict_html(classes, p), unsafe_allow_html=True)

            outcomes[i] = data.analyse(clip, key, progress=update)
    return outcomes


def surprise(names: list[str]) -> None:
    st.session_state[EXAMPLE] = random.choice(names)


def choose_clips() -> list[Clip]:
    """The clips chosen with the current source (uploads, a recording or a dataset example)."""
    source = st.segmented_control("Audio", list(SOURCES), format_func=SOURCES.get, default="upload",
                                  required=True, key="classify_source", label_visibility="collapsed")
    if source == "upload":
        files = st.file_uploader(
            "Drop one or many songs", accept_multiple_files=True, key="classify_files",
            help=f"{FORMATS}. Up to {st.get_option('server.maxUploadSize')} MB each; the first 10 minutes of a "
                 f"longer file are analysed, and the verdict reads at most {AnalysisLimit().max_windows} of its 3-s "
                 "windows, spread evenly. Several files give a results table you can download.")
        return allowed_uploads([Clip(f.name, f.getvalue()) for f in files or []])
    if source == "record":
        recording = st.audio_input("Record from your microphone (10 s or more works best)", sample_rate=22_050,
                                   key="classify_mic")
        return allowed_uploads([Clip("Microphone recording", recording.getvalue())] if recording else [])
    root = data_dir()
    files = data.example_files(root) if root else []
    if files is None:
        st.info("Still looking for audio files in the dataset folder; try again in a moment.",
                icon=":material/hourglass:")
        st.button("Check again", icon=":material/refresh:", key="classify_rescan")
        return []
    if not files:
        st.info("Example clips come from the dataset folder: set one with audio files in the sidebar.",
                icon=":material/folder_open:")
        return []
    names = [str(f.relative_to(root.resolve())) for f in files]
    if st.session_state.get(EXAMPLE) not in names:
        st.session_state[EXAMPLE] = next((n for n, f in zip(names, files) if data.known_genre(f)), names[0])
    pick, dice = st.columns([3, 1], vertical_alignment="bottom")
    choice = pick.selectbox(f"Example clip ({len(names):,} in the dataset folder)", names, key=EXAMPLE)
    dice.button("Surprise me", icon=":material/casino:", on_click=surprise, args=(names,), width="stretch")
    path = readable(files[names.index(choice)])
    return [Clip(path.name, path.read_bytes(), label=data.known_genre(path))]


def show_result(clip: Clip, result: Classification) -> None:
    """Everything about one classified clip: verdict, probabilities, timeline, audio views, explanation."""
    verdict, bars = st.columns([1, 1], gap="large", vertical_alignment="center")
    not_music = result.is_music is False
    with verdict:
        st.markdown(views.verdict_html(result, clip.label), unsafe_allow_html=True)
        st.audio(clip.data, format=mimetypes.guess_type(clip.name)[0] or "audio/wav")
        audio = result.audio
        st.caption(f"**{plain(clip.name)}** · {audio.info.summary()} · analysed {result.analysed()} "
                   f"in {result.seconds:.1f} s")
        if audio.partial:
            st.info(f"Only {audio.analysed_part()} was analysed: long files are classified on their first "
                    "10 minutes.", icon=":material/content_cut:")
        for warning in audio.warnings:
            st.warning(warning, icon=":material/warning:")
    with bars:
        if not_music:
            with st.expander("Genre scores anyway"):
                st.markdown(views.probability_bars_html(result), unsafe_allow_html=True)
        else:
            st.markdown("**Most likely genres**")
            st.markdown(views.probability_bars_html(result), unsafe_allow_html=True)
            if result.chance is not None and not result.verdict().sure:
                st.caption("The top bar is that genre's own calibrated chance; the others share the rest in the "
                           "network's proportions. The verdict's figure is the chance that any of the genres it "
                           "names is right, fitted separately.")

    # Only the open tab is drawn (each tab switch reruns from the cache): fewer charts, faster pages.
    over_time, wave, spec = st.tabs(["Genre over time", "Waveform", "Mel spectrogram"], key="classify_view",
                                    on_change="rerun")
    if over_time.open:
        with over_time:
            st.caption(views.timeline_caption(result))
            st.plotly_chart(views.timeline(result), key="classify_timeline", config={"displayModeBar": False})
    if wave.open:
        with wave:
            st.caption("The analysed audio's amplitude over time (the loudest and quietest sample per pixel).")
            st.plotly_chart(views.waveform(result), key="classify_waveform", config=STATIC)
    if spec.open:
        with spec:
            st.caption("Loudness of each frequency band over time (mel scale: spaced as we hear pitch).")
            st.plotly_chart(views.spectrogram(result), key="classify_spectrogram", config=STATIC)

    if not not_music:
        show_why(result)


def show_why(result: Classification) -> None:
    """The model's measured reasons when its input allows them; otherwise its own evidence, and the
    feature comparison labelled as a description."""
    genre, why = views.genre_name(result.genre), result.explanation
    st.subheader(f"Why {plain(genre)}?")
    if why is not None and why.faithful and why.tags:
        runner_up = views.genre_name(result.top(2)[1][0])
        st.caption(why.method)
        st.plotly_chart(views.tag_chart(why.tags, genre, runner_up), key="classify_tags", config=STATIC)
        with st.expander("In words"):
            st.markdown("\n".join(f"- {line}" for line in views.tag_lines(why.tags, genre, runner_up)))
        show_closest(result)
        evidence = result.describe(6)
        if evidence:
            with st.expander("Description, not the model's reasons: how this clip's audio features compare"):
                st.markdown("\n".join(f"- {line}" for line in views.evidence_lines(evidence, result.schema)))
        return
    if why is not None and why.faithful and why.reasons:
        evidence = result.describe(features=[r.feature for r in why.reasons])
        st.caption(f"{why.method} Boxes: the middle half of each genre's training tracks (line: median); "
                   "dotted line: this clip.")
        panels = [(e, views.panel_title(result, e, r)) for e, r in zip(evidence, why.reasons)]
        lines = views.reason_lines(why.reasons, evidence, result.schema)
    else:
        st.caption((why.method if why is not None else "") + " (**Genre over time**, above.)")
        evidence = result.describe(6)
        if not evidence:
            return
        st.markdown(f"**Description, not the model's reasons:** features of this clip that are typical of {plain(genre)} "
                    f"and set it apart from {plain(views.genre_name(evidence[0].runner_up))}.")
        panels = [(e, views.panel_title(result, e)) for e in evidence]
        lines = views.evidence_lines(evidence, result.schema)
    columns = st.columns(3)  # three across on a wide screen; stacked on a phone
    for n, (e, title) in enumerate(panels):
        columns[n % 3].plotly_chart(views.evidence_panel(result, e, title), key=f"classify_evidence_{n}",
                                    config=STATIC)
    with st.expander("In words"):
        st.markdown("\n".join(f"- {line}" for line in lines))


def show_closest(result: Classification) -> None:
    """The training songs closest to this one in what the model reads, each playable when its audio is under
    the dataset folder (public mode: an allowed folder)."""
    if result.novelty is None or not result.novelty.closest:
        return
    root = data_dir()
    box = st.container(key="classify_closest")
    box.markdown(f"**{views.closest_heading(result.novelty)}**")
    for neighbour in result.novelty.closest:
        words, player = box.columns([2, 3], vertical_alignment="center")
        words.markdown(views.neighbour_line(neighbour))
        audio = data.neighbour_audio(root, neighbour.track_id)
        if isinstance(audio, str):
            player.caption(audio)
        else:
            player.audio(str(audio))


def show_many(clips: list[Clip], results: list[Classification | str], key: data.ModelKey) -> None:
    """A results table for several clips (with a CSV download), errors per file, details for one of them."""
    rows = [summary_row(r) if isinstance(r, Classification) else {"genre": "", "confidence": np.nan, "error": r}
            for r in results]
    frame = views.results_frame([c.name for c in clips], rows, loaded_model(key).classes)
    good = [(c, r) for c, r in zip(clips, results) if isinstance(r, Classification)]
    head, download = st.columns([4, 1], vertical_alignment="center")
    failed = len(clips) - len(good)
    head.markdown(f"**{len(clips)}** files · **{len(good)}** classified"
                  + (f" · **{failed}** could not be analysed" if failed else ""))
    download.download_button("Download CSV", data=frame.to_csv(index=False), file_name="genres.csv",
                             mime="text/csv", icon=":material/download:", on_click="ignore", width="stretch")
    for clip, result in zip(clips, results):
        if isinstance(result, str):
            st.error(f"**{plain(clip.name)}**: {plain(result)}", icon=":material/error:")
    if not good:
        return
    shown = views.shown_results(frame[frame["error"] == ""])
    st.dataframe(shown[["file", "music", "genre", "confidence", "top3", "analysed", "warnings"]],
                 hide_index=True, width="stretch", key="classify_table",
                 column_config={"confidence": st.column_config.ProgressColumn("confidence", format="percent",
                                                                             min_value=0.0, max_value=1.0),
                                "top3": "top 3", "warnings": st.column_config.TextColumn("warnings", width="small")})
    names = [c.name for c, _ in good]
    picked = st.selectbox("Show the details of", range(len(good)), format_func=names.__getitem__,
                          key="classify_detail")
    st.divider()
    show_result(*good[picked])


st.title("Classify a song")
st.caption("Drop songs, record one, or pick an example: the model says which of its genres (the default's: the ten "
           "of GTZAN) it sounds like, how that changes along the song, and which features gave it away.")
inputs, model_column = st.columns([2, 1], gap="large")  # room for a model's whole name
area = st.empty()  # the results, below the inputs: replaced at once when a new analysis starts
with model_column:
    key = pick_model()
with inputs:
    clips = choose_clips()

if not clips:
    area.info(f"Choose audio above: {FORMATS}, up to {st.get_option('server.maxUploadSize')} MB per file. "
              "A file shown in red was refused by the uploader (too large): hover it to see why.",
              icon=":material/music_note:")
else:
    outcomes = analyse_all(clips, key, area)
    with area.container():
        if len(clips) > 1:
            show_many(clips, outcomes, key)
        elif isinstance(outcomes[0], str):
            st.error(f"**{plain(clips[0].name)}**: {plain(outcomes[0])}", icon=":material/error:")
        else:
            show_result(clips[0], outcomes[0])
