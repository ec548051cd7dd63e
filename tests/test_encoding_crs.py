"""Encoding decisions and CRS handling, including the silent disasters only a bounds check catches."""

from __future__ import annotations

import codecs

import numpy as np
import pyogrio
import pytest
import shapely

from gp_testlib import NAMES, published, write_shapefile, zip_folder
from geo_publish.ingest.encoding import decide, detect, implausible


def test_cp866_without_cpg(project, points, tmp_path):
    shp = write_shapefile(points, tmp_path / "s", "p", "cp866")
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    rep = project.report("p")
    assert (rep["source"]["encoding"], rep["source"]["encoding_from"]) == ("cp866", "detected")
    assert set(published(project, "p")["nazvanie"]) == set(NAMES)


def test_wrong_cpg_is_detected_not_fatal(project, points, tmp_path):
    shp = write_shapefile(points, tmp_path / "s", "p", "cp1251", cpg="UTF-8")
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    rep = project.report("p")
    assert rep["source"]["encoding"] == "cp1251"
    assert any("declared encoding 'UTF-8' (cpg) does not decode" in w for w in rep["warnings"])
    assert set(published(project, "p")["nazvanie"]) == set(NAMES)


def test_right_cpg_wins_and_option_beats_all(project, points, tmp_path):
    shp = write_shapefile(points, tmp_path / "s", "p", "cp1251", cpg="1251")
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    assert project.report("p")["source"]["encoding_from"] == "cpg"
    assert project.run("ingest", str(shp), "--collection", "p", "--encoding", "cp1251") == 0
    assert project.report("p", 2)["source"]["encoding_from"] == "option"


def test_detection_unit():
    text = "Пункт временного размещения населения, школа"
    for enc in ("cp1251", "cp866", "koi8_r"):
        assert codecs.lookup(detect(text.encode(enc))[0]).name == codecs.lookup(enc).name
    assert detect(text.encode("utf-8"))[0] == "utf-8"
    assert decide(None, None, b"plain ascii").source == "default"


def test_no_prj_rejected_naming_source_crs(project, points, tmp_path, capsys):
    shp = write_shapefile(points.to_crs("EPSG:32642"), tmp_path / "s", "p", "cp1251")
    shp.with_suffix(".prj").unlink()
    assert project.run("ingest", str(shp), "--collection", "p") == 2
    err = capsys.readouterr().err.strip()
    assert "--source-crs" in err and str(shp) in err and "\n" not in err
    assert project.state() == {} or project.state()["versions"] == []
    assert project.run("ingest", str(shp), "--collection", "p", "--source-crs", "EPSG:32642") == 0
    assert project.report("p")["source"]["crs_from"] == "option"


def test_metres_labelled_as_degrees_rejected(project, points, tmp_path, capsys):
    utm = points.to_crs("EPSG:32642").set_crs("EPSG:4326", allow_override=True)
    path = tmp_path / "m.gpkg"
    pyogrio.write_dataframe(utm, path)
    assert project.run("ingest", str(path), "--collection", "m") == 2
    assert "metres" in capsys.readouterr().err
    assert project.state().get("versions", []) == []


def test_swapped_axes_rejected(project, points, tmp_path, capsys):
    utm = points.to_crs("EPSG:32642")
    swapped = utm.set_geometry(shapely.transform(utm.geometry.array, lambda c: c[:, ::-1]))
    path = tmp_path / "s.gpkg"
    pyogrio.write_dataframe(swapped, path)
    assert project.run("ingest", str(path), "--collection", "s") == 2
    assert "swapped" in capsys.readouterr().err


def test_wrong_false_easting_zone_prefix_rejected(project, points, tmp_path, capsys):
    gk = points.to_crs("EPSG:28412")  # eastings carry the zone prefix 12
    shp = write_shapefile(gk, tmp_path / "s", "p", "cp1251")
    shp.with_suffix(".prj").write_text(pyogrio.read_info(shp)["crs"] and _crs_wkt("EPSG:2502"))
    assert project.run("ingest", str(shp), "--collection", "p") == 2
    assert "zone prefix" in capsys.readouterr().err


def _crs_wkt(code: str) -> str:
    from pyproj import CRS

    return CRS(code).to_wkt("WKT1_ESRI")


def test_pulkovo_transformation_is_pinned_for_the_layer(project, tmp_path):
    # points on both sides of 41.19 N, where PROJ would switch operation per point
    lon = np.linspace(69.0, 69.6, 40)
    lat = np.linspace(40.9, 41.5, 40)
    import geopandas as gpd

    g = gpd.GeoDataFrame({"n": range(40)}, geometry=shapely.points(lon, lat), crs="OGC:CRS84")
    src = g.to_crs("EPSG:28412")
    path = tmp_path / "pk.gpkg"
    pyogrio.write_dataframe(src, path)
    assert project.run("ingest", str(path), "--collection", "pk") == 0
    rep = project.report("pk")
    from pyproj.transformer import TransformerGroup

    # our output equals ONE operation applied to every point
    out = published(project, "pk").sort_values("n")
    xy = shapely.get_coordinates(src.geometry.array)
    names = [t.description for t in TransformerGroup("EPSG:28412", "OGC:CRS84", always_xy=True).transformers]
    chosen = next(t for t in TransformerGroup("EPSG:28412", "OGC:CRS84", always_xy=True).transformers
                  if t.description in rep["transformation"])
    x, y = chosen.transform(xy[:, 0], xy[:, 1])
    assert np.allclose(shapely.get_coordinates(out.geometry.array), np.column_stack([x, y]), atol=1e-9)
    assert len(names) > 1 and "accuracy" in rep["transformation"]


def test_ballpark_transformation_warns(project, points, tmp_path):
    shp = write_shapefile(points.to_crs("EPSG:28412"), tmp_path / "s", "p", "cp1251")
    # a local "SK-42" .prj: Krassowsky ellipsoid, unknown datum name, no TOWGS84
    shp.with_suffix(".prj").write_text(
        'PROJCS["SK42_local",GEOGCS["GCS_SK42_local",DATUM["D_local_sk42",SPHEROID["Krasovsky_1940",'
        '6378245.0,298.3]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
        'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",12500000.0],'
        'PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",69.0],'
        'PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]')
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    rep = project.report("p")
    assert "allpark" in rep["transformation"]
    assert any("ballpark" in w for w in rep["warnings"])


def test_world_polygons_touching_antimeridian_publish(project, tmp_path):
    import geopandas as gpd

    world = gpd.GeoDataFrame(
        {"name": ["east", "west", "all"]},
        geometry=[shapely.box(170, -20, 180.00000000000006, -10), shapely.box(-180, -20, -170, -10),
                  shapely.box(-180, -90, 180, 90)], crs="EPSG:4326")
    path = tmp_path / "w.geojson"
    pyogrio.write_dataframe(world, path)
    assert project.run("ingest", str(path), "--collection", "world") == 0
    rep = project.report("world")
    assert rep["counts"]["published"] == 3
    assert rep["extent"] == [-180.0, -90.0, 180.0, 90.0]


# -- Real files in several encodings and scripts: each published text equals the source's ------
WESTERN = ["Lomé", "Reykjavík", "São Paulo", "København", "Ürümqi", "Zürich", "Tromsø", "Málaga",
           "Besançon", "Asunción", "Bogotá", "Montréal"]
RUSSIAN = ["Ташкент школа №1", "Самарканд больница", "Наманган дом культуры", "Андижан стадион",
           "Фергана «Олмазор»", "Джизак лицей", "ТошДТУ", "Карши колледж", "ГУЛИСТАН ЗАЛ",
           "Навои школа", "Чирчик клуб", "Ангрен зал"]
RUSSIAN_PLAIN = [n.replace("«", "").replace("»", "").replace("№", "N") for n in RUSSIAN]  # cp866, KOI8-R
# Uzbek Cyrillic as legacy files hold it: cp1251 has ў but not қ, ғ, ҳ (written к, г, х)
UZBEK_CYRILLIC = ["Ўзбекистон мактаби", "Тошкент шахри", "Мирзо Улугбек тумани", "Ўрта мактаб №5",
                  "Касалхона", "Болалар боғчаси".replace("ғ", "г"), "Чилонзор", "Юнусобод",
                  "Сергели", "Яккасарой", "Шайхонтохур", "Олмазор"]
UZBEK_LATIN = ["Oʻzbekiston maktabi", "Gʻijduvon tumani", "Toshkent shahri", "Oʻrta maktab №5",
               "Qashqadaryo viloyati", "Bogʻcha", "Chilonzor", "Yunusobod", "Sergeli",
               "Yakkasaroy", "Shayxontohur", "Olmazor"]
TURKISH = ["Şişli", "Üsküdar", "Beşiktaş", "Kadıköy", "Çankaya", "Gölbaşı", "İzmir", "Eyüpsultan",
           "Bağcılar", "Muğla", "Ağrı", "Iğdır"]


def _named(points, names):
    frame = points[["geometry"]].copy()
    frame["name"] = names
    return frame


def _ldid(shp, value: int) -> None:
    with open(shp.with_suffix(".dbf"), "r+b") as dbf:
        dbf.seek(29)
        dbf.write(bytes([value]))


CASES = [  # id, names, encoding written, .cpg, LDID byte, (encoding, found from) expected
    ("latin1-cpg", WESTERN, "ISO-8859-1", "ISO-8859-1", 0, ("iso8859-1", "cpg")),
    ("latin1-no-cpg", WESTERN, "ISO-8859-1", None, 0, ("cp1252", "detected")),
    ("latin1-ansi-ldid", WESTERN, "ISO-8859-1", None, 0x57, ("cp1252", "detected")),
    ("cp1251-russian", RUSSIAN, "cp1251", None, 0, ("cp1251", "detected")),
    ("cp1251-ldid", RUSSIAN, "cp1251", None, 0xC9, ("cp1251", "ldid")),
    ("cp1251-uzbek-cyrillic", UZBEK_CYRILLIC, "cp1251", None, 0, ("cp1251", "detected")),
    ("cp866", RUSSIAN_PLAIN, "CP866", None, 0, ("cp866", "detected")),
    ("koi8-r", RUSSIAN_PLAIN, "KOI8-R", None, 0, ("koi8-r", "detected")),
    ("utf8-uzbek-latin", UZBEK_LATIN, "utf-8", None, 0, ("utf-8", "detected")),
    ("utf8-uzbek-latin-cpg", UZBEK_LATIN, "utf-8", "UTF-8", 0, ("utf-8", "cpg")),
    ("cp1254-turkish", TURKISH, "cp1254", None, 0, ("cp1254", "detected")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_published_text_equals_source_text(project, points, tmp_path, case):
    _, names, written, cpg, ldid, expected = case
    if written == "utf-8" and not cpg:  # GDAL writes a .cpg for UTF-8: a file without one
        shp = write_shapefile(_named(points, names), tmp_path / "s", "p", "utf-8")
    else:
        shp = write_shapefile(_named(points, names), tmp_path / "s", "p", written, cpg=cpg)
    _ldid(shp, ldid)
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    rep = project.report("p")
    assert (rep["source"]["encoding"], rep["source"]["encoding_from"]) == expected
    assert sorted(published(project, "p")["name"]) == sorted(names)
    assert not any("declared encoding" in w for w in rep["warnings"])
    # the officer sees the text as it will be published
    assert set(rep["text_sample"]["name"]) <= set(names) and rep["text_sample"]["name"]


def test_really_wrong_cpg_is_overridden_with_its_evidence(project, points, tmp_path):
    shp = write_shapefile(_named(points, RUSSIAN_PLAIN), tmp_path / "s", "p", "CP866", cpg="1251")
    assert project.run("ingest", str(shp), "--collection", "p") == 0
    rep = project.report("p")
    assert (rep["source"]["encoding"], rep["source"]["encoding_from"]) == ("cp866", "detected")
    note = next(w for w in rep["warnings"] if "declared encoding '1251'" in w)
    assert "read implausibly as cp1251" in note and "used cp866" in note
    assert sorted(published(project, "p")["name"]) == sorted(RUSSIAN_PLAIN)


def test_latin1_in_a_zip_through_the_html_report(project, points, tmp_path):
    shp = write_shapefile(_named(points, WESTERN), tmp_path / "s", "cities", "ISO-8859-1", cpg="ISO-8859-1")
    archive = zip_folder(shp.parent, tmp_path / "cities.zip")
    assert project.run("ingest", str(archive), "--collection", "cities") == 0
    html = (project.root / "data" / "reports" / "cities" / "v1.html").read_text()
    assert 'id="text-sample"' in html and "København" in html and "Kшbenhavn" not in html


@pytest.mark.parametrize("declared,data,expected", [
    ("ISO-8859-1", "Lomé Reykjavík São Paulo København Ürümqi", "iso8859-1"),  # was cp1251
    ("1251", "Пункт временного размещения населения", "cp1251"),
    ("UTF-8", "Oʻzbekiston Gʻijduvon", "utf-8"),
])
def test_a_declaration_that_decodes_plausibly_stands(declared, data, expected):
    codec = {"iso8859-1": "latin_1"}.get(expected, expected)
    decision = decide(None, declared, data.encode(codec))
    assert (decision.encoding, decision.source, decision.note) == (expected, "cpg", None)


@pytest.mark.parametrize("word,why", [
    ("Lomй", "mixed"), ("Reykjavнk", "mixed"), ("Ïóíêò", "mostly accented"),
    ("Џг\xadЄв", "symbols"), ("лНЯЙБЮ", "upper case after lower"),
])
def test_implausible_words(word, why):
    assert why in (implausible(word) or "")


@pytest.mark.parametrize("word", ["København", "Ürümqi", "Oʻzbekiston", "Şişli", "İzmir",
                                  "Ўзбекистон", "ТОШКЕНТ", "Üçüncü", "Þórshöfn"])
def test_plausible_words(word):
    assert implausible(word) is None
