"""Lighthouse (Google's page audit, the npm package scripts/setup.sh pins) on the citizen site's
index and a layer page, as a phone on a slow mobile network would load them (its default mobile
emulation and simulated throttling), in Debian's Chromium: accessibility >= 95, best practices
100, performance >= 90, each the median of three runs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path

import pytest

from server_testlib import LiveServer

pytestmark = pytest.mark.slow
LIGHTHOUSE = Path(__file__).resolve().parents[1] / ".venv" / "lighthouse" / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices")


def _audit(url: str, out: Path) -> dict[str, float]:
    done = subprocess.run(
        [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
         f"--only-categories={','.join(CATEGORIES)}",
         "--chrome-flags=--headless=new --no-sandbox --disable-gpu"],
        env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert not report.get("runtimeError"), report["runtimeError"]
    return {k: report["categories"][k]["score"] for k in CATEGORIES}


@pytest.mark.parametrize("page", ["index.html", "layer-shelters.html"])
def test_lighthouse_mobile_scores(demo_server: LiveServer, page: str, tmp_path: Path) -> None:
    assert LIGHTHOUSE.exists(), "Lighthouse is not installed: run scripts/setup.sh test"
    runs = [_audit(f"{demo_server.url}/site/{page}?lang=uz", tmp_path / f"run{i}.json") for i in range(3)]
    median = {k: statistics.median(r[k] for r in runs) for k in CATEGORIES}
    print(f"\nLighthouse mobile, {page} (median of 3): {median}; runs: {runs}")
    assert median["accessibility"] >= 0.95, median
    assert median["best-practices"] == 1, median
    assert median["performance"] >= 0.90, median
