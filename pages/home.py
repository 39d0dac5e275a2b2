"""Landing page: what the app is and where to go."""

import streamlit as st

from ui.navigation import HOME, PAGES, run_through_router

run_through_router()
st.title("Classically Punk")
st.markdown(
    "#### Which genre is this song?\n"
    "A music-genre classifier for the ten GTZAN genres (blues, classical, country, disco, hip-hop, "
    "jazz, metal, pop, reggae, rock). It turns audio into timbre, harmony and rhythm features "
    "and lets you see why genres sound different."
)

for spec in PAGES:
    if spec is HOME:
        continue
    with st.container(border=True):
        st.page_link(spec.path, label=f"**{spec.title}**", icon=spec.icon)
        st.caption(spec.blurb)
