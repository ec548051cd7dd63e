"""Writes the developer notebooks of this folder (run it after editing the cells below).

    .venv/bin/python notebooks/make_notebooks.py

Each notebook talks to a running geo-publish server: GEO_PUBLISH_URL, default
http://127.0.0.1:5000 (what `scripts/demo.sh` serves). The test suite executes all three
against a live demo server (tests/test_notebooks.py).
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SETUP = """import os
URL = os.environ.get("GEO_PUBLISH_URL", "http://127.0.0.1:5000").rstrip("/")
URL"""

NOTEBOOKS = {
    "01_discover_collections_and_passports.ipynb": [
        new_markdown_cell("# 1. Discover collections and their data passports\n\n"
                          "Start the demo first: `scripts/demo.sh` (serves http://127.0.0.1:5000)."),
        new_code_cell(SETUP),
        new_markdown_cell("## Collections, with OWSLib (OGC API - Features)"),
        new_code_cell("""from owslib.ogcapi.features import Features

api = Features(URL)
collections = api.collections()["collections"]
for c in collections:
    print(f"{c['id']:<12} {c.get('itemType', 'feature'):<8} {c['title']}")
assert {"shelters", "hospitals", "regions"} <= {c["id"] for c in collections}"""),
        new_markdown_cell("## Passports: who answers for a layer, its licence, what was measured"),
        new_code_cell("""import httpx

passport = httpx.get(f"{URL}/passports/shelters.json").json()
print(passport["organization"], "|", passport["responsible"]["name"], passport["responsible"]["email"])
print("licence:", passport["license"], "| version:", passport["version"],
      "| features:", passport["feature_count"], "| source CRS:", passport["source"]["crs"])
print("quality:", passport["quality"])
dcat = httpx.get(f"{URL}/passports/shelters.jsonld").json()
print(dcat["@type"] if "@type" in dcat else list(dcat)[:5])"""),
        new_markdown_cell("## The records catalogue (OGC API - Records): one record per layer"),
        new_code_cell("""records = httpx.get(f"{URL}/collections/catalogue/items", params={"f": "json"}).json()
for r in records["features"]:
    print(f"{r['id']:<12} {r['properties']['title']:<32} {r['properties'].get('license')}")
assert len(records["features"]) == len([c for c in collections if c["id"] != "catalogue"])"""),
        new_markdown_cell("## Items into geopandas"),
        new_code_cell("""import geopandas as gpd

items = api.collection_items("shelters", limit=1000)
shelters = gpd.GeoDataFrame.from_features(items["features"], crs="OGC:CRS84")
print(len(shelters), "shelters;", items["numberMatched"], "matched")
shelters[["nazvanie", "gorod", "vmest"]].head()"""),
        new_code_cell("""by_city = shelters.groupby("gorod")["vmest"].sum().sort_values(ascending=False)
assert len(shelters) == items["numberMatched"]
by_city.head(10)"""),
    ],
    "02_filter_and_page.ipynb": [
        new_markdown_cell("# 2. Filter with CQL2 and bbox, page through a collection"),
        new_code_cell(SETUP),
        new_code_cell("""import httpx
import geopandas as gpd

client = httpx.Client(base_url=URL, timeout=30)

def items(cid, **params):
    r = client.get(f"/collections/{cid}/items", params={"f": "json", **params})
    r.raise_for_status()
    return r.json()"""),
        new_markdown_cell("## CQL2 text: large shelters (queryables first)"),
        new_code_cell("""queryables = client.get("/collections/shelters/queryables", params={"f": "json"}).json()
print(list(queryables["properties"]))
big = items("shelters", filter="vmest >= 500", limit=1000)
print(big["numberMatched"], "shelters take 500 people or more")
assert all(f["properties"]["vmest"] >= 500 for f in big["features"])"""),
        new_markdown_cell("## CQL2 JSON, and a spatial predicate"),
        new_code_cell("""import json

tashkent = {"op": "s_intersects", "args": [{"property": "geometry"},
            {"type": "Polygon", "coordinates": [[[69.0, 41.1], [69.5, 41.1], [69.5, 41.5], [69.0, 41.5], [69.0, 41.1]]]}]}
near = items("hospitals", filter=json.dumps(tashkent), **{"filter-lang": "cql2-json"}, limit=100)
print(near["numberMatched"], "hospitals in the Tashkent box")
assert near["numberMatched"] >= 1"""),
        new_markdown_cell("## bbox"),
        new_code_cell("""box = "70.5,40.2,73.2,41.4"  # the Fergana valley
fergana = gpd.GeoDataFrame.from_features(items("shelters", bbox=box, limit=1000)["features"], crs="OGC:CRS84")
print(len(fergana), "shelters in the Fergana valley")
w, s, e, n = map(float, box.split(","))
assert fergana.geometry.intersects(gpd.GeoSeries.from_wkt([f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"]).iloc[0]).all()"""),
        new_markdown_cell("## Paging: follow the `next` links to the end"),
        new_code_cell("""url, pages, ids = f"/collections/shelters/items?f=json&limit=10", 0, []
while url:
    doc = client.get(url).json()
    ids += [f["id"] for f in doc["features"]]
    pages += 1
    url = next((l["href"] for l in doc["links"] if l["rel"] == "next"), None)
print(pages, "pages,", len(ids), "features")
assert len(ids) == len(set(ids)) == doc["numberMatched"]"""),
    ],
    "03_coverage_subset_with_rasterio.ipynb": [
        new_markdown_cell("# 3. Read a coverage subset with rasterio and plot it\n\n"
                          "OGC API - Coverages: `/collections/seismic/coverage` with `bbox` and `f=GTiff`."),
        new_code_cell(SETUP),
        new_code_cell("""import httpx

meta = httpx.get(f"{URL}/collections/seismic", params={"f": "json"}).json()
schema = httpx.get(f"{URL}/collections/seismic/schema", params={"f": "json"}).json()
print(meta["title"], "|", {k: (v["title"], v.get("x-ogc-unit")) for k, v in schema["properties"].items()})"""),
        new_code_cell("""import rasterio
from rasterio.io import MemoryFile

bbox = (70.5, 40.0, 73.0, 41.5)  # the Fergana valley
r = httpx.get(f"{URL}/collections/seismic/coverage",
              params={"f": "GTiff", "bbox": ",".join(map(str, bbox))}, timeout=60)
r.raise_for_status()
with MemoryFile(r.content) as mem, mem.open() as ds:
    pga = ds.read(1, masked=True)
    extent = (ds.bounds.left, ds.bounds.right, ds.bounds.bottom, ds.bounds.top)
    print(ds.crs, ds.shape, ds.descriptions, "max PGA", float(pga.max()))
assert ds.crs.to_epsg() == 4326 and pga.count() > 0"""),
        new_code_cell("""import matplotlib
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 4))
im = ax.imshow(pga, extent=extent, cmap="YlOrRd")
fig.colorbar(im, ax=ax, label="peak ground acceleration (g)")
ax.set_title("Seismic hazard (sample): Fergana valley")
ax.set_xlabel("longitude"); ax.set_ylabel("latitude")
plt.show()"""),
        new_markdown_cell("The same subset as CoverageJSON, values in a list:"),
        new_code_cell("""cj = httpx.get(f"{URL}/collections/seismic/coverage",
              params={"f": "json", "bbox": "71.5,40.8,71.6,40.9"}).json()
band = next(iter(cj["ranges"]))
values = [v for v in cj["ranges"][band]["values"] if v is not None]
print(cj["parameters"][band]["unit"], len(values), "cells, max", max(values))"""),
    ],
}

for name, cells in NOTEBOOKS.items():
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                             "language": "python"}})
    nbformat.write(nb, HERE / name)
    print("wrote", name)
