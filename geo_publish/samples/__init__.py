"""Sample layers around Uzbekistan for the demo and the docs (see README.md beside this file)."""

from __future__ import annotations

import json
import zipfile
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

# Real city centres (lon, lat), rounded; names in Uzbek Latin and Russian.
CITIES = [
    ("Toshkent", "Ташкент", 69.2401, 41.2995),
    ("Samarqand", "Самарканд", 66.9597, 39.6542),
    ("Namangan", "Наманган", 71.6726, 40.9983),
    ("Andijon", "Андижан", 72.3442, 40.7821),
    ("Farg'ona", "Фергана", 71.7843, 40.3842),
    ("Jizzax", "Джизак", 67.8422, 40.1158),
    ("Guliston", "Гулистан", 68.7842, 40.4897),
    ("Qarshi", "Карши", 65.7890, 38.8606),
    ("Termiz", "Термез", 67.2783, 37.2242),
    ("Navoiy", "Навои", 65.3792, 40.0844),
    ("Buxoro", "Бухара", 64.4286, 39.7747),
    ("Urganch", "Ургенч", 60.6333, 41.5500),
    ("Nukus", "Нукус", 59.6103, 42.4531),
]
SHELTER_KINDS = ["школа", "спортзал", "дом культуры", "больница", "мечеть"]
SOURCES = {
    "shelters": "shelters.zip",
    "hospitals": "hospitals.csv",
    "regions": "regions.gpkg",
    "seismic": "seismic_pga.tif",
}
# invented seismic sources (lon, lat, peak ground acceleration in g, spread in km): the Fergana
# valley and Tashkent are the country's most seismic areas; the figures are not a hazard map
QUAKES = [(71.7, 40.9, 0.45, 90), (69.3, 41.3, 0.35, 70), (67.0, 39.7, 0.25, 80),
          (66.3, 38.5, 0.2, 120)]


def outline() -> shapely.Polygon:
    text = files("geo_publish.samples").joinpath("uzbekistan_ne_110m.geojson").read_text()
    return shapely.from_geojson(json.dumps(json.loads(text)["features"][0]["geometry"]))


def _shelters(rng: np.random.Generator, out: Path) -> Path:
    """Zipped shapefile, cp1251 without .cpg, Pulkovo 1942 / Gauss-Kruger zone 12 (EPSG:28412)."""
    rows, geoms = [], []
    zone12 = [c for c in CITIES if 65.0 <= c[2] <= 73.0]
    n = 0
    for uz, ru, lon, lat in zone12:
        for k in range(6):
            n += 1
            x, y = lon + rng.normal(0, 0.04), lat + rng.normal(0, 0.03)
            d = 0.0004
            geoms.append(shapely.box(x - d, y - d, x + d, y + d))
            rows.append({"ID": n, "НАЗВАНИЕ": f"{ru}: пункт №{k + 1} ({SHELTER_KINDS[k % 5]})",
                         "ГОРОД": ru, "ВМЕСТ": int(rng.integers(50, 800)),
                         "ТЕЛЕФОН": f"+998 71 {rng.integers(100, 999)} {rng.integers(10, 99)} 00"})
    # three broken features, as real layers have them: two bow-ties and one without geometry
    for j, (uz, ru, lon, lat) in enumerate(zone12[:2]):
        n += 1
        geoms.append(shapely.Polygon([(lon, lat), (lon + .001, lat + .001), (lon + .001, lat), (lon, lat + .001)]))
        rows.append({"ID": n, "НАЗВАНИЕ": f"{ru}: стадион", "ГОРОД": ru, "ВМЕСТ": 2000,
                     "ТЕЛЕФОН": ""})
    n += 1
    geoms.append(None)
    rows.append({"ID": n, "НАЗВАНИЕ": "Без координат", "ГОРОД": "Ташкент", "ВМЕСТ": 100, "ТЕЛЕФОН": ""})
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="OGC:CRS84").to_crs("EPSG:28412")
    folder = out / "shelters_src"
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / "shelters.shp"
    pyogrio.write_dataframe(frame, shp, encoding="cp1251")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()
    with open(shp.with_suffix(".dbf"), "r+b") as dbf:  # language driver id 0: "unknown", as old tools write
        dbf.seek(29)
        dbf.write(b"\0")
    target = out / SOURCES["shelters"]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"shelters/{f.name}")
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    return target


def _hospitals(rng: np.random.Generator, out: Path) -> Path:
    """CSV in cp1251, ';' separated, decimal commas, lon/lat columns; one row lacks coordinates."""
    rows = []
    n = 0
    for uz, ru, lon, lat in CITIES:
        for k in range(3):
            n += 1
            rows.append({
                "id": n, "название": f"Городская больница №{k + 1}, {ru}", "город": ru,
                "койки": int(rng.integers(40, 600)),
                "lon": f"{lon + rng.normal(0, 0.03):.5f}".replace(".", ","),
                "lat": f"{lat + rng.normal(0, 0.02):.5f}".replace(".", ","),
            })
    rows.append({"id": n + 1, "название": "Больница (адрес уточняется)", "город": "Ташкент",
                 "койки": 120, "lon": "", "lat": ""})
    target = out / SOURCES["hospitals"]
    pd.DataFrame(rows).to_csv(target, sep=";", index=False, encoding="cp1251")
    return target


def _regions(out: Path) -> Path:
    """GeoPackage in UTM zone 42N: the country outline cut into invented regions around cities."""
    country = outline()
    pts = shapely.multipoints([(c[2], c[3]) for c in CITIES])
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=country.envelope.buffer(1)))
    rows, geoms = [], []
    for cell in cells:
        part = shapely.intersection(cell, country)
        if part.is_empty:
            continue
        city = next(c for c in CITIES if cell.contains(shapely.Point(c[2], c[3])))
        rows.append({"name_uz": f"{city[0]} hududi", "name_ru": f"{city[1]} (район)",
                     "centre": city[0]})
        geoms.append(part)
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs="OGC:CRS84").to_crs("EPSG:32642")
    target = out / SOURCES["regions"]
    target.unlink(missing_ok=True)
    pyogrio.write_dataframe(frame, target, layer="regions", driver="GPKG")
    return target


def _seismic(out: Path) -> Path:
    """GeoTIFF in UTM zone 42N, 2 km cells: an invented peak-ground-acceleration surface over
    the country (nodata outside the outline), one float32 band with description and unit."""
    import rasterio
    from rasterio.features import geometry_mask
    from rasterio.transform import from_origin

    cell, x0, y0, width, height = 2000.0, -650_000.0, 4_850_000.0, 760, 450
    transform = from_origin(x0, y0, cell, cell)
    xs = x0 + cell * (np.arange(width) + 0.5)
    ys = y0 - cell * (np.arange(height) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32642, 4326, always_xy=True).transform(gx, gy)
    pga = np.full(gx.shape, 0.05)
    for qlon, qlat, peak, spread in QUAKES:
        d2 = ((lon - qlon) * 85.0) ** 2 + ((lat - qlat) * 111.0) ** 2
        pga = np.maximum(pga, peak * np.exp(-d2 / (2 * spread**2)))
    shape = gpd.GeoSeries([outline()], crs="OGC:CRS84").to_crs(32642).iloc[0]
    outside = geometry_mask([shape.__geo_interface__], out_shape=gx.shape, transform=transform)
    pga = np.where(outside, -9999.0, np.round(pga, 4)).astype("float32")
    target = out / SOURCES["seismic"]
    with rasterio.open(target, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="float32", crs="EPSG:32642", transform=transform, nodata=-9999.0,
                       compress="deflate", tiled=True) as dst:
        dst.write(pga, 1)
        dst.set_band_description(1, "peak ground acceleration")
        dst.set_band_unit(1, "g")
    return target


def packaged() -> tuple[Path, Path] | None:
    """The sample manifests and styles a wheel carries (setup.py copies them in), if any."""
    here = Path(__file__).resolve().parent
    found = (here / "collections", here / "styles")
    return found if all(d.is_dir() for d in found) else None


def build(out: Path, seed: int = 42) -> dict[str, Path]:
    """Write the sample sources into ``out``; same seed, same files."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return {"shelters": _shelters(rng, out), "hospitals": _hospitals(rng, out), "regions": _regions(out),
            "seismic": _seismic(out)}


if __name__ == "__main__":  # pragma: no cover
    import sys

    for name, path in build(Path(sys.argv[1] if len(sys.argv) > 1 else "data/sources")).items():
        print(f"{name}: {path}")
