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


HOME = PageSpec("app_pages/home.py", "Home", ":material/home:", "What this app is.")

PAGES: tuple[PageSpec, ...] = (
    HOME,
    PageSpec("app_pages/classify.py", "Classify", ":material/graphic_eq:",
             "Upload, record or pick a song: its genre, how the genre moves along the song, and the "
             "features that gave it away."),
    PageSpec("app_pages/explore.py", "Explore", ":material/insights:",
             "See how genres differ: feature distributions, projections, the features that separate "
             "genres best, and tracks that sit far from their genre (likely mislabels)."),
    PageSpec("app_pages/train.py", "Train", ":material/model_training:",
             "Train and test a model on a feature table or your own labelled music (any genres) and watch it learn; "
             "save it for Classify."),
)

