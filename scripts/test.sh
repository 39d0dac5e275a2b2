#!/usr/bin/env bash
# Install everything the tests need (Debian packages, Python packages; see scripts/bootstrap.sh) and run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh tests
exec .venv/bin/python -m pytest "$@"
