#!/usr/bin/env bash
# Install what the tests need and run the whole suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
