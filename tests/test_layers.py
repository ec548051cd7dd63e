"""Data flows one way: the layer contracts in pyproject.toml ([tool.importlinter]), checked by
import-linter on the package as it is, and shown to catch an import that goes up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
                           " sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_layer_imports_only_what_is_below_it():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_an_import_that_goes_up_breaks_the_contract(tmp_path):
    """The store importing the server (as store/gpkg.py once imported serve/gpkg_read.py) fails."""
    shutil.copytree(ROOT / "geo_publish", tmp_path / "geo_publish",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "vendor"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    store = tmp_path / "geo_publish" / "store" / "base.py"
    store.write_text(store.read_text() + "\nfrom geo_publish.serve import caching  # noqa\n")
    portal = tmp_path / "geo_publish" / "portal" / "ops.py"
    portal.write_text(portal.read_text() + "\nfrom geo_publish.portal import pages  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    assert "geo_publish.store is not allowed to import geo_publish.serve" in done.stdout
    assert "geo_publish.portal.ops is not allowed to import geo_publish.portal.pages" in done.stdout
