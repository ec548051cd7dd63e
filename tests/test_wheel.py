"""The built wheel works alone: installed in a new environment, run in an empty folder with no
file of this repository in reach, `geo-publish demo` ingests the samples, builds the site from
the viewer assets the wheel carries (checked against their pinned integrity) and serves it.

No network: the wheel is built without build isolation (setuptools from the test environment)
from the assets already vendored by the set-up, and the new environment sees the test
environment's third-party packages through a .pth file (geo-publish itself only from the wheel).
"""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from server_testlib import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "--no-build-isolation", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = out.glob("geo_publish-*.whl")
    return found


def test_the_wheel_carries_assets_and_samples(wheel):
    from geo_publish.publish.viewer import assets

    names = set(zipfile.ZipFile(wheel).namelist())
    for pkg in assets.PACKAGES:
        base = f"geo_publish/publish/viewer/{assets.PACKAGED}/{pkg.folder}-{pkg.version}/"
        assert base + ".integrity" in names, pkg.name
        for f in pkg.files:
            assert any(n.startswith(base + f) for n in names), (pkg.name, f)
    for sample in ("collections/shelters.yml", "styles/shelters.yml"):
        assert f"geo_publish/samples/{sample}" in names


def test_demo_from_the_wheel_alone(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    with zipfile.ZipFile(wheel) as z:  # what pip install does for a pure wheel, minus the network
        z.extractall(purelib)
    entry = env_dir / "bin" / "geo-publish"
    entry.write_text(f"#!{py}\nimport sys\nfrom geo_publish.cli.main import main\nsys.exit(main())\n")
    entry.chmod(0o755)
    # third-party packages from the test environment; not its geo_publish (an editable finder
    # there is a .pth in a site folder, which a path added this way does not run)
    (Path(purelib) / "zz-test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GEO_PUBLISH_VENDOR_DIR", "GEO_PUBLISH_CONFIG")}
    where = subprocess.run([str(py), "-c", "import geo_publish, sys; print(geo_publish.__file__)"],
                           capture_output=True, text=True, env=env, cwd=work, check=True).stdout
    assert where.startswith(purelib), where
    port = free_port()
    proc = subprocess.Popen([str(entry), "demo", "--port", str(port), "--workers", "1"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:] if proc.stdout else ""
            try:
                if httpx.get(url + "/site/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        index = httpx.get(url + "/site/", timeout=10).text
        assert "layer-shelters.html" in index
        leaflet = httpx.get(url + "/site/vendor/leaflet-1.9.4/dist/leaflet.js", timeout=10)
        assert leaflet.status_code == 200 and len(leaflet.content) > 100_000
        shelters = httpx.get(url + "/collections/shelters", timeout=10).json()
        assert shelters["title"] != "shelters"  # the sample manifest came from the wheel
        assert httpx.get(url + "/collections/shelters/items", params={"limit": 1},
                         timeout=10).json()["numberMatched"] > 0
        site_dir = work / "data" / "demo" / "build" / "site"
        assert (site_dir / "vendor").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
