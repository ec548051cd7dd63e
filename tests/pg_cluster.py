"""Private PostgreSQL servers for the tests that stop, restart or replicate one: a primary and a
streaming replica on free local ports, made with the machine's PostgreSQL 15 binaries (the same
packages that run the shared server; PostGIS comes from postgresql-15-postgis-3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_testlib import free_port

PGBIN = Path(os.environ.get("GEO_PUBLISH_PGBIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: run its tools as the postgres user when we are root."""
    cmd = ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120, **kw)  # type: ignore[call-overload]


@dataclass
class Cluster:
    dir: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/gis"

    def ctl(self, action: str) -> None:
        _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(self.dir), "-l", str(self.dir / "log"),
                      "-w", "-t", "60", "-m", "fast", action])

    def start(self) -> None:
        self.ctl("start")

    def stop(self) -> None:
        self.ctl("stop")


def _owned_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    return path


def _configure(data: Path, port: int, extra: str = "") -> None:
    conf = data / "postgresql.conf"
    text = conf.read_text() if conf.exists() else ""
    conf.write_text(text + f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{data}'\nfsync = off\n"
                    "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n" + extra)


def primary() -> Cluster:
    if not (PGBIN / "initdb").exists():
        pytest.fail(f"{PGBIN}: PostgreSQL 15 server binaries not found (Debian postgresql-15)")
    root = _owned_dir("gp-pg-primary-")
    data = root / "data"
    _as_postgres([str(PGBIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8"])
    port = free_port()
    _configure(data, port)
    with open(data / "pg_hba.conf", "a") as hba:
        hba.write("host replication postgres 127.0.0.1/32 trust\n")
    cluster = Cluster(data, port)
    cluster.start()
    _as_postgres([str(PGBIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gis"])
    import psycopg

    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    return cluster


def replica(of: Cluster) -> Cluster:
    root = _owned_dir("gp-pg-replica-")
    data = root / "data"
    _as_postgres([str(PGBIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(of.port), "-U",
                  "postgres", "-D", str(data), "-R", "-X", "stream", "-c", "fast"])
    port = free_port()
    _configure(data, port)
    cluster = Cluster(data, port)
    cluster.start()
    return cluster


def remove(cluster: Cluster) -> None:
    try:
        cluster.stop()
    except subprocess.CalledProcessError:
        pass
    shutil.rmtree(cluster.dir.parent, ignore_errors=True)


def wait_until(test, timeout: float = 30.0, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(every)
    return False
