"""Classically Punk: the Streamlit entry point (``streamlit run app.py``).

Pages live in ``app_pages/`` and are listed in :data:`ui.navigation.PAGES` (one line per page). The
folder is not called ``pages/``: next to app.py that name switches on Streamlit's legacy multipage mode.
"""

import streamlit as st

from ui.classify_data import recover_registry, warm_up
from ui.loaders import warm_indexes
from ui.mode import policy, upload_memory_cap
from ui.navigation import HOME, PAGES
from ui.settings import dataset_sidebar
from ui.upload_memory import start_sweeper

st.set_page_config(page_title="Classically Punk", page_icon=":material/graphic_eq:", layout="wide")
# A visitor never sees a traceback, exception text or server path: Streamlit shows a plain "something
# went wrong" and the details go to the server's log only.
st.set_option("client.showErrorDetails", "none" if policy().public else "full")

recover_registry()
start_sweeper(upload_memory_cap())  # frees the uploads of ended sessions and, in public mode, beyond the budget
current = st.navigation([spec.page(default=spec is HOME) for spec in PAGES])
dataset_sidebar()
warm_indexes()
current.run()
warm_up()  # after the page: the first upload finds the default model loaded (not when the page stopped early)
