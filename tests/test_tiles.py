"""OGC API - Tiles on a live server, both stores: tiles decoded with mapbox-vector-tile and
compared with the features they should hold (computed here with morecantile, not with the
server's projection code), thinning below full_zoom, the statuses, caching headers, the metadata,
and the tiles read by GDAL's OGC API and MVT drivers as QGIS reads them."""

from __future__ import annotations

import gzip
import math
import secrets
import time
from pathlib import Path

import geopandas as gpd
import httpx
import mapbox_vector_tile
import morecantile
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely

from server_testlib import XSS, start, write_config

WM = morecantile.tms.get("WebMercatorQuad")
CRS84Q = morecantile.tms.get("WorldCRS84Quad")
_MERCATOR = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:3857", always_xy=True)
CLUSTER = (69.2401, 41.2995)  # Tashkent: 6,000 points within 0.03 degrees
PARCELS = (66.9750, 39.6542)  # Samarkand: 900 parcels within 0.02 degrees
N_SPARSE = 4000
FULL = 14


def _cli(root: Path, *args: str) -> None:
    from gp_testlib import cli_here

    done = cli_here(root / "config.yml", *args)
    assert done.returncode == 0, done.stderr


def _points() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(11)
    dense = np.column_stack((rng.normal(CLUSTER[0], 0.01, 6000), rng.normal(CLUSTER[1], 0.01, 6000)))
    sparse = np.column_stack((rng.uniform(56, 73, N_SPARSE), rng.uniform(37, 45.5, N_SPARSE)))
    xy = np.vstack((dense, sparse))
    n = len(xy)
    names = [f"p{i}" for i in range(n)]
    names[0] = XSS
    return gpd.GeoDataFrame({"name": names, "kind": np.arange(n) % 7,
                             "secret_note": ["not in tiles"] * n},
                            geometry=shapely.points(xy), crs="OGC:CRS84")


def _parcels() -> gpd.GeoDataFrame:
    side = 30
    step = 0.02 / side
    x0, y0 = PARCELS
    boxes = [shapely.box(x0 + i * step, y0 + j * step, x0 + (i + 0.8) * step, y0 + (j + 0.8) * step)
             for i in range(side) for j in range(side)]
    return gpd.GeoDataFrame({"kod": [f"k{i}" for i in range(len(boxes))]}, geometry=boxes,
                            crs="OGC:CRS84")


@pytest.fixture(scope="module", params=["geopackage", "postgis"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from geo_publish import samples

    root = tmp_path_factory.mktemp(f"tiles-{request.param}")
    write_config(root, request, f"tl_{secrets.token_hex(4)}",
                 f"vector_tiles: {{full_zoom: {FULL}, site_threshold: 5000}}\n")
    (root / "styles").mkdir()
    (root / "styles" / "pts.yml").write_text("label_field: name\npopup: [kind]\n")
    (root / "styles" / "parcels.yml").write_text("popup: [kod]\n")
    src = root / "sources"
    src.mkdir()
    _points().to_file(src / "pts.gpkg", driver="GPKG")
    _parcels().to_file(src / "parcels.gpkg", driver="GPKG")
    _cli(root, "ingest", str(src / "pts.gpkg"), "--collection", "pts")
    _cli(root, "ingest", str(src / "parcels.gpkg"), "--collection", "parcels")
    seismic = samples.build(root / "samples")["seismic"]
    _cli(root, "ingest", str(seismic), "--collection", "seismic")
    live = start(root)
    # pts (10,000 points) is over the threshold: the site builder writes its PMTiles archive,
    # and the server answers its WebMercatorQuad tiles from it once it is there
    deadline = time.monotonic() + 120
    while not list((root / "build" / "site" / "data").glob("pts.v1.*.pmtiles")):
        assert time.monotonic() < deadline, (root / "server.log").read_text()[-2000:]
        time.sleep(0.5)
    yield live
    live.stop()


def _tile(server, cid: str, z: int, row: int, col: int, tms: str = "WebMercatorQuad") -> httpx.Response:
    return server.get(f"/collections/{cid}/tiles/{tms}/{z}/{row}/{col}")


def _decode(body: bytes) -> list[dict]:
    layers = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    assert len(layers) <= 1
    return next(iter(layers.values()))["features"] if layers else []


def _to_tile(tms: morecantile.TileMatrixSet, tile: morecantile.Tile, lon: np.ndarray,
             lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tile units (4096 across, y down) of CRS84 coordinates, by morecantile."""
    b = tms.xy_bounds(tile)
    if tms is WM:
        x, y = _MERCATOR.transform(lon, lat)
    else:
        x, y = lon, lat
    return ((x - b.left) / (b.right - b.left) * 4096, (b.top - y) / (b.top - b.bottom) * 4096)


def _inside(px: np.ndarray, py: np.ndarray, margin: float = 64) -> np.ndarray:
    return (px >= -margin) & (px <= 4096 + margin) & (py >= -margin) & (py <= 4096 + margin)


# -- what a tile holds ----------------------------------------------------------------------------
@pytest.mark.parametrize("tms", [WM, CRS84Q], ids=["WebMercatorQuad", "WorldCRS84Quad"])
def test_full_zoom_tile_holds_every_point_of_its_buffer_and_nothing_else(server, tms):
    pts = _points()
    lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    tile = tms.tile(*CLUSTER, FULL)
    r = _tile(server, "pts", FULL, tile.y, tile.x, tms.id)
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    px, py = _to_tile(tms, tile, lon, lat)
    expected = set(pts["name"][_inside(px, py)])
    feats = _decode(r.content)
    got = {f["properties"]["name"] for f in feats}
    assert len(expected) > 100 and got == expected
    where = {n: (x, y) for n, x, y in zip(pts["name"], px, py)}
    for f in feats:
        assert set(f["properties"]) == {"name", "kind"}  # the style's fields, not secret_note
        x, y = f["geometry"]["coordinates"]
        ex, ey = where[f["properties"]["name"]]
        assert abs(x - ex) <= 1 and abs(y - ey) <= 1
        assert f["properties"]["kind"] == int(f["properties"]["name"][1:]) % 7 \
            if f["properties"]["name"] != XSS else True


def test_a_tile_below_full_zoom_keeps_one_point_per_cell_and_every_occupied_cell(server):
    pts = _points()
    lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    z = 9
    tile = WM.tile(*CLUSTER, z)
    feats = _decode(_tile(server, "pts", z, tile.y, tile.x).content)
    cell = 360.0 / 2 ** z / 64
    cells = np.floor((lon + 180) / cell).astype(int) * 10**7 + np.floor((lat + 90) / cell).astype(int)
    by_name = dict(zip(pts["name"], cells))
    kept = [by_name[f["properties"]["name"]] for f in feats]
    assert len(kept) == len(set(kept)), "two points of one cell in a thinned tile"
    px, py = _to_tile(WM, tile, lon, lat)
    inside = _inside(px, py, -64)  # well inside: every point of those cells was a candidate
    occupied = set(cells[inside])
    assert inside.sum() > 5000 and len(feats) < inside.sum() / 4  # thinned
    assert len(occupied - set(kept)) <= len(occupied) * 0.01  # the dense area stays drawn


def test_a_point_kept_at_one_zoom_is_kept_at_the_next(server):
    pts = _points()
    lon, lat = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()
    z = 10
    parent = WM.tile(*CLUSTER, z)
    px, py = _to_tile(WM, parent, lon, lat)
    well_inside = set(pts["name"][_inside(px, py, -200)])
    above = {f["properties"]["name"] for f in _decode(_tile(server, "pts", z, parent.y, parent.x).content)}
    below: set[str] = set()
    for child in WM.children(parent):
        below |= {f["properties"]["name"] for f in _decode(_tile(server, "pts", z + 1, child.y, child.x).content)}
    assert above & well_inside and (above & well_inside) <= below


def test_polygons_at_full_zoom_keep_their_shape_and_tiny_ones_stay_visible_below(server):
    parcels = _parcels()
    tile = WM.tile(PARCELS[0] + 0.005, PARCELS[1] + 0.005, FULL)
    feats = _decode(_tile(server, "parcels", FULL, tile.y, tile.x).content)
    projected = {}
    for kod, g in zip(parcels["kod"], parcels.geometry):
        x, y = _to_tile(WM, tile, *np.asarray(g.exterior.coords).T)
        projected[kod] = shapely.Polygon(np.column_stack((x, y)))
    window = shapely.box(-64, -64, 4160, 4160)
    expected = {k for k, p in projected.items() if p.intersects(window)}
    assert len(expected) > 20 and {f["properties"]["kod"] for f in feats} == expected
    for f in feats:
        got = shapely.geometry.shape(f["geometry"])
        want = projected[f["properties"]["kod"]]
        if window.contains(want):
            assert abs(got.area - want.area) <= 0.03 * want.area + 40
            assert got.centroid.distance(want.centroid) <= 2
        assert window.buffer(1).contains(got), "a shape beyond the tile's buffer"
    low = WM.tile(*PARCELS, 6)
    small = _decode(_tile(server, "parcels", 6, low.y, low.x).content)
    assert small and all(shapely.geometry.shape(f["geometry"]).area > 0 for f in small)


def test_empty_outside_and_malformed_tiles(server):
    far = WM.tile(-100.0, 40.0, 8)  # America: no feature
    empty = _tile(server, "pts", 8, far.y, far.x)
    assert empty.status_code == 204 and empty.content == b"" and empty.headers.get("etag")
    for path, status in [("WebMercatorQuad/3/8/1", 404), ("WebMercatorQuad/3/1/8", 404),
                         ("WebMercatorQuad/25/0/0", 404), ("WorldCRS84Quad/0/0/2", 404),
                         ("WebMercatorQuad/a/0/0", 404), ("WebMercatorQuad/-1/0/0", 404),
                         ("WebMercatorQuad/1/0/99999999999999999999999999", 404),
                         ("NoSuchQuad/0/0/0", 404), ("NoSuchQuad", 404)]:
        r = server.get(f"/collections/pts/tiles/{path}")
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"].startswith("application/json") and r.json()["description"]
    assert server.get("/collections/seismic/tiles").status_code == 404  # a raster
    assert server.get("/collections/nosuch/tiles/WebMercatorQuad/0/0/0").status_code == 404
    assert server.get("/collections/pts/tiles/WebMercatorQuad/0/0/0?f=png").status_code == 400
    assert server.get("/collections/pts/tiles/WebMercatorQuad/0/0/0?bbox=1,2,3,4").status_code == 400
    assert server.get("/collections/pts/tiles/WorldCRS84Quad?f=tilejson").status_code == 400


def test_tiles_carry_etag_cache_control_and_gzip(server):
    tile = WM.tile(*CLUSTER, 12)
    path = f"/collections/pts/tiles/WebMercatorQuad/12/{tile.y}/{tile.x}"
    plain = server.get(path, headers={"accept-encoding": "identity"})
    assert plain.status_code == 200 and "max-age" in plain.headers["cache-control"]
    again = server.get(path, headers={"accept-encoding": "identity",
                                      "if-none-match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    with httpx.Client() as c:
        raw = c.send(c.build_request("GET", server.url + path, headers={"accept-encoding": "gzip"}),
                     stream=True)
        body = b"".join(raw.iter_raw())
    assert raw.headers["content-encoding"] == "gzip" and gzip.decompress(body) == plain.content
    assert len(body) < len(plain.content)


# -- metadata -------------------------------------------------------------------------------------
def test_tilesets_tileset_tilejson_and_tile_matrix_sets(server):
    sets = server.get("/collections/pts/tiles").json()
    assert {t["tileMatrixSetURI"].rsplit("/", 1)[1] for t in sets["tilesets"]} == {
        "WebMercatorQuad", "WorldCRS84Quad"}
    meta = server.get("/collections/pts/tiles/WebMercatorQuad").json()
    assert meta["dataType"] == "vector" and meta["layers"][0]["id"] == "pts"
    assert meta["layers"][0]["geometryDimension"] == 0
    assert set(meta["layers"][0]["propertiesSchema"]["properties"]) == {"name", "kind"}
    item = next(link for link in meta["links"] if link["rel"] == "item")
    assert item["type"] == "application/vnd.mapbox-vector-tile"
    tile = WM.tile(*CLUSTER, 12)
    href = item["href"].format(tileMatrix=12, tileRow=tile.y, tileCol=tile.x)
    assert httpx.get(href, timeout=30).status_code == 200
    tj = server.get("/collections/pts/tiles/WebMercatorQuad?f=tilejson").json()
    assert tj["tilejson"] == "3.0.0" and tj["maxzoom"] == FULL
    assert tj["vector_layers"][0]["fields"] == {"name": "String", "kind": "Number"}
    url = tj["tiles"][0].format(z=12, x=tile.x, y=tile.y)
    assert httpx.get(url, timeout=30).content == httpx.get(href, timeout=30).content
    listed = server.get("/tileMatrixSets").json()["tileMatrixSets"]
    for entry in listed:
        doc = server.get(f"/tileMatrixSets/{entry['id']}").json()
        parsed = morecantile.TileMatrixSet.model_validate(doc)
        assert parsed.id == entry["id"] and parsed.matrix(3).matrixWidth == (8 if "Mercator" in parsed.id else 16)


def test_tiles_are_announced_in_landing_collections_conformance_and_openapi(server):
    landing = server.get("/?f=json").json()
    assert any(link["rel"].endswith("tiling-schemes") for link in landing["links"])
    rel = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
    one = server.get("/collections/pts?f=json").json()
    assert any(link["rel"] == rel for link in one["links"])
    listed = {c["id"]: c for c in server.get("/collections?f=json").json()["collections"]}
    assert any(link["rel"] == rel for link in listed["parcels"]["links"])
    assert not any(link["rel"] == rel for link in listed["seismic"]["links"])
    conf = server.get("/conformance").json()["conformsTo"]
    base = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
    assert {base + c for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt")} <= set(conf)
    assert base + "png" not in conf and base + "dataset-tilesets" not in conf  # not implemented
    paths = server.get("/openapi?f=json").json()["paths"]
    tile = paths["/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"]
    ids = next(p for p in tile["get"]["parameters"] if p["name"] == "collectionId")["schema"]["enum"]
    assert "pts" in ids and "parcels" in ids and "seismic" not in ids  # a raster has no vector tiles
    assert "/tileMatrixSets/{tileMatrixSetId}" in paths


# -- read by GDAL as QGIS reads it ----------------------------------------------------------------
def test_gdal_ogcapi_driver_reads_the_tiles(server):
    # GDAL picks WorldCRS84Quad when it is offered, as QGIS does through GDAL
    frame = pyogrio.read_dataframe(f"OGCAPI:{server.url}/collections/parcels",
                                   layer=f"Zoom level {FULL}", API="TILES")
    assert set(frame["kod"]) == set(_parcels()["kod"])  # every parcel, in one tile or several
    assert "CRS84" in frame.crs.to_string()
    one = frame.to_crs("OGC:CRS84").dissolve("kod").loc["k0"].geometry
    want = _parcels().set_index("kod").loc["k0"].geometry
    assert one.centroid.distance(want.centroid) < 1e-5


def test_gdal_mvt_driver_reads_one_tile(server, tmp_path):
    tile = WM.tile(*CLUSTER, FULL)
    path = tmp_path / "tile.pbf"
    path.write_bytes(_tile(server, "pts", FULL, tile.y, tile.x).content)
    frame = pyogrio.read_dataframe(path, layer="pts", X=str(tile.x), Y=str(tile.y), Z=str(FULL))
    assert len(frame) > 100 and {"name", "kind"} <= set(frame.columns)
    frame = frame.set_crs("EPSG:3857", allow_override=True).to_crs("OGC:CRS84")
    pts = _points().set_index("name")
    for name, g in zip(frame["name"][:50], frame.geometry[:50]):
        assert g.distance(pts.loc[name].geometry) < 360 / 2 ** FULL / 4096 * 2


def test_a_new_version_is_never_answered_from_an_old_tile(server):
    tile = WM.tile(*PARCELS, FULL)
    before = _tile(server, "parcels", FULL, tile.y, tile.x)
    frame = _parcels()
    frame["kod"] = [f"v2-{k}" for k in frame["kod"]]
    frame.to_file(server.root / "sources" / "parcels2.gpkg", driver="GPKG")
    _cli(server.root, "ingest", str(server.root / "sources" / "parcels2.gpkg"), "--collection", "parcels")
    deadline = time.monotonic() + 30
    while True:
        after = _tile(server, "parcels", FULL, tile.y, tile.x)
        names = {f["properties"]["kod"] for f in _decode(after.content)}
        if all(n.startswith("v2-") for n in names) or time.monotonic() > deadline:
            break
    assert names and all(n.startswith("v2-") for n in names)
    assert after.headers["etag"] != before.headers["etag"]
    assert math.isclose(len(names), len(_decode(before.content)))


# -- the encoder, against mapbox-vector-tile ----------------------------------------------------------
def _reference(geoms, ids, cols) -> bytes:
    feats = [{"geometry": g, "id": int(i),
              "properties": {k: v[j] for k, v in cols.items() if v[j] is not None}}
             for j, (g, i) in enumerate(zip(geoms, ids))]
    return mapbox_vector_tile.encode([{"name": "l", "features": feats}],
                                     default_options={"y_coord_down": True})


_RNG = np.random.default_rng(4)
_SHAPES = {
    "points": shapely.points(_RNG.uniform(-64, 4160, (800, 2))),
    "multipoints": shapely.multipoints(_RNG.uniform(0, 4096, (100, 3, 2))),
    "lines": shapely.linestrings(_RNG.uniform(0, 4096, (200, 6, 2))),
    "multilines": np.array([shapely.MultiLineString([[(0, 0), (10, 10)], [(20, 20), (20, 20.2), (30, 5)]])] * 3),
    "polygons": shapely.buffer(shapely.points(_RNG.uniform(100, 4000, (200, 2))), _RNG.uniform(2, 60, 200),
                               quad_segs=3),
    "holes and parts": np.array([
        shapely.box(0, 0, 100, 100).difference(shapely.box(20, 20, 40, 40)),
        shapely.MultiPolygon([shapely.box(200, 200, 300, 300), shapely.box(400, 400, 450, 450)]),
        shapely.Polygon(list(shapely.box(0, 0, 10, 10).exterior.coords)[::-1]),  # wrong way round
        shapely.Polygon([(0, 0), (0.2, 0.1), (0.1, 0.3), (0, 0)]),  # collapses when rounded
        shapely.box(500, 500, 510, 510)]),
}


@pytest.mark.parametrize("kind", list(_SHAPES))
def test_the_numpy_encoder_decodes_like_mapbox_vector_tile(kind):
    from geo_publish.tiles import mvt

    geoms = _SHAPES[kind]
    n = len(geoms)
    ids = np.arange(n) + 7
    cols = {"name": [f"нукта {i % 9}" if i % 4 else None for i in range(n)],
            "big": [2**40 + i for i in range(n)], "neg": [-i - 1 for i in range(n)],
            "share": [i / 3 for i in range(n)], "flag": [bool(i % 2) for i in range(n)],
            "empty": [None] * n, "xss": [XSS] * n}
    ours = mapbox_vector_tile.decode(mvt.tile("l", geoms, ids, cols),
                                     default_options={"y_coord_down": True})["l"]["features"]
    theirs = mapbox_vector_tile.decode(_reference(geoms, ids, cols),
                                       default_options={"y_coord_down": True})["l"]["features"]
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs):
        assert a["id"] == b["id"] and a["properties"] == b["properties"]
        ga, gb = shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"])
        assert ga.equals(gb) and ga.is_valid, (a["geometry"], b["geometry"])


def test_the_numpy_encoder_is_read_by_gdal(tmp_path):
    from geo_publish.tiles import mvt

    geoms = _SHAPES["holes and parts"]
    path = tmp_path / "t.pbf"
    path.write_bytes(mvt.tile("l", geoms, np.arange(len(geoms)) + 1, {"k": ["a"] * len(geoms)}))
    frame = pyogrio.read_dataframe(path, layer="l")
    assert len(frame) == 4 and set(frame["k"]) == {"a"}  # the collapsed polygon is left out
    assert frame.geometry.is_valid.all()


def test_large_layers_are_answered_from_their_pmtiles_archive(server):
    from geo_publish.tiles import pmtiles

    found = list((server.root / "build" / "site" / "data").glob("pts.v1.*.pmtiles"))
    assert len(found) == 1 and not list((server.root / "build" / "site" / "data").glob("parcels*.pmtiles"))
    stored = pmtiles.Archive(str(found[0]))
    tile = WM.tile(*CLUSTER, 12)
    raw = stored.get(12, tile.x, tile.y)
    r = _tile(server, "pts", 12, tile.y, tile.x)
    assert r.status_code == 200 and r.content == gzip.decompress(raw)
    with httpx.Client() as c:
        zipped = c.send(c.build_request("GET", server.url + f"/collections/pts/tiles/WebMercatorQuad/12/{tile.y}/{tile.x}",
                                        headers={"accept-encoding": "gzip"}), stream=True)
        assert zipped.headers["content-encoding"] == "gzip" and b"".join(zipped.iter_raw()) == raw
    far = WM.tile(-100.0, 40.0, 8)
    assert stored.get(8, far.x, far.y) is None and _tile(server, "pts", 8, far.y, far.x).status_code == 204
    meta = stored.header
    assert meta["max_zoom"] == FULL and meta["tile_type"].name == "MVT"


@pytest.mark.parametrize("cid", ["pts", "parcels"])
def test_an_archive_encodes_its_tiles_as_the_server_encodes_one(server, cid, tmp_path):
    """The archive encodes many tiles in one numpy pass; the server encodes a tile at a time.
    The features an archive tile holds, encoded the server's way, decode the same, at every
    zoom, for points and polygons."""
    from geo_publish.tiles import pyramid
    from geo_publish.read import readers
    from geo_publish.tiles import cut, grid, pmtiles
    from geo_publish.settings import load_settings
    from geo_publish.store.location import Source

    settings = load_settings(server.root / "config.yml")
    Source.export_dsn(settings)
    reader = readers.reader(Source.of(settings).data)
    table = reader.table(reader.published(cid).table)
    fields = {"pts": ["kind", "name"], "parcels": ["kod"]}[cid]
    built = pyramid.build(reader, table, fields, cid, tmp_path / "a.pmtiles", FULL, 50_000, {})
    stored = pmtiles.Archive(str(tmp_path / "a.pmtiles"))
    s = grid.SCHEMES["WebMercatorQuad"]
    sql = (f"SELECT fid, {reader.geometry_select(table)}, {', '.join(chr(34) + f + chr(34) for f in fields)} "
           f"FROM {reader.table_sql(table)} WHERE fid = ?")
    rng = np.random.default_rng(3)
    compared, kinds = 0, set()
    for z in range(FULL + 1):
        n = 1 << z
        centre = WM.tile(*(CLUSTER if cid == "pts" else PARCELS), z)
        picks = {(centre.x + dx, centre.y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
        picks |= {(int(c), int(r)) for c, r in rng.integers(0, n, (30, 2))}
        for col, row in sorted(p for p in picks if 0 <= min(p) and max(p) < n):
            raw = stored.get(z, col, row)
            if raw is None:
                continue
            ours = _decode(gzip.decompress(raw))
            rows = [reader.rows(sql, [f["id"]], table)[0] for f in ours]
            ref = cut.encode(reader.geometries([r[1] for r in rows]), [r[0] for r in rows],
                               [r[2:] for r in rows], fields, cid, s, z, row, col, z < FULL)
            theirs = _decode(ref)
            assert [f["id"] for f in ours] == [f["id"] for f in theirs], (z, row, col)
            for a, b in zip(ours, theirs):
                assert a["properties"] == b["properties"] and a["geometry"]["type"] == b["geometry"]["type"]
                assert shapely.geometry.shape(a["geometry"]).equals(shapely.geometry.shape(b["geometry"]))
                kinds.add(a["geometry"]["type"])
            compared += 1
    assert compared >= FULL + 1 and built.tiles >= compared  # a tile or more at every zoom
    assert kinds == ({"Point"} if cid == "pts" else {"Polygon"})


def _mixed_layer() -> gpd.GeoDataFrame:
    """Points, lines and polygons in one layer (a GEOMETRY column), around the parcels."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(PARCELS[0], 0.02, 90), rng.normal(PARCELS[1], 0.02, 90)
    geoms = [shapely.Point(a, b) if i % 3 == 0 else
             shapely.LineString([(a, b), (a + 0.01, b + 0.004), (a + 0.02, b)]) if i % 3 == 1 else
             shapely.box(a, b, a + 0.004, b + 0.003) for i, (a, b) in enumerate(zip(x, y))]
    return gpd.GeoDataFrame({"kod": [f"m{i}" if i % 5 else None for i in range(90)],
                             "n": [i * 0.5 for i in range(90)]}, geometry=geoms, crs="OGC:CRS84")


def test_an_archive_tile_mixing_families_is_encoded_feature_by_feature():
    """Ingest keeps one geometry family a layer; a tile that still mixes points, lines and
    polygons (a store filled otherwise) is encoded with mapbox-vector-tile, the rest at once."""
    import pyarrow as pa

    from geo_publish.tiles import pyramid
    from geo_publish.tiles import cut, grid, mvt, pmtiles

    frame = _mixed_layer()
    geoms = frame.geometry.values._data
    layer = pyramid.Layer(np.arange(len(frame)) + 1, shapely.bounds(geoms), None,
                          np.array(shapely.to_wkb(geoms), dtype=object),
                          [pa.array(frame["n"].tolist()), pa.array([k if isinstance(k, str) else None for k in frame["kod"]])])
    values = mvt.Values.from_arrow(["n", "kod"], layer.columns, cut.mvt_value)
    s = grid.SCHEMES["WebMercatorQuad"]
    z = 16  # tiles of 600 m: some hold one family, some more
    feature, col, row = pyramid._pairs(layer, np.arange(len(frame)), s, z)
    tid = pmtiles.tile_ids(z, col, row)
    order = np.lexsort((feature, tid))
    done = pyramid._encode(layer, None, values, ["n", "kod"], "m", s, z, False, feature[order],
                           col[order], row[order], tid[order])
    assert [t for t, _ in done] == sorted(t for t, _ in done) and len(done) > 1
    by_tile = dict(done)
    kinds = set()
    for t in sorted(set(tid.tolist())):
        at = tid[order] == t
        c, r = int(col[order][at][0]), int(row[order][at][0])
        sub = feature[order][at]
        rows = [(frame["n"].iloc[i], frame["kod"].iloc[i] if isinstance(frame["kod"].iloc[i], str) else None)
                for i in sub]
        ref = cut.encode(geoms[sub], sub + 1, rows, ["n", "kod"], "m", s, z, r, c, False)
        assert (ref is None) == (t not in by_tile)
        if ref is None:  # the box met the tile's buffer, the line did not
            continue
        data = by_tile[t]
        ours, theirs = _decode(data), _decode(ref)
        assert [f["id"] for f in ours] == [f["id"] for f in theirs]
        for a, b in zip(ours, theirs):
            assert a["properties"] == b["properties"]
            assert shapely.geometry.shape(a["geometry"]).equals(shapely.geometry.shape(b["geometry"]))
        kinds.add(frozenset(f["geometry"]["type"] for f in ours))
    assert any(len(k) > 1 for k in kinds) and any(len(k) == 1 for k in kinds)


def test_the_archive_writer_stores_runs_once_and_is_read_by_pmtiles(tmp_path):
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import Compression, TileType, zxy_to_tileid

    from geo_publish.tiles import pmtiles

    tiles_in = {(3, c, r): gzip.compress(b"same" if c < 4 else f"t{c}{r}".encode(), mtime=0)
                for c in range(8) for r in range(8)}
    order = sorted(tiles_in, key=lambda t: zxy_to_tileid(*t))
    path = tmp_path / "w.pmtiles"
    with open(path, "wb") as fh, pmtiles.Writer(fh) as w:
        for t in order:
            w.write_tile(zxy_to_tileid(*t), tiles_in[t])
        with pytest.raises(ValueError, match="in order"):
            w.write_tile(zxy_to_tileid(*order[0]), b"x")
        w.finalize({"tile_type": TileType.MVT, "tile_compression": Compression.GZIP, "min_zoom": 3,
                    "max_zoom": 3, "min_lon_e7": 0, "min_lat_e7": 0, "max_lon_e7": 0, "max_lat_e7": 0,
                    "center_zoom": 3, "center_lon_e7": 0, "center_lat_e7": 0}, {"name": "w"})
    with open(path, "rb") as f:
        r = Reader(MmapSource(f))
        h = r.header()
        assert h["addressed_tiles_count"] == 64 and h["clustered"]
        assert h["tile_contents_count"] < 64 - 8  # the runs of equal tiles stored once
        for (z, c, row), data in tiles_in.items():
            assert r.get(z, c, row) == data
        assert r.metadata()["name"] == "w"
