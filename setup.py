"""Build hook: a wheel carries what `geo-publish demo` needs without this repository.

pyproject.toml holds the metadata; this adds one step to build_py (wheels only, not editable
installs): the viewer's vendored JavaScript, CSS and fonts (pinned in
geo_publish/publish/viewer/assets.py, each checked against its sha512 integrity) and the sample
layers' manifests and styles (collections/, styles/) are copied into the package. The assets come
from GEO_PUBLISH_VENDOR_DIR or the building Python's vendor folder when complete there, else from
the npm registry.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _assets_module():  # type: ignore[no-untyped-def]
    """assets.py on its own (the package's dependencies need not be installed to build it)."""
    sys.path.insert(0, str(HERE))
    try:
        spec = importlib.util.spec_from_file_location(
            "_gp_assets", HERE / "geo_publish" / "publish" / "viewer" / "assets.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[spec.name] = module  # type: ignore[union-attr]  (dataclasses look it up)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module
    finally:
        sys.path.remove(str(HERE))


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install uses scripts/setup.sh's vendor folder
        assets = _assets_module()
        target = Path(self.build_lib) / "geo_publish" / "publish" / "viewer" / assets.PACKAGED
        source = assets.vendor_dir()
        for pkg in assets.PACKAGES:
            if assets.verified(pkg, source):  # complete and matching its pinned integrity
                dst = assets.package_dir(pkg, target)
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(assets.package_dir(pkg, source), dst)
        assets.fetch(target)  # whatever was not there: from the registry, checked
        missing = assets.missing(target)
        if missing:
            raise SystemExit(f"viewer assets missing from the wheel: {missing}")
        samples = Path(self.build_lib) / "geo_publish" / "samples"
        for folder in ("collections", "styles"):
            out = samples / folder
            out.mkdir(parents=True, exist_ok=True)
            for f in sorted((HERE / folder).glob("*.yml")):
                shutil.copyfile(f, out / f.name)


setup(cmdclass={"build_py": BuildWithAssets})
