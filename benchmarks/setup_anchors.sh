#!/usr/bin/env bash
# Install the serving benchmark's anchors: wrk, PostGIS, stock pygeoapi with its PostgreSQL
# provider and tipg, each in its own venv under benchmarks/ (never mixed with geo-publish's).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v wrk >/dev/null || ! command -v ogr2ogr >/dev/null || [ ! -d /usr/share/postgresql/15/extension ] \
   || ! ls /usr/share/postgresql/15/extension/postgis.control >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk postgresql-15-postgis-3 gdal-bin >/dev/null
fi
PY=$(../.venv/bin/python -c 'import sys; print(sys._base_executable)')
mk() {  # venv name, packages...
  local v="$1"; shift
  if [ ! -f "$v/.ok" ]; then
    rm -rf "$v"; "$PY" -m venv "$v"
    "$v/bin/pip" install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true
    touch "$v/.ok"
  fi
}
mk .venv-pygeoapi "pygeoapi==0.24.0" psycopg2-binary SQLAlchemy GeoAlchemy2 "uvicorn[standard]" starlette
mk .venv-tipg tipg "uvicorn[standard]"
