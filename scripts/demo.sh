#!/usr/bin/env bash
# The main job on the embedded default: sample layers -> GeoPackage store, with passports and reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/geo-publish demo "$@"
