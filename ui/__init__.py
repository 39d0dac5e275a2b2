"""App-side helpers shared by the Streamlit pages (the only package besides app_pages/ that imports streamlit)."""
