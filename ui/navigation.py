"""The app's pages, in menu order: add a page with one line in :data:`PAGES`."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class PageSpec:
    """One page: its script, menu title, Material icon and the sentence the home page shows for it."""

    path: str
    title: str
    icon: str
    blurb: str

    def page(self, default: bool = False) -> st.Page:
        return st.Page(self.path, title=self.title, icon=self.icon, default=default)


HOME = PageSpec("pages/home.py", "Home", ":material/home:", "What this app is.")

PAGES: tuple[PageSpec, ...] = (
    HOME,
    PageSpec("pages/classify.py", "Classify", ":material/graphic_eq:",
             "Upload, record or pick a song: its genre, how the genre moves along the song, and the "
             "features that gave it away."),
    PageSpec("pages/explore.py", "Explore", ":material/insights:",
             "See how genres differ: feature distributions, projections, the features that separate "
             "genres best, and tracks that sit far from their genre (likely mislabels)."),
    PageSpec("pages/train.py", "Train", ":material/model_training:",
             "Train and test a model on a feature table while its loss curves grow live; save it for Classify."),
)


_ROUTED = "_routed_through_app"


def run_through_router() -> None:
    """Make a page opened directly (e.g. ``/explore`` on a fresh server) run inside app.py's navigation.

    Streamlit treats an app with a ``pages/`` folder as a legacy multipage app until some session
    has run ``st.navigation``; until then a direct page URL runs the page alone (no sidebar
    settings, wrong menu). Each page calls this first: it switches Streamlit to ``st.navigation``
    mode and reruns, so app.py routes the request. Once per session at most: AppTest resets the flag
    before every run, and a rerun on each would swallow button clicks.
    """
    from streamlit.runtime.pages_manager import PagesManager  # no public switch exists (Streamlit 1.67)

    if PagesManager.uses_pages_directory and not st.session_state.get(_ROUTED):
        st.session_state[_ROUTED] = True
        PagesManager.uses_pages_directory = False
        st.rerun()
