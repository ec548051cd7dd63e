"""The developer notebooks run, cell by cell, against a live demo server (nbclient): a notebook
that breaks fails CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server_testlib import LiveServer

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo(demo_server: LiveServer) -> LiveServer:
    return demo_server


def test_there_are_three_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_against_the_demo_server(demo, path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("GEO_PUBLISH_URL", demo.url)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   env={**os.environ}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("stream", "execute_result", "display_data") for o in outputs)
