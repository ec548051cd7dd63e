"""Every format reads back the canonical dataset: same count, same text, same positions."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from gp_testlib import NAMES, LONLAT, published, write_shapefile, zip_folder


def _check(project, collection, n=12, tol=1e-6):
    rep = project.report(collection)
    c = rep["counts"]
    assert c["read"] == c["published"] + c["quarantined"]
    assert c["published"] == n
    gdf = published(project, collection)
    assert len(gdf) == n
    names = set(gdf["nazvanie"]) if "nazvanie" in gdf else set()
    assert names == set(NAMES)
    got = np.sort(shapely.get_coordinates(gdf.geometry.centroid.array), axis=0)
    want = np.sort(np.array(LONLAT), axis=0)
    assert np.allclose(got, want, atol=tol)
    return rep


def test_shapefile_cp1251_in_utm(project, points, tmp_path):
    shp = write_shapefile(points.to_crs("EPSG:32642"), tmp_path / "src", "pts", "cp1251")
    assert project.run("ingest", str(shp), "--collection", "pts") == 0
    rep = _check(project, "pts")
    assert rep["source"]["encoding"] == "cp1251" and rep["source"]["encoding_from"] == "detected"
    assert rep["source"]["crs"] == "EPSG:32642" and rep["source"]["crs_from"] == "prj"


def test_zip_with_subfolder_and_two_shapefiles(project, points, polygons, tmp_path):
    src = tmp_path / "src"
    write_shapefile(points.to_crs("EPSG:28412"), src, "shelters", "cp1251")
    write_shapefile(polygons, src, "zones", "cp1251")
    z = zip_folder(src, tmp_path / "two.zip", prefix="data/deep/")
    assert project.run("ingest", str(z), "--collection", "x") == 2  # which layer?
    assert project.run("ingest", str(z), "--collection", "x", "--layer", "shelters") == 0
    rep = _check(project, "x", tol=1e-6)
    assert "Pulkovo 1942 to WGS 84" in rep["transformation"]
    assert "accuracy" in rep["transformation"]


def test_geojson_and_gpkg_layers(project, points, polygons, tmp_path, capsys):
    gj = tmp_path / "p.geojson"
    pyogrio.write_dataframe(points, gj, driver="GeoJSON")
    assert project.run("ingest", str(gj), "--collection", "gj") == 0
    _check(project, "gj")
    gpkg = tmp_path / "multi.gpkg"
    pyogrio.write_dataframe(points.to_crs("EPSG:32642"), gpkg, layer="pts")
    pyogrio.write_dataframe(polygons.to_crs("EPSG:32642"), gpkg, layer="polys")
    capsys.readouterr()
    assert project.run("ingest", str(gpkg), "--collection", "g") == 2
    err = capsys.readouterr().err
    assert "pts" in err and "polys" in err and "--layer" in err
    assert project.run("ingest", str(gpkg), "--collection", "g", "--layer", "polys") == 0
    _check(project, "g", tol=1e-5)
    assert published(project, "g").geometry.geom_type.unique().tolist() == ["MultiPolygon"]


def test_kml_folders_and_extended_data(project, points, tmp_path):
    kml = tmp_path / "p.kml"
    pyogrio.write_dataframe(points.iloc[:6], kml, layer="north", driver="LIBKML")
    pyogrio.write_dataframe(points.iloc[6:], kml, layer="south", driver="LIBKML", append=False)
    layers = pyogrio.list_layers(kml)
    assert len(layers) == 2
    assert project.run("ingest", str(kml), "--collection", "k", "--layer", "south") == 0
    gdf = published(project, "k")
    assert len(gdf) == 6
    assert set(gdf["nazvanie"]) == set(NAMES[6:])  # ExtendedData became attributes


@pytest.mark.parametrize("sep,decimal,enc", [(";", ",", "cp1251"), (",", ".", "utf-8"), ("\t", ".", "cp866")])
def test_csv_lonlat(project, points, tmp_path, sep, decimal, enc):
    df = pd.DataFrame({"id": points["ID"], "название": NAMES,
                       "lon": [f"{x:.6f}" for x, _ in LONLAT], "lat": [f"{y:.6f}" for _, y in LONLAT]})
    if decimal == ",":
        df["lon"], df["lat"] = df["lon"].str.replace(".", ","), df["lat"].str.replace(".", ",")
    path = tmp_path / "p.csv"
    df.to_csv(path, sep=sep, index=False, encoding=enc)
    assert project.run("ingest", str(path), "--collection", "c") == 0
    gdf = published(project, "c")
    assert set(gdf["nazvanie"]) == set(NAMES)
    assert np.allclose(np.sort(shapely.get_coordinates(gdf.geometry.array), axis=0),
                       np.sort(np.array(LONLAT), axis=0))


def test_csv_projected_xy_needs_source_crs(project, points, tmp_path, capsys):
    utm = points.to_crs("EPSG:32642")
    xy = shapely.get_coordinates(utm.geometry.array)
    pd.DataFrame({"name": NAMES, "x": xy[:, 0], "y": xy[:, 1]}).to_csv(tmp_path / "u.csv", index=False)
    assert project.run("ingest", str(tmp_path / "u.csv"), "--collection", "u") == 2
    assert "--source-crs" in capsys.readouterr().err
    assert project.run("ingest", str(tmp_path / "u.csv"), "--collection", "u", "--source-crs", "EPSG:32642") == 0
    gdf = published(project, "u")
    assert np.allclose(np.sort(shapely.get_coordinates(gdf.geometry.array), axis=0),
                       np.sort(np.array(LONLAT), axis=0), atol=1e-7)


def test_csv_wkt_column(project, polygons, tmp_path):
    pd.DataFrame({"name": NAMES, "wkt": shapely.to_wkt(polygons.geometry.array)}).to_csv(tmp_path / "w.csv", index=False)
    assert project.run("ingest", str(tmp_path / "w.csv"), "--collection", "w", "--source-crs", "EPSG:4326") == 0
    assert len(published(project, "w")) == 12


def test_zip_entry_names_in_cp866(project, points, tmp_path):
    src = tmp_path / "src"
    write_shapefile(points, src, "pts", "cp1251")
    z = tmp_path / "old.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(src.iterdir()):
            info = zipfile.ZipInfo("Убежища/" + f.name)
            info.filename = ("Убежища/" + f.name).encode("cp866").decode("cp437")  # old Windows zipper
            zf.writestr(info, f.read_bytes())
    assert project.run("ingest", str(z), "--collection", "z") == 0
    assert project.report("z")["counts"]["published"] == 12


def test_kmz_goes_through_the_archive_guards_and_ingests(project, points, tmp_path):
    import zipfile

    kml = tmp_path / "doc.kml"
    pyogrio.write_dataframe(points.iloc[:6], kml, driver="LIBKML")
    kmz = tmp_path / "p.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(kml, "doc.kml")
        zf.writestr("files/icon.png", b"\x89PNG")
    assert project.run("ingest", str(kmz), "--collection", "z") == 0
    assert project.report("z")["counts"]["published"] == 6


def test_geojson_with_an_id_property_beside_feature_ids(project, points, tmp_path):
    """GDAL names the FID column "id" for GeoJSON; a property "id" is kept, not confused with it
    (Arrow refused the layer: 'Field "id" exists 2 times')."""
    src = tmp_path / "ids.geojson"
    points.rename(columns={"ID": "id"}).assign(geometry=points.geometry).to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", "ids") == 0
    got = published(project, "ids")
    assert sorted(got["id"]) == list(range(1, 13))


def test_what_gdal_says_while_reading_goes_to_the_report(project, tmp_path, capfd):
    """GDAL closes unclosed rings as it reads (and would print "Warning 1: ..." on stderr): the
    officer finds it in the report's warnings, counted, and nothing is printed raw."""
    import json

    ring = [[69.0, 41.0], [69.5, 41.0], [69.5, 41.5], [69.0, 41.5]]  # not closed
    features = [{"type": "Feature", "properties": {"n": i},
                 "geometry": {"type": "Polygon", "coordinates": [[[x + i, y] for x, y in ring]
                                                                 + ([[69.0 + i, 41.0]] if i % 2 else [])]}}
                for i in range(6)]
    src = tmp_path / "rings.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    assert project.run("ingest", str(src), "--collection", "rings") == 0
    out = capfd.readouterr()
    assert "Warning 1" not in out.err + out.out
    rep = project.report("rings")
    assert rep["counts"]["published"] == 6
    said = [w for w in rep["warnings"] if "Non closed ring" in w]
    assert len(said) == 1 and said[0].endswith("(3 times)")
