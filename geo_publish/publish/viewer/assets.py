"""Front-end assets of the viewer, vendored from the npm registry at set-up time, versions pinned.

The site must make no request outside its own origin, so Leaflet, supercluster, protomaps-leaflet
and the Font Awesome icon font are copied into it (and, for pygeoapi's HTML pages, Leaflet.markercluster,
Bootstrap's CSS and Swagger UI). They are fetched once by the set-up (``python -m
geo_publish.publish.viewer.assets``, run by scripts/setup.sh), checked against the registry's
sha512 integrity, and kept beside the Python environment (``<prefix>/share/geo-publish/vendor``);
a wheel carries them inside the package (setup.py). Building a site never touches the network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from geo_publish.errors import ServeError


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity (sha512, base64)
    files: tuple[str, ...]  # paths inside the tarball's package/ folder (a trailing / = folder)

    @property
    def folder(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def tarball(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.folder}-{self.version}.tgz"


PACKAGES = (
    Package("leaflet", "1.9.4",
            "sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA==",
            ("LICENSE", "dist/leaflet.js", "dist/leaflet.css", "dist/images/")),
    Package("supercluster", "8.0.1",
            "sha512-IiOea5kJ9iqzD2t7QJq/cREyLHTtSmUT6gQsweojg9WH2sYJqZK9SswTu6jrscO6D1G5v5vYZ9ru/eq85lXeZQ==",
            ("LICENSE", "dist/supercluster.min.js")),
    # draws large layers from vector tiles (PMTiles archives or the API's tiles) on canvas
    Package("protomaps-leaflet", "5.1.0",
            "sha512-N0YY1Gbw5nZ9n8VUOvwHKm/w3zhTTuaZEeMZl8doHemeM4ujGPp2otI6t4Sgqrz8iM4svx2rpG1Q17rHkOWSaA==",
            ("LICENSE", "dist/protomaps-leaflet.js")),
    Package("@fortawesome/fontawesome-free", "6.7.2",
            "sha512-JUOtgFW6k9u4Y+xeIaEiLr3+cjoUPiAuLXoyKOJSia6Duzb7pq+A76P9ZdPDoAoxHdHzq6gE9/jKBGXlZT8FbA==",
            ("LICENSE.txt", "css/fontawesome.min.css", "css/solid.min.css",
             "webfonts/fa-solid-900.woff2", "webfonts/fa-solid-900.ttf")),
    # for pygeoapi's own HTML pages (their templates point at unpkg; ours point here)
    Package("leaflet.markercluster", "1.5.3",
            "sha512-vPTw/Bndq7eQHjLBVlWpnGeLa3t+3zGiuM7fJwCkiMFq+nmRuG3RI3f7f4N4TDX7T4NpbAXpR2+NTRSEGfCSeA==",
            ("MIT-LICENCE.txt", "dist/leaflet.markercluster-src.js", "dist/leaflet.markercluster.js",
             "dist/MarkerCluster.css", "dist/MarkerCluster.Default.css")),
    Package("bootstrap", "5.1.3",
            "sha512-fcQztozJ8jToQWXxVuEyXWW+dSo8AiXWKwiSSrKWsRB/Qt+Ewwza+JWoLKiTuQLaEPhdNAJ7+Dosc9DOIqNy7Q==",
            ("LICENSE", "dist/css/bootstrap.min.css")),
    Package("swagger-ui-dist", "5.17.14",
            "sha512-CVbSfaLpstV65OnSjbXfVd6Sta3q3F7Cj/yYuvHMp1P90LztOLs6PfUnKEVAeiIVQt9u2SaPwv0LiH/OyMjHRw==",
            ("LICENSE", "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
             "favicon-16x16.png", "favicon-32x32.png")),
)


PACKAGED = "_vendor"  # inside this package, in a wheel (setup.py copies them in at build time)


def vendor_dir() -> Path:
    """Where the assets are: GEO_PUBLISH_VENDOR_DIR, else inside the package (a wheel), else
    beside the Python environment (``<prefix>/share/geo-publish/vendor``, scripts/setup.sh)."""
    env = os.environ.get("GEO_PUBLISH_VENDOR_DIR")
    if env:
        return Path(env)
    packaged = Path(__file__).resolve().parent / PACKAGED
    if packaged.is_dir() and not missing(packaged):
        return packaged
    return Path(sys.prefix) / "share" / "geo-publish" / "vendor"


def package_dir(pkg: Package, root: Path | None = None) -> Path:
    return (root or vendor_dir()) / f"{pkg.folder}-{pkg.version}"


def _complete(pkg: Package, root: Path) -> bool:
    return (package_dir(pkg, root) / ".integrity").is_file() and (
        package_dir(pkg, root) / ".integrity").read_text() == pkg.integrity


def verified(pkg: Package, root: Path) -> bool:
    """Unpacked from a tarball that matched the pinned integrity, and every file still there."""
    if not _complete(pkg, root):
        return False
    folder = package_dir(pkg, root)
    return all((folder / f).is_dir() if f.endswith("/") else (folder / f).is_file() for f in pkg.files)


def missing(root: Path | None = None, packages: tuple[Package, ...] = PACKAGES) -> list[Package]:
    root = root or vendor_dir()
    return [p for p in packages if not _complete(p, root)]


def _extract(pkg: Package, data: bytes, target: Path) -> None:
    algo, _, want = pkg.integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise ServeError(f"{pkg.tarball}: integrity check failed (expected {pkg.integrity})")
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/")
            if not member.isfile() or not any(
                    rel == f or (f.endswith("/") and rel.startswith(f)) for f in pkg.files):
                continue
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None
            out.write_bytes(src.read())
    (tmp / ".integrity").write_text(pkg.integrity)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def fetch(root: Path | None = None, timeout: float = 60.0,
          packages: tuple[Package, ...] = PACKAGES) -> list[Package]:
    """Download and unpack the pinned packages that are not there yet (set-up time only)."""
    root = root or vendor_dir()
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for pkg in missing(root, packages):
        try:
            with urllib.request.urlopen(pkg.tarball, timeout=timeout) as resp:
                data = resp.read()
        except OSError as err:
            raise ServeError(f"{pkg.tarball}: cannot download viewer asset ({err})",
                             hint="the set-up needs the npm registry once") from err
        _extract(pkg, data, package_dir(pkg, root))
        done.append(pkg)
    return done


def copy_into(site: Path, previous: Path | None = None) -> Path:
    """Copy the vendored packages into ``site/vendor`` (linked from ``previous``, a site built
    before, when it has the same); the error says how to install them."""
    root = vendor_dir()
    absent = missing(root)
    if absent:
        names = ", ".join(f"{p.name}@{p.version}" for p in absent)
        raise ServeError(f"{root}: viewer assets not installed ({names})",
                         hint="run scripts/setup.sh, or: python -m geo_publish.publish.viewer.assets")
    out = site / "vendor"
    for pkg in PACKAGES:
        src, dst = package_dir(pkg, root), out / package_dir(pkg, root).name
        if (dst / ".integrity").is_file() and (dst / ".integrity").read_text() == pkg.integrity:
            continue
        shutil.rmtree(dst, ignore_errors=True)
        old = previous / "vendor" / dst.name if previous else None
        if old and (old / ".integrity").is_file() and (old / ".integrity").read_text() == pkg.integrity:
            try:
                shutil.copytree(old, dst, copy_function=os.link)
                continue
            except OSError:
                shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
    return out


def url(name: str, path: str) -> str:
    """Site-relative URL of a vendored file, e.g. url("leaflet", "dist/leaflet.js")."""
    pkg = next(p for p in PACKAGES if p.name == name)
    return f"vendor/{pkg.folder}-{pkg.version}/{path}"


def icon_names() -> frozenset[str]:
    """Font Awesome icon names the vendored CSS defines (to check styles' ``icon``)."""
    import re

    pkg = next(p for p in PACKAGES if p.folder == "fontawesome-free")
    css = (package_dir(pkg) / "css" / "fontawesome.min.css").read_text(encoding="utf-8")
    names: set[str] = set()
    for rule in css.split("}"):
        selectors, _, body = rule.partition("{")
        if body.startswith("--fa:"):
            names.update(re.findall(r"\.fa-([a-z0-9-]+)", selectors))
    return frozenset(names)


if __name__ == "__main__":  # pragma: no cover - run by scripts/setup.sh
    try:
        fetched = fetch()
    except ServeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    for p in fetched:
        print(f"viewer assets: {p.name}@{p.version} -> {package_dir(p)}")
