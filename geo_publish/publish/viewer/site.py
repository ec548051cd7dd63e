"""The static viewer site: an index of layers with their passports, a folium map per layer and one
with all layers. Reads only the store, the manifests and the styles; writes ``<build>/site``.

Any web server or object store can host the result. Nothing in it refers outside its own origin
(Leaflet, supercluster and the icon font are vendored by ``assets``), unless config.yml names a
tile server. Data files carry the version in their names, pages are replaced atomically, so a
page never mixes two versions.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html
import json
import logging
import os
import re
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from geo_publish import freshness
from geo_publish.errors import GeoPublishError
from geo_publish.manifest import load_manifest, manifest_path
from geo_publish.publish.viewer import assets, data, i18n
from geo_publish.publish.viewer.style import PopupField, Style, check_style, default_style, load_style
from geo_publish.settings import Settings
from geo_publish.store.search import index_terms

LOG = logging.getLogger("geo_publish.site")
STATIC = ("viewer.js", "viewer.css")


@dataclass
class LayerView:
    id: str
    passport: dict[str, Any]
    style: Style
    files: data.LayerFiles | data.RasterFiles
    count: int
    bbox: list[float] | None
    version: int
    created: str = ""  # when this version was published: the freshness clock
    geometry_type: str | None = None
    full_zoom: int = 14  # the deepest zoom of its tiles (a tiled layer)

    def js(self) -> dict[str, Any]:
        """What viewer.js needs to draw the layer (values are text for textContent); made once
        (map.html and the layer's page both draw it, and digest it to tell whether it changed)."""
        made = self.__dict__.get("_js")
        if made is None:
            made = self.__dict__["_js"] = self._make_js()
        return made  # type: ignore[no-any-return]

    def js_json(self) -> str:
        """``js`` as script-safe JSON (``script_json``), made once."""
        made = self.__dict__.get("_js_json")
        if made is None:
            made = self.__dict__["_js_json"] = script_json(self.js())
        return made  # type: ignore[no-any-return]

    def digest(self) -> str:
        """A digest of what a page draws of the layer (``js`` and its box), made once."""
        made = self.__dict__.get("_digest")
        if made is None:
            made = self.__dict__["_digest"] = _sha1([self.js(), self.bbox])
        return made  # type: ignore[no-any-return]

    def _make_js(self) -> dict[str, Any]:
        s = self.style
        common = {"id": self.id, "title": i18n.texts(self.passport.get("title"), self.id),
                  "created": self.created[:10]}
        if isinstance(self.files, data.RasterFiles):
            f = self.files
            return {**common, "mode": "raster", "image": f.image, "values": f.values, "bounds": f.bounds,
                    "ramp": f.ramp, "unit": f.unit, "band": f.name, "opacity": s.opacity,
                    "color": s.color, "icon": s.icon, "visible": s.visible, "background": False,
                    "popup": [], "label": None, "count": 0}
        if self.files.mode == "tiles":  # drawn from vector tiles: the archive, or the API's
            kind = (self.geometry_type or "").removeprefix("Multi").lower()
            return {**common, "mode": "tiles", "tiles": self.files.geom, "kind": kind,
                    "maxzoom": self.full_zoom, "bbox": self.bbox, "color": s.color,
                    "icon": s.icon, "weight": s.weight, "fillOpacity": s.fill_opacity,
                    "label": s.label_field, "background": s.background, "visible": s.visible,
                    "popup": [{"field": p.field, "label": p.labels()} for p in s.popup],
                    "count": self.count, "offline": s.offline}
        return {
            **common, "mode": self.files.mode, "geom": self.files.geom, "props": self.files.props,
            "color": s.color, "icon": s.icon, "weight": s.weight, "fillOpacity": s.fill_opacity,
            "label": s.label_field, "background": s.background, "visible": s.visible,
            "popup": [{"field": p.field, "label": p.labels()} for p in s.popup],
            "count": self.count, "offline": s.offline,
        }


def _sha1(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


MAP_LAYERS = 50  # the most layers the main map (map.html) draws: each is fetched as it opens


def _main_layers(layers: list[LayerView]) -> list[LayerView]:
    """The layers of the main map (map.html): every layer up to MAP_LAYERS; past that (a national
    portal holds thousands, and a phone would fetch each one's data as the map opens) the
    emergency ones, the background ones, then the most recently published, in the site's
    order. The others are found in the index, each on its own page. A loop over every layer,
    in memory (a sort of their dates)."""
    if len(layers) <= MAP_LAYERS:
        return layers
    first = sorted(layers, key=lambda v: v.id)
    first.sort(key=lambda v: v.created, reverse=True)  # (stable: by id within a date)
    first.sort(key=lambda v: (not v.style.emergency, not v.style.background))
    chosen = {v.id for v in first[:MAP_LAYERS]}
    return [v for v in layers if v.id in chosen]


def _mode(layer: LayerView) -> str:
    return "raster" if isinstance(layer.files, data.RasterFiles) else layer.files.mode


def script_json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no </script>, no HTML comment, no U+2028),
    and that no template engine reads as its own (``{{``, ``{%``, ``{#`` only occur in strings,
    where the brace is written as an escape)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = re.sub(r"\{(?=[{%#])", r"\\u007b", text)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _static(site: Path) -> dict[str, str]:
    """Copy viewer.js/css under content-hashed names (cacheable for good); name -> URL."""
    out = site / "static"
    out.mkdir(parents=True, exist_ok=True)
    urls = {}
    for name in STATIC:
        body = files("geo_publish.publish.viewer").joinpath("static", name).read_bytes()
        stem, ext = name.rsplit(".", 1)
        target = out / f"{stem}.{hashlib.sha1(body).hexdigest()[:10]}.{ext}"
        if not target.exists():
            target.write_bytes(body)
        urls[name] = f"static/{target.name}"
    return urls


def _union(boxes: list[list[float] | None]) -> list[float] | None:
    real = [b for b in boxes if b]
    if not real:
        return None
    return [min(b[0] for b in real), min(b[1] for b in real),
            max(b[2] for b in real), max(b[3] for b in real)]


def _safe_link(url: str) -> str | None:
    """Only web links become hrefs (a licence field could hold ``javascript:``)."""
    return url if url.lower().startswith(("https://", "http://")) else None


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _style_key(style: Style) -> str:
    return hashlib.sha1(style.model_dump_json().encode()).hexdigest()[:10]


THEME = "#1d4ed8"
ICONS = {192: "icons/icon-192.png", 512: "icons/icon-512.png"}
PWA_HEAD = ('    <link rel="manifest" href="site.webmanifest">\n'
            f'    <meta name="theme-color" content="{THEME}">\n'
            f'    <link rel="apple-touch-icon" href="{ICONS[192]}">')


def _icons(site: Path) -> None:
    """The app's icons (a white pin on the theme colour), drawn once per site."""
    import numpy as np

    colour = [int(THEME[i:i + 2], 16) for i in (1, 3, 5)]
    for n, rel in ICONS.items():
        target = site / rel
        if target.exists():
            continue
        y, x = np.mgrid[0:n, 0:n] / n
        head = (x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.2 ** 2
        tip = (y >= 0.4) & (y < 0.8) & (np.abs(x - 0.5) < 0.2 * (0.8 - y) / 0.4)
        hole = (x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.08 ** 2
        pin = (head | tip) & ~hole
        rgba = np.zeros((4, n, n), dtype="uint8")
        for ch in range(3):
            rgba[ch] = np.where(pin, 255, colour[ch])
        rgba[3] = 255
        target.parent.mkdir(parents=True, exist_ok=True)
        data._write(target, data.png_bytes(rgba))


def _reason(err: Exception, settings: Settings) -> str:
    """One line for the officer, naming files by their project path, never the server's."""
    text = err.one_line() if isinstance(err, GeoPublishError) else f"{type(err).__name__}: {err}"
    root = str(settings.root.resolve()).rstrip("/") + "/"
    return " ".join(text.replace(root, "").split())[:500]


def _mtime(path: Path | str) -> list[int] | None:
    """A file's time and size (two writes within a clock tick differ in size, mostly)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _files_of(view: LayerView) -> list[str]:
    """The site's files of a layer's view (site paths), besides its descriptions (meta.json)."""
    f = view.files
    named = [f.image, f.values] if isinstance(f, data.RasterFiles) else [f.geom, f.props]
    for href, _ in f.downloads.values():
        named += [href, href + ".sha256"]
    return [n for n in named if n]


def _layer_files(cached: dict[str, Any]) -> data.LayerFiles:
    """A layer's files as ``SiteBuilder._remember`` described them (JSON: lists for tuples)."""
    files = cached["files"]
    return data.LayerFiles(**{**files, "downloads": {k: tuple(v) for k, v in files["downloads"].items()}})


def _link_or_copy(src: Path | str, dst: Path | str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """Hash of the site builder itself: a new geo-publish rebuilds sites built by an old one."""
    root = files("geo_publish.publish.viewer")
    h = hashlib.sha1()
    for sub in ("", "static", "templates"):
        folder = root / sub if sub else root
        for item in sorted(folder.iterdir(), key=lambda x: x.name):
            if item.is_file() and item.name.endswith((".py", ".js", ".css", ".html")):
                h.update(item.name.encode() + item.read_bytes())
    from geo_publish.publish.viewer.assets import PACKAGES

    h.update(repr(PACKAGES).encode())
    return h.hexdigest()[:16]


PAGES = ".pages.json"  # each page's inputs (a digest): a page whose inputs did not change is reused
LOG_MAX = 4 << 20  # the records' log is folded into them once it is this long (_write_records)
LAYERS = ".layers.json"  # each layer's view and what it was made from: an unchanged layer is not read
INDEX_PAGE = 60  # layer cards on a page of the index


@dataclass
class Warm:
    """What a build left in this process for the next build of the same site (the server's site
    builder updates the served site in place after each publish): each layer's view and what
    tells that it changed (its published version and time, its style file's stem), its
    problem, the records (LAYERS, PAGES, the search terms) and each kept version's files. The
    next build looks at the layers that changed only: it neither lists nor reads the others."""
    site: Path
    state: str  # the .state the site was left with: another process's build since voids this
    keys: dict[str, Any]  # collection -> (version, when published)
    views: dict[str, LayerView]
    styles: dict[str, str]  # collection -> the stem of the style file it was made with
    problems: dict[str, dict[str, Any]]
    records: dict[str, Any]  # LAYERS, the search terms under ""
    made: dict[str, str]  # PAGES
    files: dict[str, dict[str, list[str]]]  # collection -> {stem: its files}, the kept versions
    search: str  # search.json as written
    facets: str  # facets.json as written
    log: str  # the name of the log of the records' changes (``SiteBuilder._write_records``)
    logged: int  # its size


WARM: dict[str, Warm] = {}  # by the path of the site's link (deploy.publish_site)


@functools.cache
def _elements() -> tuple[type, type]:
    """folium elements of our own, their templates compiled once (branca compiles an element's
    template text each time one is made: an eighth of a first build of many layers' pages):
    ``Start(mark)`` starts viewer.js on the map with the configuration that ``_map`` puts in
    place of ``mark`` once the page is rendered; ``Raw(text)`` is text put as it is.

    The configuration is not rendered by folium: branca compiles what a macro wrote as a Jinja
    template of its own (``MacroElement.render``), so a layer's title reading ``{{ ... }}`` was
    run as Jinja code by the site builder, and the configuration of 10,000 layers (6 MB) was
    compiled at each rebuild (0.2 s a page)."""
    from branca.element import Element, MacroElement
    from jinja2 import Template

    class Start(MacroElement):  # type: ignore[misc]
        _template = Template(
            "{% macro script(this, kwargs) %}"
            "geoPublish.start({{ this._parent.get_name() }}, {{ this.cfg }});"
            "{% endmacro %}")

        def __init__(self, cfg_json: str) -> None:
            super().__init__()
            self._name = "GeoPublish"
            self.cfg = cfg_json

    class Raw(Element):  # type: ignore[misc]
        _template = Template("{{ this.text }}")

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    return Start, Raw


class SiteBuilder:
    """Builds the site into ``site``: a fresh folder, where the files of versions that
    ``previous`` (the site being served) already has for the same style are linked from it, not
    written again, so a rebuild after one layer changed reads only that layer; or, when ``site``
    is ``previous``, the served site itself, updated in place (``deploy``): only what changed is
    written, each file replaced in one rename, data files before the pages that name them."""

    def __init__(self, settings: Settings, api_url: str | None = None, site: Path | None = None,
                 previous: Path | None = None, live: bool = False, archives: bool = True,
                 strict: bool = False, changed: set[str] | None = None,
                 warm: Warm | None = None) -> None:
        self.settings = settings
        self.strict = strict
        # archives: build the PMTiles archives of large layers as part of the site; the server's
        # site builder builds them after the site is swapped in (``add_archives``), so that a
        # new version's pages do not wait for its tiles
        self.archives = archives
        # live: the site talks to a running API (problem reports, their counts); a static
        # export without a known API address has none of that, so it asks nothing of a server
        self.live = live or bool(api_url)
        self.site = site or settings.path(settings.build_dir) / "site"
        self.previous = previous if previous and previous.is_dir() else None
        self.in_place = self.previous is not None and self.previous.resolve() == self.site.resolve()
        # API links: absolute when the public URL is configured, else the server's layout (site at /site/)
        self.api = (api_url or "..").rstrip("/")
        # layers whose map could not be built as styled: {id: {version, error, shown}}
        self.problems: dict[str, dict[str, Any]] = {}
        self._basemap: dict[str, Any] | None = None  # the base map the pages draw (build())
        self._listings: dict[str, list[str]] = {}  # the previous site's folders, listed once
        self._passports: dict[str, dict[str, Any]] = {}  # the published ones, read at once
        self._made: dict[str, str] = {}  # what each page of this site was made from (PAGES)
        # what this process's last build of this site kept (in place, with the manifests and
        # styles changed since known): only the layers that changed are looked at
        self._warm = warm if (warm is not None and self.in_place and changed is not None
                              and "*" not in changed) else None
        self.changed = changed or set()
        self._keys: dict[str, Any] = {}  # each published collection's (version, when)
        self._styles: dict[str, str] = {}  # the stem of each layer's style file
        self._by_id: dict[str, LayerView] = {}
        self._metas: dict[str, set[str]] = {}  # the descriptions (meta.json) of each stem
        self._files: dict[str, dict[str, list[str]]] = {}  # see Warm.files
        self._search = ""
        self._facets = ""
        self._log = ""  # the records' log (_write_records)
        self._logged = 0
        self._pages_changed: set[str] = set()  # the pages this build made or dropped
        self._new_terms: dict[str, str] = {}  # terms this build stemmed
        self._todo: set[str] = set()  # the collections a build with ``warm`` looked at
        # each layer's view as the previous site made it, and what from (LAYERS): a layer whose
        # version, manifest and style file did not change is taken from there, not read again;
        # what each page of the previous site was made from (PAGES: a digest, by file name)
        self._known: dict[str, Any]
        self._kept_pages: dict[str, str]
        if self._warm is not None:
            self._known, self._kept_pages = dict(self._warm.records), self._warm.made
        else:
            self._known, self._kept_pages = self._load_records()
        self._views: dict[str, Any] = {}
        self._settings_key = hashlib.sha1(settings.model_dump_json().encode()).hexdigest()[:16]
        self._remembered: dict[str, dict[str, Any]] = {}  # file descriptions this build wrote or took
        known_terms = self._known.pop("", {})
        self._terms_in: dict[str, str] = known_terms if isinstance(known_terms, dict) else {}
        self._terms: dict[str, str] = {}  # the search terms of this site's cards, by their text

    def _load_records(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The previous site's LAYERS and PAGES, with the changes logged since they were
        written (``_write_records``)."""
        known: dict[str, Any] = self._load(LAYERS, {})
        pages: dict[str, str] = self._load(PAGES, {})
        if not isinstance(known, dict) or not isinstance(pages, dict):
            return {}, {}
        self._log = str(known.pop("#log", ""))
        log = self.previous / f".records.{self._log}.log" if self.previous and self._log else None
        try:
            lines = log.read_text(encoding="utf-8").splitlines() if log is not None else []
        except OSError:
            lines = []
        for line in lines:
            try:
                kind, name, entry = json.loads(line)
            except ValueError:  # a line cut short by a crash: the ones before it stand
                break
            if kind == "T":
                known.setdefault("", {}).update(entry)
                continue
            record = pages if kind == "P" else known
            if entry is None:
                record.pop(name, None)
            else:
                record[name] = entry
        return known, pages

    def _write_records(self) -> None:
        """LAYERS and PAGES for the next build: whole after a build that looked at every layer
        (10 MB and 0.7 MB at 10,000 layers) and once the log has grown past ``LOG_MAX``; else
        what this build changed of them appended to the log LAYERS names (a line each, applied
        in order when read: ``_load_records``)."""
        warm = self._warm
        if warm is not None and warm.logged < LOG_MAX:
            gone = set(warm.keys) - set(self._keys)  # (in memory, as in _prune_changed)
            lines = [json.dumps(["L", cid, self._views.get(cid)], ensure_ascii=False)
                     for cid in sorted(self._todo | gone)]
            if self._new_terms:
                lines.append(json.dumps(["T", "", self._new_terms], ensure_ascii=False))
            lines += [json.dumps(["P", name, self._made.get(name)]) for name in sorted(self._pages_changed)]
            text = "\n".join(lines) + "\n" if lines else ""
            if text:
                with open(self.site / f".records.{warm.log}.log", "a", encoding="utf-8") as f:
                    f.write(text)
            self._log, self._logged = warm.log, warm.logged + len(text)
            return
        token = secrets.token_hex(6)
        write_text(self.site / PAGES, json.dumps(self._made, sort_keys=True))
        write_text(self.site / LAYERS, json.dumps({**self._views, "": self._terms, "#log": token},
                                                  ensure_ascii=False))
        for old in self.site.glob(".records.*.log"):  # (the folder's dot files only: a few)
            old.unlink(missing_ok=True)
        self._log, self._logged = token, 0

    def _load(self, name: str, default: Any) -> Any:
        """A JSON file the previous site kept for the next build; ``default`` if none."""
        if self.previous is None:
            return default
        try:
            return json.loads((self.previous / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return default

    def _reused(self, stem: str, key: str) -> dict[str, Any] | None:
        """The cached description of ``stem``'s files from the previous site, its files linked
        into this one; None when the previous site has none for this style."""
        if self.previous is None:
            return None
        meta = self.previous / "data" / f"{stem}.{key}.meta.json"
        if not meta.is_file():
            return None
        self._carry(stem)
        self._metas.setdefault(stem, set()).add(f"data/{meta.name}")
        desc: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
        self._remembered[stem] = desc  # what the next site's record (LAYERS) keeps of it
        return desc

    def _carry(self, stem: str) -> None:
        """Link the previous site's data and download files of ``stem`` into this one."""
        if self.previous is None or self.in_place:
            return
        for folder in ("data", "downloads"):
            src, dst = os.path.join(self.previous, folder), os.path.join(self.site, folder)
            os.makedirs(dst, exist_ok=True)
            for name in self._previous_files(folder, stem + "."):
                target = os.path.join(dst, name)
                if not os.path.lexists(target):
                    _link_or_copy(os.path.join(src, name), target)

    def _previous_files(self, folder: str, prefix: str) -> list[str]:
        """The previous site's files in ``folder`` whose name starts with ``prefix``: the folder
        listed once, then found by bisection (a glob per layer read the whole folder for each:
        13 s of a rebuild at 1,000 layers)."""
        import bisect

        listing = self._listings.get(folder)
        if listing is None:
            try:
                listing = sorted(e.name for e in os.scandir(self.previous / folder))  # type: ignore[operator]
            except OSError:
                listing = []
            self._listings[folder] = listing
        at = bisect.bisect_left(listing, prefix)
        out = []
        while at < len(listing) and listing[at].startswith(prefix):
            out.append(listing[at])
            at += 1
        return out

    def _remember(self, stem: str, key: str, desc: dict[str, Any]) -> None:
        self._remembered[stem] = desc
        self._metas.setdefault(stem, set()).add(f"data/{stem}.{key}.meta.json")
        write_text(self.site / "data" / f"{stem}.{key}.meta.json", json.dumps(desc))

    def layers(self) -> list[LayerView]:
        """Every published layer's view, each built on its own: a layer whose style does not fit
        its new version (a field it names is gone, an icon that does not exist) is drawn with a
        plain style and the reason is kept in ``self.problems``; the other layers are unaffected.
        With what this process's last build kept (``Warm``), a layer whose published version,
        manifest and style did not change is taken as it was, nothing of it read or looked at."""
        from geo_publish.errors import NotFound
        from geo_publish.store import open_store

        store = open_store(self.settings)
        icons = assets.icon_names()
        out = []
        # a loop over every collection: which version of each is published, and since when (one
        # query of small rows: 10 ms at 10,000), what says which layers changed. Read before
        # the versions themselves: a publish in between makes the layer look changed next time
        self._keys = published = store.published_keys()
        warm = self._warm
        if warm is None:
            infos = {i.collection: i for i in store.collections()}
            self._passports = store.published_passports()  # one query, not one per layer
        else:
            marked = self.changed | {cid for cid, stem in warm.styles.items() if stem in self.changed}
            todo = [cid for cid, key in published.items()
                    if cid in marked or warm.keys.get(cid) != key
                    # a large layer's view: its archive is built after the site
                    or (cid in warm.views and _mode(warm.views[cid]) == "tiles")]
            self._passports = store.published_passports(todo)
            infos = {}
            self._todo = set(todo)
            for cid in todo:
                try:
                    infos[cid] = store.version(cid)
                except NotFound:  # unpublished since: the next build sees it gone
                    continue
        # a loop over every collection: the site shows each (an unchanged one as it was)
        for cid in sorted(published):
            info = infos.get(cid)
            if warm is not None and cid not in self._todo:
                self._carry_warm(warm, cid, out)
                continue
            if info is None or not info.published:
                continue
            self._styles[cid] = cid  # until its manifest names another
            try:
                view = self._known_view(store, info) or self._layer(store, info, icons, plain=False)
            except Exception as err:  # noqa: BLE001 - one layer's failure is that layer's alone
                if self.strict:  # geo-publish build: the officer's check, which fails on it
                    raise
                reason = _reason(err, self.settings)
                try:
                    view = self._layer(store, info, icons, plain=True)
                    shown = "shown with a plain style"
                except Exception as again:  # noqa: BLE001
                    view, shown = None, f"left out of the map ({_reason(again, self.settings)})"
                self.problems[info.collection] = {"version": info.version, "error": reason,
                                                  "shown": shown}
                LOG.error("geo-publish: map of %s v%s: %s; %s", info.collection, info.version,
                          reason, shown)
            if view is not None:
                out.append(view)
                self._by_id[cid] = view
                self._files[cid] = {f"{cid}.v{view.version}": self._files_of_stem(view)}
        return out

    def _carry_warm(self, warm: Warm, cid: str, out: list[LayerView]) -> None:
        """A layer unchanged since this process's last build: as that build left it."""
        view = warm.views.get(cid)
        self._styles[cid] = warm.styles.get(cid, cid)
        if cid in warm.problems:
            self.problems[cid] = warm.problems[cid]
        if cid in warm.records:
            self._views[cid] = warm.records[cid]
        if cid in warm.files:
            self._files[cid] = warm.files[cid]
        if view is not None:
            out.append(view)
            self._by_id[cid] = view

    def _files_of_stem(self, view: LayerView) -> list[str]:
        stem = f"{view.id}.v{view.version}"
        return _files_of(view) + sorted(self._metas.get(stem, ()))

    def warm(self, state: str, site: Path | None = None) -> Warm:
        """What this build keeps for the next one of the same site in this process."""
        return Warm(site or self.site, state, self._keys, self._by_id, self._styles, self.problems,
                    {**self._views, "": self._terms}, self._made, self._files, self._search, self._facets,
                    self._log, self._logged)

    def _inputs(self, info: Any, style_name: str) -> list[Any]:
        """What a layer's view is made from, besides its data: its version, the times of its
        manifest and style file (``style_name`` in the styles folder, the one the manifest
        names: a manifest naming another has another time), the settings, this builder."""
        cid = info.collection
        style = self.settings.path(self.settings.styles_dir) / style_name
        return [info.version, _mtime(manifest_path(self.settings.path(self.settings.collections_dir), cid)),
                style_name, _mtime(style), fingerprint(), self._settings_key]

    def _known_view(self, store: Any, info: Any) -> LayerView | None:
        """The layer's view as the previous site made it, its files linked, when nothing it was
        made from changed (``_inputs``); None otherwise. Not for tiled layers (their archive is
        built after the site)."""
        known = self._known.get(info.collection)
        if not known or self._tiled(info) or known["inputs"] != self._inputs(info, known["inputs"][2]):
            return None
        view = self._from_meta(store, info, known["meta"])
        if view is None:
            return None
        stem = f"{info.collection}.v{info.version}"
        self._carry(stem)
        self._views[info.collection] = known
        self._styles[info.collection] = known["inputs"][2].removesuffix(".yml")
        if known.get("key"):
            self._metas.setdefault(stem, set()).add(f"data/{stem}.{known['key']}.meta.json")
        return view

    def _from_meta(self, store: Any, info: Any, cached: dict[str, Any]) -> LayerView | None:
        """A view from the description kept of its files (``_remember``)."""
        cid = info.collection
        if "files" not in cached or cached["files"]["mode"] == "tiles":  # a raster's, or tiles
            return None
        return LayerView(cid, self._passport_of(store, cid), Style(**cached["style"]),
                         _layer_files(cached), info.feature_count, info.bbox, info.version,
                         info.created)

    def _layer(self, store: Any, info: Any, icons: frozenset[str], plain: bool) -> LayerView | None:
        """One layer's view; ``plain``: with the default style, whatever its style file says."""
        cid = info.collection
        manifest = load_manifest(self.settings.path(self.settings.collections_dir), cid)
        if plain:
            style, path = default_style(cid), None
        else:
            style, path = load_style(self.settings.path(self.settings.styles_dir), manifest, cid)
        stem, key = f"{cid}.v{info.version}", _style_key(style)
        named = (manifest.style if manifest and manifest.style else None) or cid
        self._styles[cid] = named
        inputs = self._inputs(info, f"{named}.yml")
        view = self._make_layer(store, info, icons, manifest, style, path, stem, key)
        if view is not None and not plain and not self._tiled(info) and info.geometry_type != "Raster":
            meta = self._remembered.get(stem)  # written (_remember) or taken (_reused) by this build
            if meta is not None:
                self._views[cid] = {"inputs": inputs, "meta": meta, "key": key}
        return view

    def _make_layer(self, store: Any, info: Any, icons: frozenset[str], manifest: Any, style: Style,
                    path: Path | None, stem: str, key: str) -> LayerView | None:
        cid = info.collection
        cached = self._reused(stem, key)
        if info.geometry_type == "Raster":
            check_style(style, path, [], icons)
            if cached is not None:
                rfiles = data.RasterFiles(**{**cached, "ramp": [tuple(r) for r in cached["ramp"]]})
            else:
                rfiles = data.write_raster_layer(info.layer, cid, info.version, style, self.site)
                self._remember(stem, key, dataclasses.asdict(rfiles))
            return LayerView(cid, self._passport_of(store, cid), style, rfiles, 0, info.bbox,
                             info.version, info.created)
        if self._tiled(info):  # drawn from tiles: its data are never read whole here
            view = self._tiled_view(info, manifest, style, path, icons, stem, key, cached)
            if view is not None:
                return view
        if cached is not None and cached["files"]["mode"] != "tiles":  # drawn whole before
            check_style(Style(**cached["style"]), path, cached["fields"], icons)
            return self._from_meta(store, info, cached)
        frame = store.read(cid)
        fields = [c for c in frame.columns if c != frame.geometry.name]
        if path is None:  # no style file: show the first fields as they are named
            style = style.model_copy(update={"popup": [PopupField(field=f) for f in fields[:8]]})
        check_style(style, path, fields, icons)
        layer_files = data.write_layer(frame, cid, info.version, style, info.geometry_type,
                                       self.site)
        del frame
        self._remember(stem, key, {"fields": fields, "style": style.model_dump(mode="json"),
                                   "files": dataclasses.asdict(layer_files)})
        return LayerView(cid, self._passport_of(store, cid), style, layer_files, info.feature_count,
                         info.bbox, info.version, info.created)

    def _passport_of(self, store: Any, cid: str) -> dict[str, Any]:
        found = self._passports.get(cid)
        return found if found is not None else store.passport(cid)  # type: ignore[no-any-return]

    def _tiled(self, info: Any) -> bool:
        """Does this version get a PMTiles archive (a published vector layer over the threshold)?"""
        return bool(info.published and info.geometry_type != "Raster"
                    and info.feature_count >= self.settings.vector_tiles.site_threshold)

    def _tiled_view(self, info: Any, manifest: Any, style: Style, path: Path | None,
                    icons: frozenset[str], stem: str, key: str,
                    cached: dict[str, Any] | None) -> LayerView | None:
        """A large layer's view: its tiles (the version's archive for a static site, the API's
        tiles for a live one, which answers them from the same archive), downloads written
        batch by batch; None when the version is no longer the published one."""
        cid = info.collection
        archive = self._archive(cid, info.version, manifest)
        if cached is not None and cached["files"]["mode"] == "tiles":
            fields, styled = cached["fields"], Style(**cached["style"])
            check_style(styled, path, fields, icons)
            files = _layer_files(cached)
        else:
            source = self._source(cid, info.version)
            if source is None:
                return None
            reader, table = source
            fields = list(table.columns)
            styled = style if path is not None else style.model_copy(
                update={"popup": [PopupField(field=f) for f in fields[:8]]})
            check_style(styled, path, fields, icons)  # before anything is written
            downloads = data.stream_downloads(reader, table, cid, info.version, self.site)
            files = data.LayerFiles("tiles", f"data/{archive}", "", fields, downloads)
            self._remember(stem, key, {"fields": fields, "style": styled.model_dump(mode="json"),
                                       "files": dataclasses.asdict(files)})
        return LayerView(cid, self._passport(cid), styled, files, info.feature_count, info.bbox,
                         info.version, info.created, info.geometry_type,
                         self.settings.vector_tiles.full_zoom)

    def _passport(self, cid: str) -> dict[str, Any]:
        from geo_publish.store import open_store

        return self._passport_of(open_store(self.settings), cid)

    def _source(self, cid: str, version: int) -> tuple[Any, Any] | None:
        """The server's reader and the version's table, if ``version`` is still published."""
        from geo_publish.read import readers
        from geo_publish.store.location import Source

        Source.export_dsn(self.settings)
        reader = readers.reader(Source.of(self.settings).data)
        pub = reader.published(cid)
        if pub is None or pub.version != version:  # published again meanwhile: the next build
            return None
        return reader, reader.table(pub.table)

    def _archive(self, cid: str, version: int, manifest: Any) -> str:
        """The name of the version's PMTiles archive in data/ (tiles/pyramid.py): the static
        site's tiles, and what the server answers this layer's WebMercatorQuad tiles from.
        Kept from the previous site when it is there; built unless ``archives`` is off."""
        from geo_publish.publish.viewer.style import tile_fields
        from geo_publish.tiles import pmtiles

        vt = self.settings.vector_tiles
        fields = tile_fields(self.settings, manifest, cid)
        name = pmtiles.archive_name(cid, version, fields, vt.full_zoom)
        target = self.site / "data" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        old = self.previous / "data" / name if self.previous is not None else None
        if not target.exists() and old is not None and old.exists():
            _link_or_copy(old, target)
        elif not target.exists() and self.archives:
            self._build_archive(cid, version, fields, target)
        return name

    def _build_archive(self, cid: str, version: int, fields: list[str], target: Path) -> bool:
        from geo_publish.tiles import pyramid

        vt = self.settings.vector_tiles
        source = self._source(cid, version)
        if source is None:
            return False
        reader, table = source
        try:
            pyramid.build(reader, table, fields, cid, target, vt.full_zoom,
                          vt.max_features, {"version": str(version)})
        except ValueError:  # no geometry to tile: the layer is drawn as it is
            return False
        return True

    def add_archives(self) -> int:
        """Build the archives the site lacks (its large layers'), into the site as it stands;
        how many were built."""
        from geo_publish.store import open_store

        built = 0
        large = open_store(self.settings).collections(self.settings.vector_tiles.site_threshold)
        for info in large:
            if self._tiled(info):
                manifest = load_manifest(self.settings.path(self.settings.collections_dir),
                                         info.collection)
                existed = (self.site / "data").glob(f"{info.collection}.v{info.version}.*.pmtiles")
                before = {p.name for p in existed}
                name = self._archive(info.collection, info.version, manifest)
                built += name not in before and (self.site / "data" / name).exists()
        return built

    def build(self) -> Path:
        site = self.site
        site.mkdir(parents=True, exist_ok=True)
        assets.copy_into(site, self.previous)
        static = _static(site)
        self._basemap = self._place_basemap()
        layers = self.layers()
        _icons(site)
        self._maps(layers, static)
        self._index(layers, static)
        self._write_records()
        self._service_worker(layers, static)
        if self._warm is not None:
            self._prune_changed()
            return site
        for layer in layers:  # pages opened before this build still find their data
            self._carry(f"{layer.id}.v{layer.version - 1}")  # (in place: they are there)
        kept = data.prune(site, {f"{layer.id}.v{layer.version}" for layer in layers}
                          | {f"{layer.id}.v{layer.version - 1}" for layer in layers})
        for layer in layers:  # each kept version's files, as the folders hold them
            for stem in (f"{layer.id}.v{layer.version}", f"{layer.id}.v{layer.version - 1}"):
                if stem in kept:
                    self._files.setdefault(layer.id, {})[stem] = kept[stem]
        return site

    def _prune_changed(self) -> None:
        """The files of the versions of the layers this build looked at (or that are gone)
        that no page refers to any more: the version before the one just replaced stays (pages
        opened before find their data). Named from what the last build kept: no folder listed."""
        warm = self._warm
        assert warm is not None
        # a set difference over every collection (in memory): which ones are no longer published
        gone = set(warm.keys) - set(self._keys)
        for cid in self._todo | gone:
            view = self._by_id.get(cid)
            keep = {f"{cid}.v{view.version}", f"{cid}.v{view.version - 1}"} if view else set()
            stems: dict[str, set[str]] = {}
            for found in (warm.files.get(cid, {}), self._files.get(cid, {})):
                for stem, names in found.items():
                    stems.setdefault(stem, set()).update(names)
            kept = {}
            for stem, names in stems.items():
                if stem in keep:
                    kept[stem] = sorted(names)
                    continue
                for name in names:
                    (self.site / name).unlink(missing_ok=True)
            if kept:
                self._files[cid] = kept
            else:
                self._files.pop(cid, None)

    def _place_basemap(self) -> dict[str, Any] | None:
        """The configured base map archive in the site (``basemap/``, named by its size and
        time, linked, not copied, where the file system allows); what the pages need of it."""
        b = self.settings.basemap
        if b.pmtiles is None:
            return None
        from geo_publish.errors import ConfigError
        from geo_publish.tiles import pmtiles

        src = self.settings.path(b.pmtiles)
        found = pmtiles.archive(str(src)) if src.is_file() else None
        if found is None:
            raise ConfigError(f"basemap.pmtiles: {src} is not a PMTiles archive",
                              hint="make one: geo-publish basemap build EXTRACT.osm.pbf")
        st = src.stat()
        key = hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]
        name = f"basemap.{key}.pmtiles"
        folder = self.site / "basemap"
        folder.mkdir(exist_ok=True)
        if not (folder / name).exists():
            tmp = folder / f".{name}.{os.getpid()}"
            _link_or_copy(src, tmp)
            os.replace(tmp, folder / name)
        for old in folder.iterdir():  # a base map built again replaces the one before
            if old.name != name:
                old.unlink(missing_ok=True)
        return {"url": f"basemap/{name}", "maxzoom": int(found.header["max_zoom"]),
                "attribution": b.attribution}

    def _draws_tiles(self, layers: list[LayerView]) -> bool:
        """A page of these layers needs protomaps-leaflet: the base map, or a tiled layer."""
        return bool(self._basemap) or any(_mode(layer) == "tiles" for layer in layers)

    # -- the installable, offline map --------------------------------------------------------

    def _service_worker(self, layers: list[LayerView], static: dict[str, str]) -> None:
        """``sw.js`` and ``site.webmanifest``: after one visit, the pages, the assets and the
        data of the layers styled ``offline: true`` are kept on the device (see static/sw.js)."""
        keep = ["./", "index.html", "map.html", "site.webmanifest", *ICONS.values(),
                *(["emergency.html"] if any(layer.style.emergency for layer in layers) else []),
                static["viewer.js"], static["viewer.css"],
                assets.url("leaflet", "dist/leaflet.js"), assets.url("leaflet", "dist/leaflet.css"),
                assets.url("supercluster", "dist/supercluster.min.js"),
                assets.url("@fortawesome/fontawesome-free", "css/fontawesome.min.css"),
                assets.url("@fortawesome/fontawesome-free", "css/solid.min.css"),
                assets.url("@fortawesome/fontawesome-free", "webfonts/fa-solid-900.woff2")]
        leaflet_images = self.site / assets.url("leaflet", "dist/images")
        keep += [assets.url("leaflet", f"dist/images/{p.name}") for p in sorted(leaflet_images.iterdir())]
        if self._draws_tiles(layers):
            keep.append(assets.url("protomaps-leaflet", "dist/protomaps-leaflet.js"))
        for layer in layers:
            if not layer.style.offline:
                continue
            keep.append(f"layer-{layer.id}.html")
            if _mode(layer) in ("markers", "canvas", "cluster", "shapes"):
                keep += [layer.files.geom, layer.files.props]  # type: ignore[union-attr]
            elif _mode(layer) == "raster":
                keep += [layer.files.image, layer.files.values]  # type: ignore[union-attr]
        keep = list(dict.fromkeys(keep))
        version = hashlib.sha1(json.dumps([keep, [(x.id, x.version) for x in layers]]).encode())
        body = files("geo_publish.publish.viewer").joinpath("static", "sw.js").read_text("utf-8")
        head = (f"var GP_VERSION = {json.dumps(version.hexdigest()[:16])};\n"
                f"var GP_PRECACHE = {json.dumps(keep)};\n"
                f"var GP_MAX_TILES = {int(self.settings.vector_tiles.offline_tiles)};\n")
        write_text(self.site / "sw.js", head + body)
        manifest = {
            "name": i18n.UI["site_title"]["en"], "short_name": i18n.UI["map"]["en"],
            "start_url": "map.html", "scope": "./", "display": "standalone",
            "background_color": "#ffffff", "theme_color": THEME,
            "icons": [{"src": src, "sizes": f"{n}x{n}", "type": "image/png", "purpose": "any"}
                      for n, src in ICONS.items()],
        }
        write_text(self.site / "site.webmanifest", json.dumps(manifest, ensure_ascii=False))

    # -- pages ------------------------------------------------------------------------------

    def _map(self, layers: list[LayerView], title: dict[str, str] | None, static: dict[str, str],
             all_visible: bool = False, locate: bool = False, total: int = 0) -> str:
        """A map page of ``layers``; ``total``: how many layers the site has, when this is the
        main map and shows only some of them (``_main_layers``)."""
        import folium

        start, raw = _elements()
        bbox = _union([layer.bbox for layer in layers]) or [-180.0, -85.0, 180.0, 85.0]
        server = self.settings.server
        m = folium.Map(location=[(bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2], zoom_start=5,
                       tiles=None, control_scale=True, prefer_canvas=True, maxZoom=19, minZoom=2, zoomSnap=0.25,
                       zoom_control=True)
        m.default_js = [("leaflet", assets.url("leaflet", "dist/leaflet.js")),
                        ("supercluster", assets.url("supercluster", "dist/supercluster.min.js")),
                        ("geo_publish", static["viewer.js"])]
        if self._draws_tiles(layers):
            m.default_js.insert(2, ("protomaps", assets.url("protomaps-leaflet",
                                                            "dist/protomaps-leaflet.js")))
        m.default_css = [("leaflet_css", assets.url("leaflet", "dist/leaflet.css")),
                         ("fa_css", assets.url("@fortawesome/fontawesome-free", "css/fontawesome.min.css")),
                         ("fa_solid", assets.url("@fortawesome/fontawesome-free", "css/solid.min.css")),
                         ("geo_publish_css", static["viewer.css"])]
        if server.tiles:
            folium.TileLayer(tiles=server.tiles, attr=server.tiles_attribution or " ",
                             max_zoom=19, control=False).add_to(m)
        cfg = {
            "layers": None,  # each layer's, written once per view (LayerView.js_json)
            "bounds": bbox, "index": "index.html", "api": self.api if self.live else None,
            "sw": "sw.js", "basemap": self._basemap, "locate": locate,
            "more": {"shown": len(layers), "total": total} if total > len(layers) else None,
            "title": title, "ui": i18n.UI,
            "languages": [{"code": c, "name": i18n.NAMES[c]} for c in i18n.LANGS],
        }

        mark = f"__geo_publish_cfg_{secrets.token_hex(8)}__"
        m.add_child(start(mark))
        preload = "".join(  # start the data downloads while the scripts load (one element:
            # an element each compiled a template each, a third of a rebuild at 1,000 layers)
            f'<link rel="preload" href="{html.escape(layer.files.geom)}" as="fetch" crossorigin="anonymous">'
            for layer in layers if _mode(layer) not in ("raster", "tiles"))
        if preload:
            m.get_root().header.add_child(raw(preload))
        page_title = html.escape((title or i18n.UI["map_all"])["en"])
        text = m.get_root().render()
        head, found, tail = text.partition(mark)
        assert found, "viewer.js is not started on the map"
        drawn = ",".join(script_json(layer.js() | {"visible": True}) if all_visible else layer.js_json()
                         for layer in layers)
        start_cfg = script_json(cfg).replace('"layers":null', f'"layers":[{drawn}]', 1)
        text = head + start_cfg + tail
        # folium's viewport forbade pinch zoom (maximum-scale=1, user-scalable=no): people with low
        # vision enlarge the page. And the map is the page's main content (a landmark).
        text = re.sub(r'<meta name="viewport" content="[^"]*"\s*/?>',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">', text, count=1)
        head, _, tail = text.rpartition("</body>")
        text = head.replace("<body>", '<body>\n<main class="gp-main">', 1) + "</main>\n</body>" + tail
        return text.replace("<html>", '<html lang="en">', 1).replace(
            "<head>", f'<head>\n    <meta charset="utf-8">\n    <title>{page_title}</title>\n'
            f'    <link rel="icon" href="data:,">\n{PWA_HEAD}', 1)

    def _maps(self, layers: list[LayerView], static: dict[str, str]) -> None:
        """map.html and a page per layer. A layer's page is made again only when what it shows
        changed (its layers' views, the assets, the builder): otherwise the previous site's is
        linked (folium took 7 s to make the 1,000 pages of 1,000 layers after one publish)."""
        background = [layer for layer in layers if layer.style.background]
        kept = self._kept_pages
        common = _sha1([static, self.api, self.live, self.settings.server.tiles,
                        self.settings.server.tiles_attribution, fingerprint(), self._basemap])
        main = _main_layers(layers)
        title = None if len(main) == len(layers) else i18n.UI["map_main"]
        self._page("map.html", kept, [[v.digest() for v in main], len(layers), common],
                   lambda: self._map(main, title, static, total=len(layers)))
        # a loop over every layer: its page's inputs, from digests each view made once (its
        # title is in its js)
        for layer in layers:
            shown = [b for b in background if b.id != layer.id] + [layer]
            key = hashlib.sha1("|".join([*(v.digest() for v in shown), common]).encode()).hexdigest()
            self._page(f"layer-{layer.id}.html", kept, key,
                       lambda s=shown, layer=layer: self._map(
                           s, i18n.texts(layer.passport.get("title"), layer.id), static,
                           all_visible=True))
        self._drop_pages(kept, "layer-")
        # the emergency page: the layers styled emergency: true (and the background ones) on a
        # map that asks the position as it opens (emergency.html?nearest=1, the index's button)
        urgent = [layer for layer in layers if layer.style.emergency]
        if urgent:
            shown = [b for b in background if not b.style.emergency] + urgent
            title = i18n.UI["emergency_layers"]
            self._page("emergency.html", kept, [[v.digest() for v in shown], title, common],
                       lambda: self._map(shown, title, static, all_visible=True, locate=True))
        self._drop_pages(kept, "emergency")

    def _page(self, name: str, kept: dict[str, str], inputs: Any, make: Any) -> None:
        """Page ``name``, made by ``make()`` unless the previous site's was made from the same
        ``inputs`` (then linked, or left as it is in place); what it was made from is kept for
        PAGES."""
        key = inputs if isinstance(inputs, str) else _sha1(inputs)  # str: a digest made by the caller
        self._made[name] = key
        # the page is there as made from the same inputs (this process's last build of the
        # site made it, or it is still in its folder)
        if kept.get(name) == key and self._warm is not None:
            return
        before = self.previous / name if self.previous is not None else None
        if before is not None and kept.get(name) == key and before.is_file():
            if not self.in_place:
                _link_or_copy(before, self.site / name)
        else:
            write_text(self.site / name, make())
            self._pages_changed.add(name)

    def _drop_pages(self, kept: dict[str, str], prefix: str) -> None:
        """In place: remove the pages starting with ``prefix`` that the site had and this build
        did not make (a layer no longer published, an index page no longer needed)."""
        if self.in_place:
            for name in kept:
                if name.startswith(prefix) and name not in self._made:
                    (self.site / name).unlink(missing_ok=True)
                    self._pages_changed.add(name)

    def _card(self, layer: LayerView) -> tuple[dict[str, Any], str]:
        """A layer's card on the index (but its freshness, which is rated at each build) and its
        digest: made once per view."""
        made = layer.__dict__.get("_card")
        if made is not None:
            return made  # type: ignore[no-any-return]
        from geo_publish.passport.licenses import license_url

        p = layer.passport
        title = i18n.texts(p.get("title"), layer.id)
        resp = p.get("responsible") or {}
        raw = " ".join(list(title.values()) + list(p.get("keywords") or [])
                       + [p.get("organization") or "", layer.id]).lower()
        # the words as typed, and in the one Latin spelling with stems (store/search.py) that
        # viewer.js brings a query to: "maktab" finds "Мактаб", "школы" finds "Школа"
        terms = self._terms_in.get(raw)
        if terms is None:  # stemming is most of a card's cost: kept by the text it came from
            terms = self._new_terms[raw] = index_terms(raw.replace("-", " ").replace("_", " "))
        card = {
            "id": layer.id, "title": title,
            "description": i18n.texts(p.get("description")),
            "organization": p.get("organization"), "responsible_name": resp.get("name"),
            "responsible_email": resp.get("email"), "license": p.get("license"),
            "license_url": _safe_link(license_url(p["license"])) if p.get("license") else None,
            "version": layer.version, "updated": p.get("last_modified") or "",
            "frequency": i18n.FREQUENCY.get(p.get("update_frequency") or "unknown",
                                            i18n.FREQUENCY["unknown"]),
            "count": layer.count, "complete": p.get("complete", True),
            "raster": (f"{p['raster']['width']} × {p['raster']['height']}, "
                       f"{len(p['raster']['bands'])} band(s)") if p.get("raster") else None,
            "color": layer.style.color, "icon": layer.style.icon,
            "page": f"layer-{layer.id}.html", "search": raw + " " + terms, "_raw": (raw, terms),
            "downloads": {fmt: (href, _human(size)) for fmt, (href, size)
                          in layer.files.downloads.items()},
            "api": f"{self.api}/collections/{layer.id}",
            "passport_url": f"{self.api}/passports/{layer.id}.json",
            "report_url": f"{self.api}/reports/{layer.id}.html",
            "feedback": f"{self.api}/feedback/{layer.id}" if self.live else None,
            "emergency": layer.style.emergency,
            # what the index's filters look at (facets.json)
            "keywords": [str(k) for k in p.get("keywords") or []],
            "format": "raster" if isinstance(layer.files, data.RasterFiles) else "vector",
        }
        # its entry in search.json, but the index page it is on and its freshness
        card["_entry"] = ('{"id":%s,"page":' % json.dumps(layer.id, ensure_ascii=False),
                          ',"title":%s,"s":%s,"o":%s,"k":%s,"f":"%s","r":' % (
                              json.dumps(title, ensure_ascii=False, separators=(",", ":")),
                              json.dumps(card["search"], ensure_ascii=False),
                              json.dumps(card["organization"] or "", ensure_ascii=False),
                              json.dumps(card["keywords"], ensure_ascii=False, separators=(",", ":")),
                              card["format"]))
        made = layer.__dict__["_card"] = (card, _sha1(card))
        return made

    @staticmethod
    def _freshness(layer: LayerView, now: datetime) -> str:
        """The layer's freshness now (rated when the site is built; a live site asks the API
        again on each visit), rated again when the state it was in may have ended."""
        kept = layer.__dict__.get("_fresh")
        if kept is not None and (kept[1] is None or now < kept[1]):
            return kept[0]  # type: ignore[no-any-return]
        rated = freshness.rate(layer.passport.get("update_frequency"), layer.created or None, now)
        until = rated.get("next_at")
        until = freshness.parse(until) if until else None
        layer.__dict__["_fresh"] = (rated["state"], until)
        return rated["state"]  # type: ignore[no-any-return]

    def _index(self, layers: list[LayerView], static: dict[str, str]) -> None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        now = datetime.now(UTC)
        built = now.date().isoformat()
        cards = []
        # a loop over every layer: its card (made once per view, see _card) and its freshness
        for layer in layers:
            card, digest = self._card(layer)
            raw, terms = card["_raw"]
            self._terms[raw] = terms
            cards.append((card, digest, self._freshness(layer, now)))
        # the layers people look for in an emergency open the index, before any other
        cards.sort(key=lambda c: not c[0]["emergency"])
        emergency = [{"title": c["title"], "icon": c["icon"], "color": c["color"], "page": c["page"]}
                     for c, _, _ in cards if c["emergency"]]
        # pages of INDEX_PAGE cards (a phone never loads thousands), each made again only when
        # what it shows changed; every layer's search words in search.json, read by viewer.js
        # when a search is typed on a page that does not hold every layer
        pages = max(1, -(-len(cards) // INDEX_PAGE))
        names = ["index.html"] + [f"index-{n}.html" for n in range(2, pages + 1)]
        kept = self._kept_pages
        common = dict(ui=i18n.UI, langs=i18n.LANGS, lang_names=i18n.NAMES,
                      ui_json=script_json(i18n.UI), pwa_head=PWA_HEAD, emergency=emergency,
                      map_label="map_main" if len(layers) > MAP_LAYERS else "map_all",
                      viewer_js=static["viewer.js"], viewer_css=static["viewer.css"],
                      fa_css=assets.url("@fortawesome/fontawesome-free", "css/fontawesome.min.css"),
                      fa_solid=assets.url("@fortawesome/fontawesome-free", "css/solid.min.css"),
                      fa_font=assets.url("@fortawesome/fontawesome-free", "webfonts/fa-solid-900.woff2"))
        common_key = _sha1([emergency, static, common["map_label"], fingerprint()])  # the rest: code
        template: Any = None
        for n, name in enumerate(names, start=1):
            chunk = cards[(n - 1) * INDEX_PAGE: n * INDEX_PAGE]
            where = dict(page=n, pages=pages, total=len(cards),
                         prev=names[n - 2] if n > 1 else None, next=names[n] if n < pages else None)

            def make(chunk: list[Any] = chunk, where: dict[str, Any] = where) -> str:
                nonlocal template
                if template is None:
                    env = Environment(loader=FileSystemLoader(str(files("geo_publish.publish.viewer") / "templates")),
                                      autoescape=select_autoescape(["html"]), keep_trailing_newline=True)
                    template = env.get_template("index.html")
                shown = [{**c, "freshness": f, "built": built} for c, _, f in chunk]
                return template.render(layers=shown, **where, **common)  # type: ignore[no-any-return]

            self._page(name, kept, [[d + f for _, d, f in chunk], where, built, common_key], make)
        self._drop_pages(kept, "index-")
        # every layer's search words, each entry made from the card's text: written when changed
        search = "[" + ",".join(c["_entry"][0] + f'"{names[k // INDEX_PAGE]}"' + c["_entry"][1]
                                + f'"{fresh}"}}' for k, (c, _, fresh) in enumerate(cards)) + "]"
        self._search = self._write_changed("search.json", search, "search")
        # the filters' values, each with how many layers have it (a count over every card, in
        # memory): the index pages fill their lists from it
        counts: dict[str, Counter[str]] = {key: Counter() for key in "okfr"}
        for c, _, fresh in cards:
            if c["organization"]:
                counts["o"][c["organization"]] += 1
            counts["k"].update(dict.fromkeys(c["keywords"], 1))
            counts["f"][c["format"]] += 1
            counts["r"][fresh] += 1
        facets = json.dumps({key: sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
                             for key, found in counts.items()}, ensure_ascii=False, separators=(",", ":"))
        self._facets = self._write_changed("facets.json", facets, "facets")

    def _write_changed(self, name: str, text: str, field: str) -> str:
        """``text`` written to ``name`` unless this process's last build wrote the same
        (``Warm``'s ``field``); the text."""
        if self._warm is None or getattr(self._warm, field) != text:
            write_text(self.site / name, text)
        return text
