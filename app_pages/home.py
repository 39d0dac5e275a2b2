"""Landing page: what the app is, where to go, and which model classifies by default."""

import streamlit as st

from ui.navigation import HOME, PAGES


def default_model() -> None:
    """The default model's facts (from the registry), or a hint when there is none."""
    # Imported here, after the page text is on screen: the registry loads TensorFlow (seconds, once).
    from core.models.registry import RegistryError, default_name, model_info
    from ui.classify_views import model_facts
    from ui.plain import plain

    name = default_name()
    if name is None:
        st.info("No default model yet: train one on the Train page or with `python -m core train`.")
        return
    try:
        info = model_info(name)
    except RegistryError as exc:
        st.warning(f"The default model cannot be read: {plain(exc)}")
        return
    with st.container(border=True):
        st.markdown(f"##### :material/model_training: Default model: {plain(name)}")
        st.markdown("\n".join(f"- **{label}**: {plain(value)}" for label, value in model_facts(info.card)))
        if info.card.notes:
            st.caption(plain(info.card.notes))


st.title("Classically Punk")
st.markdown(
    "#### Which genre is this song?\n"
    "A music-genre classifier for the ten GTZAN genres (blues, classical, country, disco, hip-hop, "
    "jazz, metal, pop, reggae, rock), or any genres you train it on from your own labelled music. It turns "
    "audio into timbre, harmony and rhythm features and lets you see why genres sound different."
)

for spec in PAGES:
    if spec is HOME:
        continue
    with st.container(border=True):
        st.page_link(spec.path, label=f"**{spec.title}**", icon=spec.icon)
        st.caption(spec.blurb)

default_model()
