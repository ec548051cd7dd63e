"""Serving while a 1,000,000-point layer is re-published: 64 connections for 60 s against
``items?limit=10`` and a bbox request (alternating), the same layer ingested again a few seconds
in, against the same server before any republish (the anchor: the quiet run).

    apt-get install wrk                               # once (benchmarks/setup_anchors.sh does it)
    .venv/bin/python benchmarks/republish_bench.py [--backend geopackage|postgis] [--points 1000000]
        [--duration 60] [--workdir DIR]

Prints, for the quiet run and the republish run side by side: requests/s, non-2xx, socket
errors (wrk's timeouts are requests over 2 s), p50/p99; and how long after the ingest ended the
new version was answered by every worker. A second part measures head-of-line blocking: one
worker, 4 slow CQL2 spatial requests kept in flight, p99 of ``items?limit=10`` on that worker
against the same without them.
"""

from __future__ import annotations

import argparse
import re
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

from serve_bench import free_port, make_points, psql, start, stop  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
DB = "gp_republish_bench"
LUA = """
local paths = {"/collections/pts/items?limit=10",
               "/collections/pts/items?limit=10&bbox=68.0,39.0,68.1,39.1"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def gp(work: Path, *args: str, env: dict[str, str] | None = None) -> float:
    import os

    t0 = time.monotonic()
    subprocess.run([str(ROOT / ".venv/bin/geo-publish"), "--config", str(work / "config.yml"), *args],
                   check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.monotonic() - t0


def wrk(url: str, duration: int, connections: int, script: Path | None, threads: int = 2) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "2s"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "requests": int(total.group(1)) if total else 0,
            "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(x) for x in sock.groups()[:3]) if sock else 0,
            "over_2s": int(sock.group(4)) if sock else 0,
            "p50_ms": _ms(r"50%\s+", out), "p99_ms": _ms(r"99%\s+", out),
            # the longest request: the thread stats' Max (requests past --timeout are not in it)
            "max_ms": _ms(r"Latency\s+\S+\s+\S+\s+", out)}


def _ms(before: str, out: str) -> float:
    """The duration wrk prints after ``before`` (a regular expression), in milliseconds."""
    m = re.search(before + r"([\d.]+)(us|ms|s)\b", out)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def version_everywhere(url: str, want: int, probes: int = 16) -> bool:
    """Do ``probes`` consecutive requests (spread over the workers) all see version ``want``?"""
    for _ in range(probes):
        r = httpx.get(f"{url}/collections/pts?f=json", timeout=5)
        if r.status_code != 200 or r.json().get("version") != want:
            return False
    return True


def republish_run(a: argparse.Namespace, work: Path, env: dict[str, str], script: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start([str(ROOT / ".venv/bin/geo-publish"), "--config", str(work / "config.yml"),
                    "serve", "--port", str(port), "--workers", "2"], env, url + "/conformance",
                   work / "server.log")
    try:
        while not httpx.get(url + "/site/", timeout=5).status_code == 200:
            time.sleep(1)  # the first site build: not part of either run
        quiet = wrk(url, a.duration, 64, script)
        times: dict[str, float] = {}

        def republish() -> None:
            time.sleep(5)
            times["ingest"] = gp(work, "ingest", str(work / "pts.gpkg"), "--collection", "pts", env=env)
            times["ended"] = time.monotonic()
            while not version_everywhere(url, 2):
                time.sleep(0.1)
            times["served"] = time.monotonic() - times["ended"]

        t = threading.Thread(target=republish)
        t.start()
        loaded = wrk(url, a.duration, 64, script)
        t.join()
        print(f"\n{a.backend}, {a.points:,} points, 2 workers, wrk -c64 -d{a.duration}s "
              "(items?limit=10 and bbox alternating)")
        print(f"{'':<24}{'quiet (anchor)':>16}{'republish':>16}")
        for k in ("rps", "requests", "non2xx", "socket_errors", "over_2s", "p50_ms", "p99_ms", "max_ms"):
            print(f"{k:<24}{quiet[k]:>16.1f}{loaded[k]:>16.1f}")
        print(f"ingest during the load: {times['ingest']:.1f} s; new version on every worker "
              f"{times['served']:.2f} s after the ingest ended")
        print(f"p99 ratio republish/quiet: {loaded['p99_ms'] / quiet['p99_ms']:.2f}")
    finally:
        stop(server)



def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["geopackage", "postgis"], default="geopackage")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--only-hol", action="store_true", help="only the head-of-line part")
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="gp-republish-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "pts.gpkg"
    if not src.exists():
        make_points(src, a.points)
    env = {}
    if a.backend == "postgis":
        psql(f"DROP DATABASE IF EXISTS {DB}")
        psql(f"CREATE DATABASE {DB}")
        psql("CREATE EXTENSION postgis", DB)
        env["GEO_PUBLISH_DSN"] = f"{PG}/{DB}"
        store = "store: {backend: postgis, dsn: '${GEO_PUBLISH_DSN}'}"
    else:
        (work / "data" / "store.gpkg").unlink(missing_ok=True)
        store = "store: {backend: geopackage, path: data/store.gpkg}"
    (work / "config.yml").write_text(store + "\n")
    print(f"ingest v1 of {a.points:,} points: {gp(work, 'ingest', str(src), '--collection', 'pts', env=env):.1f} s",
          flush=True)
    script = work / "mix.lua"
    script.write_text(LUA)

    if not a.only_hol:
        republish_run(a, work, env, script)

    # -- head-of-line blocking: one worker, 4 slow spatial CQL2 requests in flight ----------------
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start([str(ROOT / ".venv/bin/geo-publish"), "--config", str(work / "config.yml"),
                    "serve", "--port", str(port), "--workers", "1"], env, url + "/conformance",
                   work / "server1.log")
    slow = (f"{url}/collections/pts/items?limit=10&filter=S_INTERSECTS(geometry,"
            "POLYGON((66 38,72 38,72 42,66 42,66 38))) AND value > 998")
    stop_slow = threading.Event()
    slow_times: list[float] = []

    def hammer() -> None:
        with httpx.Client(timeout=120) as c:
            while not stop_slow.is_set():
                t0 = time.monotonic()
                c.get(slow)
                slow_times.append(time.monotonic() - t0)

    try:
        base = wrk(url + "/collections/pts/items?limit=10", 10, 4, None, threads=1)
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for th in threads:
            th.start()
        time.sleep(2)
        busy = wrk(url + "/collections/pts/items?limit=10", 10, 4, None, threads=1)
        stop_slow.set()
        for th in threads:
            th.join()
        print(f"\none worker, items?limit=10 at -c4 for 10 s: alone p99 {base['p99_ms']:.1f} ms "
              f"({base['rps']:.0f} req/s); with 4 slow CQL2 spatial requests in flight p99 "
              f"{busy['p99_ms']:.1f} ms ({busy['rps']:.0f} req/s, non-2xx {busy['non2xx']}); "
              f"a slow request took {sorted(slow_times)[len(slow_times) // 2]:.2f} s (median of "
              f"{len(slow_times)})")
    finally:
        stop(server)


if __name__ == "__main__":
    main()
