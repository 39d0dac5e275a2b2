#!/usr/bin/env bash
# Install everything the tests need (Debian packages, Python packages; see scripts/bootstrap.sh) and run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh tests
# One worker per core (pytest-xdist), each taking whole test files so a file's server or model is set up once.
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
