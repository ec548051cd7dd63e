"""Building the viewer site (no browser): styles checked with one-line errors, data files and
downloads true to the store, versioned and pruned, assets pinned and verified, script-safe JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from geo_publish.errors import ServeError
from geo_publish.publish.viewer import assets
from geo_publish.publish.viewer.site import script_json
from gp_testlib import published


def _ingest(project, frame, tmp_path, name="p"):
    src = tmp_path / f"{name}.geojson"
    frame.to_file(src, driver="GeoJSON")
    assert project.run("ingest", str(src), "--collection", name) == 0
    return src


def _site(project) -> Path:
    return project.root / "build" / "site"


def _start_cfg(page: Path) -> dict:
    """The configuration a map page starts viewer.js with."""
    return json.loads(re.search(r"geoPublish\.start\(\w+, (.*)\);", page.read_text(encoding="utf-8")).group(1))


@pytest.mark.parametrize("style, message", [
    ("label_field: nope\n", "field 'nope' is not in the layer"),
    ("popup: [vmest, missing]\n", "field 'missing' is not in the layer"),
    ("color: red\n", "color: String should match pattern"),
    ("icon: not-an-icon-at-all\n", "icon 'not-an-icon-at-all' is not a Font Awesome icon"),
    ("cluster: [1, 2\n", "not valid YAML"),
    ("colour: '#ff0000'\n", "colour: Extra inputs are not permitted"),
])
def test_bad_style_is_one_line_error(project, points, tmp_path, capsys, style, message):
    _ingest(project, points, tmp_path)
    (project.root / "styles").mkdir()
    (project.root / "styles" / "p.yml").write_text(style)
    capsys.readouterr()
    assert project.run("build") == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.startswith("error: ")
    assert "styles/p.yml" in err.splitlines()[0] and message in err.splitlines()[0]


def test_manifest_naming_a_missing_style(project, points, tmp_path, capsys):
    _ingest(project, points, tmp_path)
    manifest = project.root / "collections" / "p.yml"
    manifest.write_text(manifest.read_text().replace("style: p", "style: nowhere"))
    capsys.readouterr()
    assert project.run("build") == 2
    assert "style 'nowhere' not found" in capsys.readouterr().err


def test_data_files_match_the_store(project, points, polygons, tmp_path):
    _ingest(project, points, tmp_path, "p")
    _ingest(project, polygons, tmp_path, "poly")
    assert project.run("build") == 0
    site = _site(project)
    store = published(project, "p")
    pts = json.loads((site / "data" / "p.v1.markers.json").read_text())
    assert np.allclose(np.array(pts["coords"]).reshape(-1, 2),
                       shapely.get_coordinates(store.geometry.values), atol=1e-6)
    props = json.loads((site / "data" / "p.v1.props.json").read_text(encoding="utf-8"))
    assert props["fields"] == [c for c in store.columns if c != "geometry"][:8]
    assert [r[props["fields"].index("nazvanie")] for r in props["rows"]] == list(store["nazvanie"])
    shapes = json.loads((site / "data" / "poly.v1.shapes.json").read_text())
    poly = published(project, "poly")
    drawn = shapely.from_geojson([json.dumps(g) for g in shapes["geometries"]])
    assert all(shapely.hausdorff_distance(a, b) < 2e-6 for a, b in zip(drawn, poly.geometry.values))
    centres = shapely.points(np.array(shapes["centres"]).reshape(-1, 2))
    assert shapely.contains(poly.geometry.values, centres).all()  # centres fall inside


def test_downloads_read_back_identical(project, points, polygons, tmp_path):
    _ingest(project, points, tmp_path, "p")
    _ingest(project, polygons, tmp_path, "poly")
    assert project.run("build") == 0
    for cid in ("p", "poly"):
        store = published(project, cid)
        for ext in ("geojson", "gpkg", "csv"):
            path = _site(project) / "downloads" / f"{cid}.v1.{ext}"
            kw = {}
            if ext == "csv":
                kw = ({"X_POSSIBLE_NAMES": "X", "Y_POSSIBLE_NAMES": "Y", "KEEP_GEOM_COLUMNS": "NO"}
                      if cid == "p" else {"KEEP_GEOM_COLUMNS": "NO"})
            back = pyogrio.read_dataframe(path, **kw)
            assert len(back) == len(store), path
            assert list(back["nazvanie"]) == list(store["nazvanie"]), path
            assert shapely.equals_exact(back.geometry.values, store.geometry.values, 1e-6).all(), path
    # a feature's box in the GeoJSON: for a polygon, not for a point (its box is the point)
    pts, poly = (json.loads((_site(project) / "downloads" / f"{c}.v1.geojson").read_text(encoding="utf-8"))
                 for c in ("p", "poly"))
    assert all("bbox" not in f for f in pts["features"]) and "bbox" not in pts
    assert all(len(f["bbox"]) == 4 for f in poly["features"]) and len(poly["bbox"]) == 4


def test_versions_get_new_files_and_old_ones_go(project, points, tmp_path):
    src = _ingest(project, points, tmp_path)
    assert project.run("build") == 0
    for _ in range(2):
        assert project.run("ingest", str(src), "--collection", "p") == 0
        assert project.run("build") == 0
    names = {f.name for f in (_site(project) / "data").iterdir()}
    assert "p.v3.markers.json" in names and "p.v2.markers.json" in names  # v2: pages still open
    assert not any(n.startswith("p.v1.") for n in names)
    assert "p.v3.markers.json" in (_site(project) / "layer-p.html").read_text()
    assert not any(f.name.startswith("p.v1.") for f in (_site(project) / "downloads").iterdir())


def test_large_point_layers_go_to_canvas_or_clusters(project, tmp_path):
    import geopandas as gpd

    n = 5000
    rng = np.random.default_rng(3)
    frame = gpd.GeoDataFrame({"k": np.arange(n)}, crs="OGC:CRS84",
                             geometry=shapely.points(rng.uniform(60, 70, n), rng.uniform(38, 42, n)))
    _ingest(project, frame, tmp_path, "big")
    _ingest(project, frame.iloc[:10], tmp_path, "small")
    (project.root / "styles").mkdir()
    (project.root / "styles" / "small.yml").write_text("cluster: true\n")
    assert project.run("build") == 0
    names = {f.name for f in (_site(project) / "data").iterdir()}
    assert {"big.v1.canvas.json", "small.v1.cluster.json"} <= names


def test_no_absolute_url_in_pages_or_code(project, points, tmp_path):
    _ingest(project, points, tmp_path)
    assert project.run("build") == 0
    site = _site(project)
    for page in [site / "map.html", site / "layer-p.html", site / "index.html", site / "sw.js",
                 site / "site.webmanifest", *site.glob("static/*")]:
        text = page.read_text(encoding="utf-8")
        assert "//cdn" not in text and "unpkg" not in text and "jsdelivr" not in text, page
        for attr in ("src=", "href="):
            for chunk in text.split(attr)[1:]:
                assert not chunk.lstrip("\"'").startswith(("http:", "https:", "//")), (page, chunk[:80])


def test_script_json_cannot_close_the_script():
    text = script_json({"t": "</script><script>alert(1)</script>", "c": "<!--", "l": "a\u2028b"})
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text)["t"] == "</script><script>alert(1)</script>"


def test_assets_are_verified(tmp_path):
    pkg = assets.PACKAGES[0]
    with pytest.raises(ServeError, match="integrity check failed"):
        assets._extract(pkg, b"not the tarball", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_missing_assets_name_the_fix(project, points, tmp_path, capsys, monkeypatch):
    _ingest(project, points, tmp_path)
    monkeypatch.setenv("GEO_PUBLISH_VENDOR_DIR", str(tmp_path / "empty"))
    capsys.readouterr()
    assert project.run("build") == 2
    err = capsys.readouterr().err
    assert "viewer assets not installed" in err and "scripts/setup.sh" in err


def test_png_images_are_made_without_a_warning():
    """The app's icons and a raster's overlay are images with no georeference, and none is
    needed: rasterio's NotGeoreferencedWarning would fill the server's log at every build."""
    import warnings

    from rasterio.io import MemoryFile

    from geo_publish.publish.viewer.data import png_bytes

    rgba = np.zeros((4, 3, 5), dtype="uint8")
    rgba[0, 1, 2], rgba[3] = 200, 255
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        body = png_bytes(rgba)
    assert caught == [] and body[:8] == b"\x89PNG\r\n\x1a\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with MemoryFile(body) as mem, mem.open() as img:
            assert (img.read() == rgba).all()


def test_one_broken_style_leaves_the_other_maps_alone(project, points, tmp_path, capsys, monkeypatch):
    """A layer republished without a field its style names: drawn plain, the reason kept for
    the officer (geo-publish list, the portal), every other layer's map rebuilt."""
    from geo_publish.publish.viewer.problems import map_problems
    from geo_publish.publish.viewer.deploy import publish_site
    from geo_publish.settings import load_settings

    pts = points.rename(columns={"ВМЕСТ": "vmest"})
    _ingest(project, pts, tmp_path, "a")
    _ingest(project, pts, tmp_path, "b")
    (project.root / "styles").mkdir()
    (project.root / "styles" / "a.yml").write_text("popup: [vmest]\n")
    settings = load_settings(project.config)
    if project.dsn:  # the site builder reads as the server does (Source.export_dsn)
        monkeypatch.setenv("GEO_PUBLISH_SERVE_DSN", project.dsn)
    publish_site(settings)
    assert map_problems(settings) == {}
    # a loses the field its style shows; b gets a new version too
    _ingest(project, pts.drop(columns=["vmest"]), tmp_path, "a")
    _ingest(project, pts.iloc[:5], tmp_path, "b")
    link, built = publish_site(settings)  # what the server's site builder does
    assert built
    site = link.resolve()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "a.v2" in index and "b.v2" in index  # both new versions are on the maps
    assert list((site / "data").glob("b.v2.*")) and list((site / "data").glob("a.v2.*"))
    problem = map_problems(settings)["a"]
    assert problem["version"] == 2 and "field 'vmest' is not in the layer" in problem["error"]
    assert "styles/a.yml" in problem["error"] and str(project.root) not in problem["error"]
    assert problem["shown"] == "shown with a plain style"
    capsys.readouterr()
    assert project.run("list") == 0
    out = capsys.readouterr().out
    assert "map of a: styles/a.yml: field 'vmest' is not in the layer" in out and "map of b" not in out
    # the style fixed: drawn as styled again, the problem gone
    (project.root / "styles" / "a.yml").write_text("popup: [nomi]\n")
    publish_site(settings)
    assert map_problems(settings) == {}
    # geo-publish build is the officer's check: it still fails on the broken style
    (project.root / "styles" / "a.yml").write_text("popup: [vmest]\n")
    assert project.run("build") == 2


def test_openapi_says_which_writes_need_a_token(project, points, tmp_path):
    """Every operation that changes data carries the token scheme; POST on an editable layer's
    items (a CQL2 query, or with a token a new feature) says the token is optional, not absent."""
    from geo_publish.serve.pygeoapi.runtime import documents
    from geo_publish.settings import load_settings

    _ingest(project, points, tmp_path, "edited")
    manifest = project.root / "collections" / "edited.yml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "editable: true\n", encoding="utf-8")
    _, oas = documents(load_settings(project.config))
    post = oas["paths"]["/collections/{collectionId}/items"]["post"]
    patch = oas["paths"]["/collections/{collectionId}/items/{featureId}"]["patch"]
    assert next(p for p in patch["parameters"] if p.get("name") == "collectionId")["schema"]["enum"] == ["edited"]
    assert {"gp-token": []} in post["security"]
    queries = "adds the feature" in post.get("description", "")  # one operation: CQL2 query or add
    assert ({} in post["security"]) == queries  # anonymous only where a query is also taken
    public = ("/feedback/", "/publish/login", "/publish/password")
    for path, ops in oas["paths"].items():
        for method, op in ops.items():
            if method in ("put", "patch", "delete") or (method == "post" and not path.startswith(public)
                                                         and "/items" not in path and "/search" not in path):
                assert {"gp-token": []} in op.get("security", []), (method, path)


def test_a_rebuild_reads_only_the_layers_that_changed(project, points, tmp_path, monkeypatch):
    """The server's site builder after a publish: a layer whose version, manifest and style
    did not change is taken from the previous site's record (.layers.json), its files linked,
    neither its manifest nor its data read; a changed style or manifest makes it again."""
    import os

    from geo_publish.publish.viewer import site as site_mod
    from geo_publish.publish.viewer.deploy import publish_site
    from geo_publish.settings import load_settings

    pts = points.rename(columns={"ВМЕСТ": "vmest"})
    for cid in ("a", "b"):
        _ingest(project, pts, tmp_path, cid)
    (project.root / "styles").mkdir()
    (project.root / "styles" / "a.yml").write_text("popup: [vmest]\ncolor: '#aa0000'\n")
    settings = load_settings(project.config)
    if project.dsn:
        monkeypatch.setenv("GEO_PUBLISH_SERVE_DSN", project.dsn)
    publish_site(settings)
    read: list[str] = []
    real = site_mod.load_manifest
    monkeypatch.setattr(site_mod, "load_manifest", lambda d, cid: (read.append(cid), real(d, cid))[1])

    def layer_cfg(cid: str) -> dict:
        return next(x for x in _start_cfg(_site(project) / "map.html")["layers"] if x["id"] == cid)

    served = _site(project).resolve()
    a_page, a_geom = served / "layer-a.html", served / layer_cfg("a")["geom"]
    before = {f: (os.stat(f).st_ino, os.stat(f).st_mtime_ns) for f in (a_page, a_geom)}
    _ingest(project, pts.iloc[:5], tmp_path, "b")
    link, built = publish_site(settings)
    assert built and read == ["b"]  # a: neither its manifest nor its data read again
    site = link.resolve()
    a = layer_cfg("a")
    assert a["color"] == "#aa0000" and (site / a["geom"]).is_file() and layer_cfg("b")["count"] == 5
    # the served site updated in place: a's page and data left as they were, b's replaced
    assert site == served
    assert {f: (os.stat(f).st_ino, os.stat(f).st_mtime_ns) for f in (a_page, a_geom)} == before
    assert "b.v2." in (site / "layer-b.html").read_text(encoding="utf-8")
    assert list((site / "data").glob("b.v1.*"))  # pages opened before still find their data
    # a new style: a made again, with it
    read.clear()
    (project.root / "styles" / "a.yml").write_text("popup: [vmest]\ncolor: '#0000aa'\nicon: school\n")
    publish_site(settings)
    assert read == ["a"] and layer_cfg("a")["color"] == "#0000aa"
    # the manifest names another style file: made again from that one
    read.clear()
    (project.root / "styles" / "other.yml").write_text("color: '#00aa00'\n")
    manifest = project.root / "collections" / "a.yml"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "style: other\n", encoding="utf-8")
    publish_site(settings)
    assert read == ["a"] and layer_cfg("a")["color"] == "#00aa00"
    read.clear()
    (project.root / "styles" / "other.yml").write_text("color: '#0a0a0a'\n")
    publish_site(settings)
    assert read == ["a"] and layer_cfg("a")["color"] == "#0a0a0a"


def _site_files(site: Path) -> dict[str, bytes]:
    """What a visitor gets of a site: its pages, search.json and sw.js by content; its data and
    downloads by name (their content is checked elsewhere)."""
    out = {p.name: re.sub(rb"_[0-9a-f]{32}\b", b"_", p.read_bytes()) for p in site.iterdir()  # folium's ids
           if p.is_file() and p.suffix in (".html", ".js", ".json") and not p.name.startswith(".")}
    out |= {f"{d}/{p.name}": b"" for d in ("data", "downloads") for p in (site / d).iterdir()
            if not p.name.startswith(".")}
    return out


def test_the_server_builder_looks_only_at_what_changed(project, points, tmp_path, monkeypatch):
    """The server's site builder after its first build (``changed``: the manifests and styles
    its watcher saw change): the layers whose published version, manifest or style changed are
    the only ones looked at; no other layer's version, passport, manifest, style or files are
    read, listed or looked at, no folder is listed; and the site is the one a build from
    nothing makes of the same state, old versions' files removed."""
    from geo_publish.publish.viewer import data as data_mod
    from geo_publish.publish.viewer import site as site_mod
    from geo_publish.publish.viewer.deploy import publish_site
    from geo_publish.settings import load_settings
    from geo_publish.store import catalogue

    pts = points.rename(columns={"ВМЕСТ": "vmest"})
    for cid in ("a", "b", "c"):
        _ingest(project, pts, tmp_path, cid)
    (project.root / "styles").mkdir()
    (project.root / "styles" / "shared.yml").write_text("color: '#aa0000'\n")
    for cid in ("a", "c"):
        manifest = project.root / "collections" / f"{cid}.yml"
        manifest.write_text(manifest.read_text(encoding="utf-8") + "style: shared\n", encoding="utf-8")
    settings = load_settings(project.config)
    if project.dsn:
        monkeypatch.setenv("GEO_PUBLISH_SERVE_DSN", project.dsn)
    publish_site(settings, live=True, changed=None)  # the builder's first build: every layer
    looked: list[str] = []
    manifests: list[str] = []
    real_manifest, real_mtime, real_version = site_mod.load_manifest, site_mod._mtime, catalogue.VersionCatalogue.version
    monkeypatch.setattr(site_mod, "load_manifest",
                        lambda d, cid: (looked.append(cid), manifests.append(cid), real_manifest(d, cid))[-1])
    monkeypatch.setattr(site_mod, "_mtime", lambda p: (looked.append(Path(p).stem), real_mtime(p))[1])
    monkeypatch.setattr(catalogue.VersionCatalogue, "version",
                        lambda self, cid, v=None: (looked.append(cid), real_version(self, cid, v))[1])
    passports: list[list[str] | None] = []
    real_passports = catalogue.VersionCatalogue.published_passports
    monkeypatch.setattr(catalogue.VersionCatalogue, "published_passports",
                        lambda self, only=None: (passports.append(only), real_passports(self, only))[1])

    def unlisted(*args, **kwargs):
        raise AssertionError("a folder of the site was listed")

    monkeypatch.setattr(data_mod, "prune", unlisted)
    monkeypatch.setattr(site_mod.SiteBuilder, "_previous_files", unlisted)

    def same_as_from_nothing() -> None:
        fresh = site_mod.SiteBuilder(settings, None, tmp_path / f"fresh-{len(passports)}", live=True,
                                     archives=False)
        with monkeypatch.context() as m:
            m.setattr(data_mod, "prune", lambda site, keep: {})
            fresh.build()
        served, made = _site_files(_site(project).resolve()), _site_files(fresh.site)
        # the served site also keeps the version before each layer's (pages opened before)
        stem = lambda name: ".".join(name.split("/")[-1].split(".", 2)[:2])  # noqa: E731
        assert set(served) >= set(made)
        # (and a version's description of its files for a style it had before)
        assert {stem(k) for k in set(served) - set(made) if not k.endswith(".meta.json")}.isdisjoint(
            {stem(k) for k in made if "/" in k})
        for name, body in made.items():
            assert served[name] == body, name

    # b published again: b alone is looked at; b.v1 kept for the pages opened before
    _ingest(project, pts.iloc[:5], tmp_path, "b")
    link, built = publish_site(settings, live=True, changed=set())
    assert built and set(looked) == {"b"} and passports == [["b"]]
    site = link.resolve()
    assert list((site / "data").glob("b.v2.*")) and list((site / "data").glob("b.v1.*"))
    same_as_from_nothing()
    # again: b.v1's files go, without a folder listed
    looked.clear()
    _ingest(project, pts.iloc[:4], tmp_path, "b")
    publish_site(settings, live=True, changed=set())
    assert set(looked) == {"b"}
    assert not [p for d in ("data", "downloads") for p in (site / d).iterdir() if p.name.startswith("b.v1.")]
    assert list((site / "data").glob("b.v2.*")) and list((site / "downloads").glob("b.v2.*"))
    same_as_from_nothing()
    # b rolled back to its first version, whose files are gone: made again from the store
    looked.clear()
    assert project.run("rollback", "b", "--to", "1") == 0
    publish_site(settings, live=True, changed=set())
    assert set(looked) == {"b"} and '"count":12' in (site / "layer-b.html").read_text(encoding="utf-8")
    same_as_from_nothing()
    # the style two layers share changed (as the watcher names it: by its stem): a and c
    looked.clear()
    (project.root / "styles" / "shared.yml").write_text("color: '#0000aa'\n")
    publish_site(settings, live=True, changed={"shared"})
    assert set(looked) == {"a", "c", "shared"}
    assert '"#0000aa"' in (site / "layer-a.html").read_text(encoding="utf-8")
    same_as_from_nothing()
    # a manifest changed (its stem is the collection's): that layer
    looked.clear()
    manifest = project.root / "collections" / "c.yml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("style: shared\n", ""), encoding="utf-8")
    publish_site(settings, live=True, changed={"c"})
    assert set(looked) <= {"c", "shared"} and "c" in looked  # c, and the style it had
    same_as_from_nothing()
    # nothing changed that the builder saw, yet another process built the site since: what this
    # process kept is not used, every layer is looked at; each layer's record is the one its
    # last build logged (.layers.json is written whole only by a build of every layer): none
    # is made again
    looked.clear()
    manifests.clear()
    pages = {p.name: p.stat().st_mtime_ns for p in site.glob("*.html") if p.name != "map.html"}
    state = site / ".state"
    state.write_text("other " + state.read_text())
    monkeypatch.setattr(data_mod, "prune", lambda site, keep: {})
    link, built = publish_site(settings, live=True, changed=set())
    assert built and link.resolve() == site and {"a", "b", "c"} <= set(looked) and manifests == []
    # and each page's record is the one its last build logged: none is made again
    assert {p.name: p.stat().st_mtime_ns for p in site.glob("*.html") if p.name != "map.html"} == pages
    same_as_from_nothing()


def test_a_title_written_as_a_template_is_shown_as_written(project, points, tmp_path, monkeypatch):
    """Text an officer types (a layer's title) reaches the map pages as text: the site builder
    never runs it as a Jinja template (folium compiles what its elements write: a title reading
    ``{{ 7*7 }}`` came out as 49, and ``{{ cycler.__init__.__globals__.os... }}`` would have
    run on the server)."""
    from geo_publish.publish.viewer.deploy import publish_site
    import yaml

    from geo_publish.settings import load_settings

    _ingest(project, points, tmp_path, "t")
    title = "{{ 7*7 }} {% if true %}yes{% endif %} {# c #} {{ cycler.__init__.__globals__ }}"
    manifest = project.root / "collections" / "t.yml"
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    doc["title"] = {"en": title, "ru": title, "uz": title}
    manifest.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _ingest(project, points, tmp_path, "t")
    if project.dsn:
        monkeypatch.setenv("GEO_PUBLISH_SERVE_DSN", project.dsn)
    link, _ = publish_site(load_settings(project.config))
    for page in ("map.html", "layer-t.html"):
        assert next(x for x in _start_cfg(link / page)["layers"] if x["id"] == "t")["title"] == {"en": title, "ru": title, "uz": title}
    assert "{{ 7*7 }} {% if true %}yes{% endif %}" in (link / "index.html").read_text(encoding="utf-8")


def test_the_main_map_of_many_layers_draws_the_emergency_and_latest_ones(project, points, tmp_path,
                                                                       monkeypatch):
    """A national portal's main map (map.html) does not fetch thousands of layers as it opens:
    past MAP_LAYERS it draws the emergency layers, then the most recently published, and says
    how many there are and where the others are; each layer keeps its own page."""
    import time

    from geo_publish.publish.viewer import site as site_mod
    from geo_publish.publish.viewer.deploy import publish_site
    from geo_publish.settings import load_settings

    if project.dsn:
        monkeypatch.setenv("GEO_PUBLISH_SERVE_DSN", project.dsn)
    monkeypatch.setattr(site_mod, "MAP_LAYERS", 2)
    for cid in ("a", "b", "c", "d"):
        _ingest(project, points, tmp_path, cid)
    (project.root / "styles").mkdir()
    (project.root / "styles" / "b.yml").write_text("emergency: true\nicon: house\n")
    _ingest(project, points.iloc[:5], tmp_path, "a")  # a published again: the latest

    def main_map() -> dict:
        return _start_cfg(_site(project) / "map.html")

    settings = load_settings(project.config)
    publish_site(settings)
    cfg = main_map()
    assert [x["id"] for x in cfg["layers"]] == ["a", "b"]
    assert cfg["more"] == {"shown": 2, "total": 4} and cfg["title"]["en"] == "Map of the main layers"
    assert all((_site(project) / f"layer-{cid}.html").is_file() for cid in "abcd")
    def button() -> str:
        index = (_site(project) / "index.html").read_text(encoding="utf-8")
        return re.search(r'id="gp-map-all".*?</a>', index, re.S).group(0)

    assert "Map of the main layers" in button() and "Map of all layers" not in button()
    # d published again: now the latest, in a's place (a store counts time in whole seconds)
    time.sleep(1.1)
    _ingest(project, points.iloc[:4], tmp_path, "d")
    publish_site(settings)
    assert [x["id"] for x in main_map()["layers"]] == ["b", "d"]
    # within the bound, every layer, as before
    monkeypatch.setattr(site_mod, "MAP_LAYERS", 4)
    _ingest(project, points.iloc[:3], tmp_path, "c")
    publish_site(settings)
    cfg = main_map()
    assert [x["id"] for x in cfg["layers"]] == ["a", "b", "c", "d"] and cfg["more"] is None
    assert cfg["title"] is None and "Map of all layers" in button()
