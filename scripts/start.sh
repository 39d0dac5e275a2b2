#!/usr/bin/env bash
# Install everything the app needs (first run only) and start it on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh app
exec .venv/bin/python -m streamlit run app.py "$@"
