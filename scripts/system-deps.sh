#!/usr/bin/env bash
# Debian packages the tests need: Chromium (viewer tests, headless), nginx (a real shared cache in
# front of the API) and PostGIS for the running
# PostgreSQL 15 (store and API tests on the PostGIS backend). Installed with apt-get when
# missing (needs root or sudo); a no-op when they are there.
# Usage: scripts/system-deps.sh [package ...]   (default: what the test suite needs)
set -euo pipefail
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(chromium postgresql-15-postgis-3 nginx)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: the tests need these Debian packages and apt-get is not here: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || {
  $sudo apt-get update -q >/dev/null 2>&1
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null
}
