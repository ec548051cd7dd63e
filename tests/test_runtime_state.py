"""What a serving worker does after a publish costs what the publish changed: its configuration
makes again only the changed collections' entries (the others stay the same objects), and the
digest of the manifests' and styles' times is kept up to date from the files that changed."""

from __future__ import annotations

import os
from pathlib import Path

import pyogrio
import pytest

from geo_publish.read.state import FileTimes
from geo_publish.serve.pygeoapi.config import Generator
from geo_publish.settings import load_settings
from geo_publish.store import open_store
from geo_publish.store.catalogue import VersionCatalogue


def test_file_times_kept_from_changes_equal_a_full_read(tmp_path: Path) -> None:
    coll, styles = tmp_path / "collections", tmp_path / "styles"
    coll.mkdir()
    styles.mkdir()
    for i in range(5):
        (coll / f"c{i}.yml").write_text(f"id: c{i}\n")
    (styles / "c1.yml").write_text("color: '#123456'\n")
    (coll / "notes.txt").write_text("not a manifest")
    kept = FileTimes([coll, styles])
    first = kept.digest()
    assert FileTimes([coll, styles]).digest() == first  # the same files: the same digest
    (coll / "c2.yml").write_text("id: c2\ntitle: changed\n")  # changed
    (styles / "c3.yml").write_text("color: '#654321'\n")  # new
    (coll / "c4.yml").unlink()  # gone
    (styles / "c1.yml").write_text("color: '#abcdef'\n")
    os.utime(styles / "c1.yml", ns=(1, 1))  # same size, another time
    kept.update({"c2", "c3", "c4", "c1"})
    assert kept.digest() == FileTimes([coll, styles]).digest() != first
    (coll / "c0.yml").write_text("id: c0\ntitle: missed\n")  # a change no one reported...
    kept.update(set())
    assert kept.digest() != FileTimes([coll, styles]).digest()
    kept.update({"*"})  # ...is caught by a full read
    assert kept.digest() == FileTimes([coll, styles]).digest()


def test_a_publish_makes_again_only_its_collections_entry(project, points, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(points, src)
    for cid in ("b", "c", "a"):
        assert project.run("ingest", str(src), "--collection", cid) == 0
    settings = load_settings(project.config)
    gen = Generator(settings)
    before = gen.generate()["resources"]
    assert [k for k in before if k != "catalogue"] == ["a", "b", "c"]

    def every(*_a: object) -> None:
        raise AssertionError("read every collection for one publish")

    monkeypatch.setattr(VersionCatalogue, "collections", every)
    monkeypatch.setattr(VersionCatalogue, "published_passports", every)
    pyogrio.write_dataframe(points.iloc[:5], src)
    assert project.run("ingest", str(src), "--collection", "b") == 0
    assert project.run("ingest", str(src), "--collection", "aa") == 0  # a new one, in its place
    after = gen.generate(set())["resources"]
    assert [k for k in after if k != "catalogue"] == ["a", "aa", "b", "c"]
    assert after["a"] is before["a"] and after["c"] is before["c"]
    assert after["b"]["geo_publish"]["version"] == 2 and after["b"]["geo_publish"]["feature_count"] == 5
    # a changed manifest makes its entry again; a rollback is a change of the published version
    manifest = project.root / "collections" / "c.yml"
    assert "editable: false\n" in manifest.read_text()
    manifest.write_text(manifest.read_text().replace("editable: false\n", "editable: true\n"))
    open_store(settings).rollback("b", 1)
    again = gen.generate({"c"})["resources"]
    assert again["c"] is not after["c"] and again["c"]["geo_publish"]["editable"] is True
    assert again["b"]["geo_publish"]["feature_count"] == len(points)
    assert again["a"] is before["a"] and again["aa"] is after["aa"]


def test_a_start_reads_the_passports_a_chunk_at_a_time(project, points, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every collection's entry at a start, its passports read a chunk at a time (all at once
    left a worker 45 MB bigger at 10,000 layers): the same entries as made one by one."""
    from geo_publish.serve.pygeoapi import config

    src = tmp_path / "p.gpkg"
    pyogrio.write_dataframe(points, src)
    for cid in ("e", "d", "c", "b", "a"):
        assert project.run("ingest", str(src), "--collection", cid) == 0
    settings = load_settings(project.config)
    one_by_one = Generator(settings).generate()["resources"]  # 5: fewer than MANY
    asked: list[list[str]] = []
    passports = VersionCatalogue.published_passports

    def chunked(self, only=None):
        asked.append(list(only))
        return passports(self, only)

    monkeypatch.setattr(VersionCatalogue, "published_passports", chunked)
    monkeypatch.setattr(config, "MANY", 1)
    monkeypatch.setattr(config, "CHUNK", 2)
    at_once = Generator(settings).generate()["resources"]
    assert sorted(sum(asked, [])) == ["a", "b", "c", "d", "e"] and max(map(len, asked)) == 2
    assert at_once == one_by_one and list(at_once) == list(one_by_one)


def test_a_change_the_watcher_missed_is_found_by_the_full_check(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from geo_publish.read import state

    coll, styles = tmp_path / "collections", tmp_path / "styles"
    coll.mkdir()
    styles.mkdir()
    (coll / "a.yml").write_text("id: a\n")
    watch = state.Watch([coll, styles])
    watch.stop()  # the watcher gone: only the full check is left
    assert watch.thread is not None
    watch.thread.join(5)
    assert not watch.thread.is_alive()
    monkeypatch.setattr(state, "FULL_CHECK_S", 0.0)
    first = watch.token()
    watch.drain()
    assert watch.token() == first and watch.drain() == set()  # nothing changed
    (styles / "a.yml").write_text("color: '#000000'\n")
    assert watch.token() != first and watch.drain() == {"*"}
