"""App-side helpers shared by the Streamlit pages (the only package besides pages/ that imports streamlit)."""
