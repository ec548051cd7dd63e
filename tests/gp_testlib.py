"""One small canonical dataset, converted to every format by fixtures; a project per test."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from geo_publish.cli.main import main

# Canonical: 12 points in Uzbekistan with Cyrillic and Uzbek text, ids and capacities.
NAMES = ["Ташкент школа №1", "Самарканд спортзал", "Наманган дом культуры", "Андижан больница",
         "Фергана мечеть", "Джизак школа", "Гулистан стадион", "Карши лицей", "Термез колледж",
         "Навои школа", "Чирчик клуб", "Ангрен зал"]
LONLAT = [(69.2401, 41.2995), (66.9597, 39.6542), (71.6726, 40.9983), (72.3442, 40.7821),
          (71.7843, 40.3842), (67.8422, 40.1158), (68.7842, 40.4897), (65.789, 38.8606),
          (67.2783, 37.2242), (65.3792, 40.0844), (69.5982, 41.4689), (70.1436, 41.0167)]


def canonical_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ID": np.arange(1, 13), "НАЗВАНИЕ": NAMES, "ВМЕСТ": np.arange(100, 1300, 100),
         "nomi": [f"Ўзбекистон {i}" for i in range(12)]},
        geometry=shapely.points(LONLAT), crs="OGC:CRS84",
    )


def canonical_polygons() -> gpd.GeoDataFrame:
    pts = canonical_points()
    pts["geometry"] = shapely.buffer(pts.geometry.array, 0.01, quad_segs=2)
    return pts


@dataclass
class Project:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def store(self) -> Path:
        return self.root / "data" / "store.gpkg"

    def run(self, *args: str) -> int:
        return main(["--config", str(self.config), *args])

    def report(self, collection: str, version: int = 1) -> dict:
        return json.loads((self.root / "data" / "reports" / collection / f"v{version}.json").read_text())

    def state(self) -> dict:
        """What a reader of the store can see: versions, published pointers, tables."""
        if not self.store.exists():
            return {}
        with sqlite3.connect(self.store) as c:
            return {
                "versions": c.execute("SELECT collection, version, feature_count, passport FROM gp_versions ORDER BY 1, 2").fetchall(),
                "published": c.execute("SELECT collection, version FROM gp_published ORDER BY 1").fetchall(),
                "tables": sorted(r[0] for r in c.execute("SELECT table_name FROM gpkg_contents")),
            }


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n")
    return Project(tmp_path)


def write_shapefile(frame: gpd.GeoDataFrame, folder: Path, name: str, encoding: str,
                    cpg: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / f"{name}.shp"
    pyogrio.write_dataframe(frame, shp, encoding=encoding)
    for f in folder.glob(f"{name}.cpg"):
        f.unlink()
    with open(shp.with_suffix(".dbf"), "r+b") as dbf:  # LDID 0: no hint, like old tools
        dbf.seek(29)
        dbf.write(b"\0")
    if cpg is not None:
        shp.with_suffix(".cpg").write_text(cpg)
    return shp


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return target


@pytest.fixture
def points() -> gpd.GeoDataFrame:
    return canonical_points()


@pytest.fixture
def polygons() -> gpd.GeoDataFrame:
    return canonical_polygons()


def published(project: Project, collection: str) -> gpd.GeoDataFrame:
    from geo_publish.settings import load_settings
    from geo_publish.store import open_store

    return open_store(load_settings(project.config)).read(collection)
