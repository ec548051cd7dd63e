"""A national portal's catalogue: N small layers (20 points each) built through the real ingest,
on both stores, and what each operation costs at N = 10, 1,000 and 10,000 side by side (the
anchor is the same figure at the smallest N: the issue asks that the cost of an operation not
grow with the number of layers).

    .venv/bin/python benchmarks/many_layers_bench.py [--sizes 10,1000,10000]
        [--backends geopackage,postgis] [--requests 100] [--workdir DIR [--reuse]]

One project per backend grows from the smallest N to the largest; at each N it reports:
- ingest: median time of one more small layer through ``workflow.ingest`` (in process, as the
  portal's job runner runs it), over the last 20 layers, built one at a time (the others are
  built ``--jobs`` at a time: each collection has a file of its own);
- serve: ``geo-publish serve --workers 2`` from start to the first answer of ``/collections``;
- p50 over ``--requests`` requests: ``items?limit=10``, one item, a collection document, a
  DCAT page, ``/collections`` (first page), a catalogue search in Latin and in Cyrillic;
- publish: a new version of one layer until every worker serves it, the workers' CPU for it,
  and ``items?limit=10`` p99 on another layer meanwhile;
- RSS of each worker;
- the portal's job path for one more layer (upload, job, until its report is ready).

PostgreSQL on 127.0.0.1:5432 (trust) for the PostGIS store; the database ``gp_many_bench`` is
made anew.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from serve_bench import free_port, psql, start, stop  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
DB = "gp_many_bench"
BUILDER = r"""
import json, sys, time
from pathlib import Path
from geo_publish.settings import load_settings
from geo_publish import workflow
root, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = load_settings(root / "config.yml")
times = []
for i in range(first, last):
    cid = f"layer-{i:05d}"
    src = root / "src" / f"{cid}.geojson"
    t = time.perf_counter()
    workflow.ingest(s, src, cid, progress=False)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""
NAMES = [("maktab", "мактаб", "школа", "school"), ("shifoxona", "шифохона", "больница", "hospital"),
         ("boshpana", "бошпана", "убежище", "shelter"), ("yo'l", "йўл", "дорога", "road")]


def make_layer(root: Path, i: int) -> None:
    """A 20-point layer and its manifest: titles in uz (Latin), ru and en; feature names in
    Uzbek Cyrillic."""
    cid = f"layer-{i:05d}"
    uz, uz_cyr, ru, en = NAMES[i % len(NAMES)]
    feats = [{"type": "Feature", "properties": {"id": k, "name": f"{uz_cyr} {k}", "n": i * 100 + k},
              "geometry": {"type": "Point", "coordinates": [56 + (i % 170) / 10 + k / 1000,
                                                            37.2 + (i // 170) / 10 + k / 1000]}}
             for k in range(20)]
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / f"{cid}.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    (root / "collections").mkdir(exist_ok=True)
    org = f"Ministry {i % 83}"
    (root / "collections" / f"{cid}.yml").write_text(
        f"id: {cid}\ntitle: {json.dumps({'en': f'{en.title()}s {i}', 'uz': f'{uz.title()}lar {i}', 'ru': f'{ru.title()} {i}'}, ensure_ascii=False)}\n"
        f"keywords: [{en}]\nschema: {{id_field: id}}\n"
        f"passport:\n  organization: {org}\n  responsible: {{name: Officer {i}, email: o{i}@example.org}}\n"
        f"  license: CC-BY-4.0\n  update_frequency: monthly\n", encoding="utf-8")


def grow(root: Path, first: int, last: int, jobs: int = 1) -> list[float]:
    """Layers ``first`` .. ``last`` - 1 through the real ingest, ``jobs`` processes at once
    (each collection has a file of its own: ingests of different layers run side by side); the
    time of each ingest, in the order they were made within each process."""
    for i in range(first, last):
        make_layer(root, i)
    out: list[float] = []
    step = max(1, min(2000, -(-(last - first) // jobs)))  # a process per share, 2,000 at most
    for wave in range(first, last, step * jobs):
        procs = []
        for a in range(wave, min(last, wave + step * jobs), step):
            b = min(last, a + step)
            procs.append((a, b, subprocess.Popen([sys.executable, "-c", BUILDER, str(root), str(a), str(b)],
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 text=True, env=_env(root))))
        for a, b, proc in procs:
            stdout, stderr = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"building layers {a}..{b} failed:\n{stderr[-3000:]}")
            out += json.loads(stdout.strip().splitlines()[-1])
    return out


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "GP_BENCH_DSN": f"{PG}/{DB}", "PYTHONPATH": str(ROOT)}


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def timed(client: httpx.Client, url: str, n: int) -> float:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        out.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
    return statistics.median(out) * 1000


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):  # a child is listed under the thread that made it
        out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return out


def workers_of(pid: int) -> list[int]:
    """The serving processes (uvicorn's workers): the children of the forkserver that serve
    starts them from (``geo_publish.cli.serve.preloaded_workers``); the server itself when it
    serves in one process."""
    out = []
    for child in _children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing.forkserver" in cmd:
                out += _children(child)
        except OSError:  # ended meanwhile
            continue
    return out or [pid]


def cpu(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by every process of a process group (the server, its workers,
    its site builder and runners)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def settle(pgid: int, quiet: float = 0.1, timeout: float = 300) -> float:
    """Wait until the server is idle (less than ``quiet`` CPU seconds a second: the first site
    build and the catalogue's warming done), so that requests are measured on a quiet server;
    how long that took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        before = group_cpu(pgid)
        time.sleep(1.0)
        if group_cpu(pgid) - before < quiet:
            break
    return time.monotonic() - t0


def rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def publish(root: Path, cid: str, keep: int) -> float:
    """A new version of ``cid`` with its first ``keep`` features, through the CLI; when it ended."""
    src = root / "src" / f"{cid}-{keep}.geojson"
    data = json.loads((root / "src" / f"{cid}.geojson").read_text())
    data["features"] = data["features"][:keep]
    src.write_text(json.dumps(data))
    subprocess.run([str(ROOT / ".venv/bin/geo-publish"), "--config", str(root / "config.yml"),
                    "ingest", str(src), "--collection", cid], check=True, capture_output=True,
                   env=_env(root))
    return time.monotonic()


def portal_job(root: Path, url: str, n: int) -> float:
    """One more layer through the portal's job path, as an officer's browser sends it: an
    upload in one part, a job, until its report is ready; seconds from the job to the report."""
    from portal_bench import people

    token_file = root / "bench.token"
    if not token_file.exists():  # the organisation and its officer, once per project
        token_file.write_text(people(root / "config.yml", _env(root)))
    src = root / "src" / f"layer-{n // 2:05d}.geojson"
    body = src.read_bytes()
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {token_file.read_text().strip()}"}) as c:
        up = c.post("/publish/api/uploads", json={"org": "bench", "filename": src.name,
                                                  "size": len(body)}).json()
        r = c.patch(up["location"], content=body, headers={"Upload-Offset": "0"})
        assert r.status_code == 204, r.text
        t = time.monotonic()
        job = c.post("/publish/api/jobs", json={"upload": up["id"], "collection": f"portal-{n}"}).json()
        while job["status"] in ("queued", "running"):
            time.sleep(0.05)
            job = c.get(job["links"]["self"]).json()
        assert job["status"] == "ready", job
        return time.monotonic() - t


def measure(root: Path, n: int, requests: int) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = start([str(ROOT / ".venv/bin/geo-publish"), "--config", str(root / "config.yml"), "serve",
                  "--workers", "2", "--port", str(port)], _env(root), f"{url}/collections?f=json",
                 root / f"serve-{n}.log")
    fig: dict[str, float] = {"serve start → first answer (s)": time.monotonic() - t0}
    try:
        fig["then busy (site build, warming) (s)"] = settle(proc.pid)
        mid = f"layer-{n // 2:05d}"
        other = f"layer-{n // 3:05d}"
        with httpx.Client(timeout=60) as c:
            for path in ("/collections?f=json", f"/collections/{mid}/items?limit=10&f=json"):
                c.get(url + path)  # warm
            fig["items?limit=10 p50 (ms)"] = timed(c, f"{url}/collections/{mid}/items?limit=10&f=json", requests)
            fig["one item p50 (ms)"] = timed(c, f"{url}/collections/{mid}/items/7?f=json", requests)
            fig["collection document p50 (ms)"] = timed(c, f"{url}/collections/{mid}?f=json", requests)
            fig["DCAT page p50 (ms)"] = timed(c, f"{url}/catalog.jsonld", max(5, requests // 10))
            fig["/collections first page p50 (ms)"] = timed(c, f"{url}/collections?f=json", max(5, requests // 10))
            fig["catalogue q=maktab p50 (ms)"] = timed(c, f"{url}/collections/catalogue/items?q=maktab&f=json",
                                                       max(5, requests // 10))
            fig["catalogue q=мактаб p50 (ms)"] = timed(c, f"{url}/collections/catalogue/items?q=мактаб&f=json",
                                                       max(5, requests // 10))
            workers = workers_of(proc.pid)
            fig["worker RSS max (MB)"] = max(rss(w) for w in workers)
            # the workers' CPU for one publish: the same 3 s window, idle and with the publish
            time.sleep(1.5)
            idle0 = cpu(workers)
            time.sleep(3)
            idle = cpu(workers) - idle0
            before = cpu(workers)
            t_pub = publish(root, mid, 13)
            seen = 0
            while seen < 20 and time.monotonic() - t_pub < 60:  # 20 answers in a row: every worker
                got = c.get(f"{url}/collections/{mid}/items?limit=100&f=json").json()
                seen = seen + 1 if got.get("numberMatched") == 13 else 0
            fig["publish visible on every worker (s)"] = time.monotonic() - t_pub
            time.sleep(max(0.0, 3 - (time.monotonic() - t_pub)))
            fig["workers' CPU for the publish (s)"] = max(0.0, cpu(workers) - before - idle)
            # items p99 on another layer while a layer is published again
            lat: list[float] = []
            stop_reading = threading.Event()

            def read() -> None:
                with httpx.Client(timeout=60) as rc:
                    while not stop_reading.is_set():
                        t = time.perf_counter()
                        rc.get(f"{url}/collections/{other}/items?limit=10&f=json")
                        lat.append(time.perf_counter() - t)

            reader = threading.Thread(target=read)
            reader.start()
            time.sleep(0.5)
            publish(root, mid, 11)
            time.sleep(2)
            stop_reading.set()
            reader.join()
            fig["items p99 during a publish (ms)"] = p(lat, 0.99) * 1000
            fig["portal job: one more layer, job to report (s)"] = portal_job(root, url, n)
    finally:
        stop(proc)
    return fig


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000,10000")
    ap.add_argument("--backends", default="geopackage,postgis")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=2, help="ingests side by side while building")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the projects already in --workdir (and the PostGIS database): "
                         "a size at or below what is built is measured after 20 more layers")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gp-many-"))
    results: dict[str, dict[int, dict[str, float]]] = {}
    for backend in args.backends.split(","):
        root = work / backend
        root.mkdir(parents=True, exist_ok=True)
        built = 0
        if args.reuse and (root / "config.yml").exists():
            built = len(list((root / "collections").glob("layer-*.yml")))
        elif backend == "postgis":
            psql(f"DROP DATABASE IF EXISTS {DB}")
            psql(f"CREATE DATABASE {DB}")
            psql("CREATE EXTENSION IF NOT EXISTS postgis", DB)
            (root / "config.yml").write_text("store:\n  backend: postgis\n  dsn: ${GP_BENCH_DSN}\n"
                                             "catalogue: {page_size: 10}\n")
        else:  # DCAT pages of 10 datasets: a page says as much at every N
            (root / "config.yml").write_text("store: {backend: geopackage, path: data/store.gpkg}\n"
                                             "catalogue: {page_size: 10}\n")
        results[backend] = {}
        for n in sizes:
            n = built + 20 if args.reuse and built >= n else n
            t = time.monotonic()
            last = max(built, n - 20)
            grow(root, built, last, jobs=args.jobs)  # side by side (a file per layer)
            built_s = time.monotonic() - t
            times = grow(root, last, n)  # then (up to) 20 more, one at a time: the figure
            built = n
            fig = {"ingest of one more layer, median of the last 20 (ms)": statistics.median(times) * 1000,
                   f"building the layers, {args.jobs} at a time (s)": built_s}
            fig.update(measure(root, n, args.requests))
            results[backend][n] = fig
            print(f"{backend} N={n}: " + json.dumps(fig, ensure_ascii=False), flush=True)
    print()
    for backend, by_n in results.items():
        print(f"## {backend}")
        ns = sorted(by_n)
        print("| figure | " + " | ".join(f"N = {n:,}" for n in ns) + f" | ratio {ns[-1]:,} / {ns[0]:,} |")
        print("|---|" + "---|" * (len(ns) + 1))
        for key in by_n[ns[0]]:
            vals = [by_n[n].get(key, float("nan")) for n in ns]
            ratio = vals[-1] / vals[0] if vals[0] else float("nan")
            print(f"| {key} | " + " | ".join(f"{v:,.1f}" for v in vals) + f" | {ratio:.2f} |")
        print()
    print(f"work directory: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
