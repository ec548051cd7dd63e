"""Rasters: ingest to a COG in EPSG:4326 (both store backends), bad rasters refused in one line
with the store unchanged, and the coverage served by the API equal to reading the COG directly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo_publish.settings import load_settings
from geo_publish.store import open_store


def make_raster(path, *, width=400, height=300, crs="EPSG:32642", nodata=-9999.0, bands=2,
                dtype="float32", transform=None, seed=0):
    rng = np.random.default_rng(seed)
    data = (rng.random((bands, height, width)) * 100).astype(dtype)
    if nodata is not None:
        data[:, :20, :30] = nodata
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=bands,
                       dtype=dtype, crs=crs, nodata=nodata,
                       transform=transform or from_origin(600000, 4500000, 25, 25)) as d:
        d.write(data)
        names = ["flood depth", "velocity", "b3", "b4"]
        for b in range(1, bands + 1):
            d.set_band_description(b, names[b - 1])
            d.set_band_unit(b, ["m", "m/s", "", ""][b - 1] or None) if b <= 2 else None
    return path


def _cog(project, cid="hazard"):
    store = open_store(load_settings(project.config))
    return store, store.version(cid)


def test_raster_becomes_a_cog_with_passport(project, tmp_path, capsys):
    from rio_cogeo.cogeo import cog_validate

    src = make_raster(tmp_path / "flood.tif", width=1600, height=1200)
    assert project.run("ingest", str(src), "--collection", "hazard") == 0
    out = capsys.readouterr().out
    assert "raster 1" in out and "2 band(s)" in out
    store, v = _cog(project)
    assert v.geometry_type == "Raster" and v.published
    valid, errors, _ = cog_validate(v.layer)
    assert valid, errors
    with rasterio.open(v.layer) as cog, rasterio.open(src) as orig:
        assert cog.crs.to_epsg() == 4326 and cog.count == 2
        assert cog.nodata == -9999.0 and cog.descriptions == ("flood depth", "velocity")
        assert cog.tags()["GP_BAND_1_UNIT"] == "m" and cog.overviews(1)
        # the centre pixel's value survives reprojection (bilinear, within the source range)
        from rasterio.warp import transform

        lon, lat = transform(orig.crs, cog.crs, [orig.bounds.left + 20000], [orig.bounds.top - 15000])
        got = next(cog.sample([(lon[0], lat[0])], indexes=1))[0]
        assert 0 <= got <= 100
    p = store.passport("hazard")
    assert p["geometry_type"] == "Raster" and p["source"]["crs"] == "EPSG:32642"
    assert p["raster"]["bands"][1]["unit"] == "m/s" and p["raster"]["source_resolution"] == [25.0, 25.0]
    assert 0.0001 < p["raster"]["nodata_share"] < 0.1  # the corner and the reprojection's edges
    w, s, e, n = p["extent"]
    assert 70.1 < w < e < 70.8 and 40.3 < s < n < 40.7
    report = project.report("hazard")
    assert report["raster"]["width"] > 0 and report["status"] == "published"


def test_raster_versions_and_rollback(project, tmp_path):
    a = make_raster(tmp_path / "a.tif", seed=1)
    b = make_raster(tmp_path / "b.tif", seed=2, bands=1)
    assert project.run("ingest", str(a), "--collection", "hazard") == 0
    assert project.run("ingest", str(b), "--collection", "hazard") == 0
    store, v = _cog(project)
    assert v.version == 2 and rasterio.open(v.layer).count == 1
    assert project.run("rollback", "hazard", "--to", "1") == 0
    assert rasterio.open(store.version("hazard").layer).count == 2


def _truncated(p):
    make_raster(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    return p


def _no_georef(p):
    with rasterio.open(p, "w", driver="GTiff", width=50, height=40, count=1, dtype="uint8") as d:
        d.write(np.ones((1, 40, 50), "uint8"))
    return p


def _absurd(p):
    # a valid header that claims 10^6 x 10^6 pixels x 100 bands (sparse: no data written)
    with rasterio.open(p, "w", driver="GTiff", width=1_000_000, height=1_000_000, count=100,
                       dtype="uint8", crs="EPSG:4326", transform=from_origin(60, 45, 1e-5, 1e-5),
                       tiled=True, sparse_ok=True, BIGTIFF="YES"):
        pass
    return p


def _bytes(p, data):
    p.write_bytes(data)
    return p


BAD = {
    "empty.tif": lambda p: _bytes(p, b""),
    "truncated.tif": _truncated,
    "nogeoref.tif": _no_georef,
    "absurd.tif": _absurd,
    "random.tif": lambda p: _bytes(p, np.random.default_rng(1).bytes(5000)),
    "nocrs.tif": lambda p: make_raster(p, crs=None),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_raster_one_line_exit_2_store_unchanged(project, tmp_path, capsys, name):
    good = make_raster(tmp_path / "good.tif")
    assert project.run("ingest", str(good), "--collection", "hazard") == 0
    before = project.state()
    src = BAD[name](tmp_path / name)
    capsys.readouterr()
    assert project.run("ingest", str(src), "--collection", "hazard") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert name in err
    assert project.state() == before
    if name == "nocrs.tif":
        assert "--source-crs" in err
    files = list((project.root / "data" / "rasters" / "hazard").rglob("*.tif"))
    assert len(files) == 1  # only the good version's COG: nothing left behind


def test_source_crs_for_a_raster_without_one(project, tmp_path):
    src = make_raster(tmp_path / "nocrs.tif", crs=None)
    assert project.run("ingest", str(src), "--collection", "hazard", "--source-crs", "EPSG:32642") == 0
    assert open_store(load_settings(project.config)).passport("hazard")["source"]["crs_from"] == "option"


@pytest.mark.slow
def test_coverage_api_equals_direct_read(project, tmp_path):
    """Served through pygeoapi (OGC API - Coverages): bbox subset and band selection give the
    pixels rasterio reads from the COG; GeoTIFF and CoverageJSON; in the records catalogue."""
    import httpx
    from rasterio.windows import from_bounds

    from server_testlib import start

    assert project.run("ingest", str(make_raster(tmp_path / "f.tif")), "--collection", "hazard") == 0
    srv = start(project.root, workers=1)
    try:
        store, v = _cog(project)
        meta = srv.get("/collections/hazard").json()
        assert any(link["rel"].endswith("coverage") for link in meta["links"])
        schema = srv.get("/collections/hazard/schema", params={"f": "json"}).json()
        assert schema["properties"]["1"]["title"] == "flood depth"
        assert schema["properties"]["2"]["x-ogc-unit"] == "m/s"
        box = (70.2, 40.6, 70.21, 40.61)
        r = srv.get("/collections/hazard/coverage", params={
            "f": "GTiff", "bbox": ",".join(map(str, box)), "properties": "2"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/tiff")
        out = tmp_path / "sub.tif"
        out.write_bytes(r.content)
        with rasterio.open(out) as got, rasterio.open(v.layer) as cog:
            window = from_bounds(*box, cog.transform).round_offsets().round_lengths()
            want = cog.read(2, window=window)
            assert got.count == 1 and got.crs.to_epsg() == 4326
            assert np.array_equal(got.read(1), want)
            assert got.bounds.left == pytest.approx(rasterio.windows.bounds(window, cog.transform)[0])
        cj = srv.get("/collections/hazard/coverage", params={
            "f": "json", "bbox": ",".join(map(str, box))}).json()
        assert set(cj["ranges"]) == {"band1", "band2"}
        assert cj["parameters"]["band1"]["unit"]["symbol"] == "m"
        vals = np.array([math.nan if x is None else x for x in cj["ranges"]["band2"]["values"]])
        assert np.allclose(vals.reshape(want.shape), want, equal_nan=True)
        for bad in ({"bbox": "1,1,2,2"}, {"properties": "9"}, {"bbox": "1,2,3"}):
            assert srv.get("/collections/hazard/coverage", params={"f": "json", **bad}).status_code == 400
        records = srv.get("/collections/catalogue/items", params={"f": "json"}).json()
        rec = next(f for f in records["features"] if f["id"] == "hazard")
        assert any("coverage" in link["href"] for link in rec["links"])
        passport = srv.get("/passports/hazard.json").json()
        assert passport["raster"]["bands"][0]["description"] == "flood depth"
        assert json.dumps(passport)  # plain JSON
        assert httpx.get(srv.url + "/conformance").json()["conformsTo"]
    finally:
        srv.stop()
