#!/usr/bin/env bash
# Set up geo-publish in ./.venv with a Python >= 3.12 (pygeoapi 0.22+ needs it).
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test
# Finds python3.13/python3.12 on PATH, then in pyenv, then $GEO_PUBLISH_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local c
  for c in "${GEO_PUBLISH_PYTHON:-}" python3.13 python3.12 python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && ok "$(command -v "$c")" && { command -v "$c"; return; }
  done
  local roots=()
  command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)")
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
  for r in "${roots[@]}"; do
    for c in $(ls -d "$r"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do
      ok "$c" && { echo "$c"; return; }
    done
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! ok .venv/bin/python; then
  if ! PY=$(find_python); then
    echo "error: geo-publish needs Python >= 3.12 (pygeoapi 0.22+ requires it) and none was found." >&2
    echo "       Install one (e.g. 'pyenv install 3.12') or set GEO_PUBLISH_PYTHON=/path/to/python3.12." >&2
    exit 1
  fi
  echo "setup: using $PY ($("$PY" -V))"
  rm -rf .venv
  "$PY" -m venv .venv
fi

spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${extras:-base}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" 2>&1 \
    | grep -vE "^WARNING: Location .* is ignored" || true
  .venv/bin/python -c "import geo_publish" || { echo "error: installing geo-publish failed" >&2; exit 1; }
  touch "$stamp"
fi
# the viewer's JavaScript, CSS and icon font, pinned, from the npm registry (once; no-op after)
.venv/bin/python -m geo_publish.publish.viewer.assets
# the tests' Lighthouse (Google's page audit, run against Debian's Chromium), pinned, from npm (once)
if [ "$extras" = "test" ]; then
  lh=.venv/lighthouse
  want=12.8.2
  if [ "$("$lh/node_modules/.bin/lighthouse" --version 2>/dev/null || true)" != "$want" ]; then
    command -v npm >/dev/null 2>&1 || scripts/system-deps.sh nodejs npm
    npm install --prefix "$lh" --no-audit --no-fund --silent "lighthouse@$want" >/dev/null
  fi
fi
