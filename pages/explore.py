"""Explore the feature table: how genres differ (placeholder until the dashboard lands)."""

import streamlit as st

st.title("Explore")
