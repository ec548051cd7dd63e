"""Repairs keep the geometry family; broken features are quarantined with a reason; schema rules."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gp_testlib import published
from geo_publish.ingest import geometry as geo
from geo_publish.settings import load_settings
from geo_publish.store import open_store

BOWTIE = "POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))"
SQUARE_CW = "POLYGON ((0 0, 0 1, 1 1, 1 0, 0 0))"


def _layer(tmp_path, wkts, crs="EPSG:32642", name="g.gpkg", **cols):
    geoms = shapely.from_wkt(wkts)
    frame = gpd.GeoDataFrame({"n": np.arange(len(wkts)), **cols}, geometry=geoms, crs=crs)
    path = tmp_path / name
    pyogrio.write_dataframe(frame, path)
    return path


def _gdal_layer(tmp_path, wkts, geometry_type, crs="EPSG:32642", name="gdal"):
    """A GeoPackage written by GDAL from WKT (curves, M and Z that shapely cannot write)."""
    csv = tmp_path / f"{name}.csv"
    csv.write_text("WKT,n\n" + "".join(f'"{w}",{i}\n' for i, w in enumerate(wkts)))
    meta, table = pyogrio.read_arrow(csv, encoding="utf-8")  # GDAL's CSV driver parses the WKT
    gpkg = tmp_path / f"{name}.gpkg"
    pyogrio.write_arrow(table, gpkg, driver="GPKG", geometry_name=meta["geometry_name"] or "wkb_geometry",
                        geometry_type=geometry_type, crs=crs)
    return gpkg


def _shift(wkt, x0=600000, y0=4500000, k=100):
    return shapely.to_wkt(shapely.affinity.affine_transform(shapely.from_wkt(wkt), [k, 0, 0, k, x0, y0]))


def test_repair_keeps_polygons_orients_ccw_promotes_multi(project, tmp_path):
    import shapely.affinity  # noqa: F401

    wkts = [_shift(BOWTIE), _shift(SQUARE_CW), _shift("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2)))"),
            "POLYGON EMPTY", None, _shift("POLYGON ((0 0, 1 0, 1 0, 0 0))")]
    path = _layer(tmp_path, wkts)
    assert project.run("ingest", str(path), "--collection", "g") == 0
    rep = project.report("g")
    c = rep["counts"]
    assert c == {"read": 6, "published": 3, "repaired": 1, "quarantined": 3}
    codes = {(p["feature"], p["code"], p["action"]) for p in rep["problems"]}
    assert (0, "self_intersection", "repaired") in codes
    assert (3, "empty_geometry", "quarantined") in codes
    assert (4, "null_geometry", "quarantined") in codes
    assert any(f == 5 and a == "quarantined" for f, _, a in codes)
    gdf = published(project, "g")
    assert set(gdf.geom_type) == {"MultiPolygon"}
    for poly in shapely.get_parts(gdf.geometry.array):
        assert poly.exterior.is_ccw
    q = open_store(load_settings(project.config)).quarantine("g")
    assert {r["code"] for r in q} >= {"empty_geometry", "null_geometry"}
    assert any(r["code"] != "null_geometry" and "POLYGON" in str(r["source_geometry"]) for r in q), q


def test_m_dropped_z_kept_collection_unpacked(project, tmp_path):
    wkts = ["LINESTRING ZM (600000 4500000 10 1, 600100 4500100 20 2)",
            "GEOMETRYCOLLECTION (LINESTRING (600000 4500000, 600010 4500010), LINESTRING (600020 4500020, 600030 4500030))",
            "POINT (600000 4500000)"]
    path = _gdal_layer(tmp_path, wkts, "Unknown", name="l")
    assert project.run("ingest", str(path), "--collection", "l") == 0
    rep = project.report("l")
    assert rep["counts"] == {"read": 3, "published": 2, "repaired": 0, "quarantined": 1}
    assert [p["code"] for p in rep["problems"]] == ["geometry_type_mismatch"]
    out = published(project, "l")
    assert set(out.geom_type) == {"MultiLineString"}
    assert not shapely.has_m(out.geometry.array).any()
    assert shapely.has_z(out.geometry.array).any()


def test_curves_are_linearised(project, tmp_path):
    gpkg = _gdal_layer(tmp_path, ["CURVEPOLYGON (CIRCULARSTRING (600000 4500000, 600100 4500100, "
                                  "600200 4500000, 600100 4499900, 600000 4500000))"], "Unknown")
    assert project.run("ingest", str(gpkg), "--collection", "cv") == 0
    g = published(project, "cv").geometry.iloc[0]
    assert g.geom_type == "MultiPolygon" and shapely.get_num_coordinates(g) > 20


def test_schema_id_required_types(project, tmp_path):
    (project.root / "collections").mkdir()
    (project.root / "collections" / "s.yml").write_text(
        "id: s\nschema: {id_field: code, required: [name], types: {capacity: integer}}\n")
    pts = [f"POINT ({600000 + i} 4500000)" for i in range(6)]
    path = _layer(tmp_path, pts, code=["a", "b", "b", "c", None, "d"],
                  name_=["x", "y", "z", "", "w", "v"],
                  capacity=["10", "20", "30", "40", "50", "<img src=x onerror=alert(1)>"])
    frame = pyogrio.read_dataframe(path).rename(columns={"name_": "name"})
    pyogrio.write_dataframe(frame, path)
    assert project.run("ingest", str(path), "--collection", "s", "--report", str(tmp_path / "r.json")) == 0
    rep = project.report("s")
    codes = {p["feature"]: p["code"] for p in rep["problems"]}
    assert codes == {2: "duplicate_id", 3: "missing_required", 4: "missing_id", 5: "type_error"}
    out = published(project, "s")
    assert out["code"].tolist() == ["a", "b"] and str(out["capacity"].dtype).lower().startswith("int")
    html = (tmp_path / "r.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    q = open_store(load_settings(project.config)).quarantine("s")
    assert json.loads(q[-1]["properties"])["capacity"] == "<img src=x onerror=alert(1)>"


_WKT = st.sampled_from([
    "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))", BOWTIE, "POLYGON EMPTY", None,
    "POLYGON ((0 0, 1 0, 1 0, 0 0))", "POINT (0 0)", "POLYGON ((0 0, 2 0, 2 2, 0 2, 0 0), (3 3, 4 3, 4 4, 3 3))",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((0 0, 1 0, 1 1, 0 0)))", "NAN",
])


def _geom(w):
    if w is None:
        return None
    if w == "NAN":  # a closed ring with a NaN coordinate
        return shapely.polygons([[0, 0], [1, 0], [1, 1], [0, np.nan], [0, 0]])
    return shapely.from_wkt(w)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_WKT, min_size=1, max_size=30))
def test_nothing_lost_invariant_on_random_mixes(wkts):
    geoms = np.empty(len(wkts), dtype=object)
    geoms[:] = [_geom(w) for w in wkts]
    problems = geo.Problems()
    out, keep = geo.clean(geoms, geo.POLYGON, True, problems)
    quarantined = {i for i, a in zip(problems.index, problems.action) if a == "quarantined"}
    assert keep.sum() + len(quarantined) == len(wkts)
    assert quarantined == set(np.flatnonzero(~keep))
    assert all(g.geom_type in ("Polygon", "MultiPolygon") and g.is_valid for g in out[keep])
    written = shapely.from_wkb(geo.wkb_array(out[keep], geo.POLYGON, True).to_numpy(zero_copy_only=False))
    assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in written)
    assert all(shapely.equals(a, b) for a, b in zip(out[keep], written, strict=True))


# UTM zone 42N (EPSG:32642) control points, from the projection's definition, not from PROJ: on
# the central meridian (69 E) easting is 500,000 m; at the equator 3 degrees off it 166,021.443 m
# (the zone edge every UTM table lists); at 45 N on it the northing is 0.9996 x the WGS 84 meridian
# arc to 45 degrees (4,984,944.378 m) = 4,982,950.400 m
UTM42_CONTROL = [((500000.0, 0.0), (69.0, 0.0)), ((166021.4431, 0.0), (66.0, 0.0)),
                 ((833978.5569, 0.0), (72.0, 0.0)), ((500000.0, 4982950.400), (69.0, 45.0))]


def test_pinned_reprojection_hits_control_points():
    from pyproj import CRS

    from geo_publish.ingest.crs import pin_transformation

    pinned = pin_transformation(CRS("EPSG:32642"), None)
    src = np.array([shapely.Point(xy) for xy, _ in UTM42_CONTROL], dtype=object)
    out = pinned.apply(src)
    for geom, (_, (lon, lat)) in zip(out, UTM42_CONTROL, strict=True):
        # 1e-6 degrees is ~0.1 m: a wrong operation, datum or axis order misses by far more
        assert abs(geom.x - lon) < 1e-6 and abs(geom.y - lat) < 1e-6, (geom, lon, lat)


def test_control_points_through_an_ingest(project, tmp_path):
    src = gpd.GeoDataFrame({"n": list(range(len(UTM42_CONTROL)))},
                           geometry=[shapely.Point(xy) for xy, _ in UTM42_CONTROL], crs="EPSG:32642")
    project.config.write_text(project.config.read_text() + "ingest: {area_margin_degrees: 70}\n")
    pyogrio.write_dataframe(src, tmp_path / "cp.gpkg")
    assert project.run("ingest", str(tmp_path / "cp.gpkg"), "--collection", "cp") == 0
    out = published(project, "cp").sort_values("n")
    got = shapely.get_coordinates(out.geometry.array)
    want = np.array([ll for _, ll in UTM42_CONTROL])
    assert np.abs(got - want).max() < 1e-6, got


def test_pipeline_batches_stream_in_chunks(project, tmp_path):
    n = 25_000
    gdf = gpd.GeoDataFrame({"v": np.arange(n)}, geometry=shapely.points(
        np.random.default_rng(1).uniform(600000, 700000, n), np.random.default_rng(2).uniform(4.4e6, 4.6e6, n)),
        crs="EPSG:32642")
    pyogrio.write_dataframe(gdf, tmp_path / "big.gpkg")
    project.config.write_text(project.config.read_text() + "ingest: {chunk_size: 5000}\n")
    assert project.run("ingest", str(tmp_path / "big.gpkg"), "--collection", "big") == 0
    out = published(project, "big")
    assert len(out) == n and sorted(out["v"]) == list(range(n))
