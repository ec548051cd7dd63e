"""Every shape of layer a ministry can hand over: geometry-only layers, layers whose attributes
are all null, empty layers, and every OGR geometry type (curves, Z/M/ZM, collections,
polyhedral surfaces and TINs), written as ISO WKB into a GeoPackage by GDAL itself. An ingest
ends with exit 0 or a one-line exit 2, never an internal error, and ``read == published +
quarantined``. Also: statement timeouts on both readers."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_testlib import Project

# ISO WKB type codes (2D); +1000 Z, +2000 M, +3000 ZM
POINT, LINE, POLYGON, MPOINT, MLINE, MPOLYGON, COLLECTION = 1, 2, 3, 4, 5, 6, 7
CIRCULAR, COMPOUND, CURVEPOLY, MCURVE, MSURFACE, POLYHEDRAL, TIN, TRIANGLE = 8, 9, 10, 11, 12, 15, 16, 17
DIMS = {0: 2, 1000: 3, 2000: 3, 3000: 4}


def _coords(pts: list[tuple[float, float]], dim: int) -> bytes:
    out = b""
    for i, (x, y) in enumerate(pts):
        out += struct.pack("<dd", x, y) + struct.pack("<" + "d" * (DIMS[dim] - 2), *([1.0] * (DIMS[dim] - 2)))
    return out


def _wkb(code: int, dim: int, body: bytes) -> bytes:
    return struct.pack("<BI", 1, code + dim) + body


def _ring(x: float, y: float, d: float = 0.01) -> list[tuple[float, float]]:
    return [(x, y), (x + d, y), (x + d, y + d), (x, y + d), (x, y)]


def geometry(kind: int, dim: int, x: float, y: float) -> bytes:
    """One geometry of ``kind`` near (x, y), as ISO WKB."""
    ring = _ring(x, y)
    if kind == POINT:
        return _wkb(POINT, dim, _coords([(x, y)], dim))
    if kind in (LINE, CIRCULAR):
        pts = [(x, y), (x + 0.01, y + 0.01), (x + 0.02, y)]
        return _wkb(kind, dim, struct.pack("<I", 3) + _coords(pts, dim))
    if kind in (POLYGON, TRIANGLE):
        r = ring if kind == POLYGON else [ring[0], ring[1], ring[2], ring[0]]
        return _wkb(kind, dim, struct.pack("<II", 1, len(r)) + _coords(r, dim))
    parts = {MPOINT: [POINT, POINT], MLINE: [LINE], MPOLYGON: [POLYGON, POLYGON],
             COLLECTION: [POINT, LINE, POLYGON], COMPOUND: [CIRCULAR, LINE], MCURVE: [CIRCULAR, LINE],
             CURVEPOLY: [], MSURFACE: [POLYGON], POLYHEDRAL: [POLYGON, POLYGON], TIN: [TRIANGLE]}[kind]
    if kind == CURVEPOLY:
        ring3 = [(x, y), (x + 0.01, y + 0.01), (x, y)]  # a closed circular string
        inner = _wkb(CIRCULAR, dim, struct.pack("<I", 3) + _coords(ring3, dim))
        return _wkb(kind, dim, struct.pack("<I", 1) + inner)
    if kind == COMPOUND:  # the pieces must join
        a = _wkb(CIRCULAR, dim, struct.pack("<I", 3) + _coords([(x, y), (x + 0.01, y + 0.01), (x + 0.02, y)], dim))
        b = _wkb(LINE, dim, struct.pack("<I", 2) + _coords([(x + 0.02, y), (x + 0.03, y)], dim))
        return _wkb(kind, dim, struct.pack("<I", 2) + a + b)
    subs = [geometry(p, dim, x + i * 0.05, y) for i, p in enumerate(parts)]
    return _wkb(kind, dim, struct.pack("<I", len(subs)) + b"".join(subs))


KINDS = [POINT, LINE, POLYGON, MPOINT, MLINE, MPOLYGON, COLLECTION, CIRCULAR, COMPOUND, CURVEPOLY,
         MCURVE, MSURFACE, POLYHEDRAL, TIN, TRIANGLE]


def write_layer(path, wkbs: list[bytes | None], attrs: dict[str, list] | None) -> None:
    attrs = attrs or {}
    from pyogrio.raw import write

    write(path, np.array(wkbs, dtype=object),
                  [np.array(v, dtype=object) for v in attrs.values()], list(attrs),
                  geometry_type="Unknown", driver="GPKG", crs="EPSG:4326", layer="l")


def _ingest(project: Project, path, cid: str):
    """``geo-publish ingest`` in this process (a new interpreter per example cost more than
    the ingest), its exit code and what it printed; an exception would fail the test as a
    traceback would."""
    import contextlib
    import io
    import subprocess

    from geo_publish.cli.main import main

    args = ["--config", str(project.config), "ingest", str(path), "--collection", cid]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def _check(project: Project, done, cid: str, before: dict) -> None:
    assert done.returncode in (0, 2), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert project.state() == before
        return
    c = project.report(cid)["counts"]
    assert c["read"] == c["published"] + c["quarantined"], c
    assert project.report(cid)["status"] == "published"


def test_geometry_only_layer_publishes(project, tmp_path):
    src = tmp_path / "lines.gpkg"
    write_layer(src, [geometry(LINE, 1000, 69.2, 41.3), geometry(LINE, 0, 69.3, 41.3)], None)
    done = _ingest(project, src, "lines")
    assert done.returncode == 0, done.stderr
    c = project.report("lines")["counts"]
    assert c == {**c, "read": 2, "published": 2, "quarantined": 0}


def test_every_attribute_null_and_empty_layers(project, tmp_path):
    src = tmp_path / "nulls.gpkg"
    write_layer(src, [geometry(POINT, 0, 69.2, 41.3)] * 3, {"a": [None] * 3, "b": [None] * 3})
    assert _ingest(project, src, "nulls").returncode == 0
    assert project.report("nulls")["counts"]["published"] == 3
    empty = tmp_path / "empty.gpkg"
    write_layer(empty, [], {"a": []})
    before = project.state()
    done = _ingest(project, empty, "empty")
    assert done.returncode == 2 and "no features" in done.stderr
    assert project.state() == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(list(DIMS)), st.booleans()),
                      min_size=1, max_size=6),
       with_attrs=st.booleans())
def test_any_mix_of_geometry_types_ingests_or_is_refused_in_one_line(project, tmp_path_factory, kinds,
                                                                   with_attrs):
    folder = tmp_path_factory.mktemp("types")
    wkbs = [geometry(k, d, 69.0 + i * 0.1, 41.0) if present else None
            for i, (k, d, present) in enumerate(kinds)]
    attrs = {"name": [f"f{i}" for i in range(len(wkbs))]} if with_attrs else None
    src = folder / "mix.gpkg"
    write_layer(src, wkbs, attrs)
    before = project.state()
    _check(project, _ingest(project, src, "mix"), "mix", before)


# -- statement timeouts ---------------------------------------------------------------------------
SLOW_SQLITE = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
               "SELECT count(*) FROM c")


def test_geopackage_reader_cancels_a_query_past_its_timeout(tmp_path):
    import sqlite3
    import time

    from geo_publish.http.errors import status_of
    from geo_publish.read.errors import QueryTimeout
    from geo_publish.read.readers import GeoPackageReader

    db = tmp_path / "x.gpkg"
    sqlite3.connect(db).close()
    r = GeoPackageReader(str(db), timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(QueryTimeout) as err:
        r.rows(SLOW_SQLITE, [])
    assert time.monotonic() - t0 < 2
    assert status_of(err.value)[0] == 503 and "0.3 s" in err.value.user_msg
    assert r.rows("SELECT 1", []) == [(1,)]  # the connection still serves


def test_postgis_reader_cancels_a_query_past_its_timeout(pg_database, monkeypatch):
    import time

    from geo_publish.read.errors import QueryTimeout
    from geo_publish.read.readers import PostGISReader

    r = PostGISReader(pg_database, "public", timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(QueryTimeout):
        r.rows("SELECT pg_sleep(5)", [])
    assert time.monotonic() - t0 < 2
    assert r.rows("SELECT 1", []) == [(1,)]
