"""Safe extraction of zip archives: no path escapes, no zip bombs, legacy (cp866) entry names."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from geo_publish.errors import IngestError, UnsafeArchive

_CHUNK = 1 << 20


MAX_ENTRIES = 10_000  # a shapefile set is a handful; a national layer in tiles some thousands


def _entry_name(info: zipfile.ZipInfo) -> str:
    """Entry name as the zipper meant it: old Windows zippers wrote cp866 without the UTF-8 flag."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name
    raw = name.encode("cp437")
    for enc in ("utf-8", "cp866"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return name


def _safe_parts(name: str, archive: Path) -> tuple[str, ...]:
    norm = name.replace("\\", "/")
    path = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in path.parts:
        raise UnsafeArchive(
            f"{archive}: zip entry {name!r} points outside the archive folder; refused"
        )
    return tuple(p for p in path.parts if p not in ("", "."))


def _check_layout(archive: Path, entries: list[tuple[str, ...]]) -> None:
    """Every entry names one file: none twice (case folded, as Windows and macOS see them), and
    none that is also another entry's folder (``a`` and ``a/b``)."""
    files: dict[tuple[str, ...], str] = {}
    folders: set[tuple[str, ...]] = set()
    for parts in entries:
        key = tuple(p.casefold() for p in parts)
        if key in files:
            raise UnsafeArchive(f"{archive}: holds {'/'.join(parts)!r} twice; refused")
        files[key] = "/".join(parts)
        folders.update(key[:i] for i in range(1, len(key)))
    clash = sorted(folders & files.keys())
    if clash:
        raise UnsafeArchive(f"{archive}: entry {files[clash[0]]!r} is both a file and a folder; refused")


def extract_zip(archive: Path, dest: Path, max_bytes: int, max_ratio: float) -> Path:
    """Extract ``archive`` into ``dest`` after checking every entry; return ``dest``."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise IngestError(f"{archive}: not a readable zip archive ({err})") from err
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise UnsafeArchive(f"{archive}: holds {len(infos):,} entries (at most {MAX_ENTRIES:,}); "
                                "refused")
        total = 0
        plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
        for info in infos:
            parts = _safe_parts(_entry_name(info), archive)
            if not parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeArchive(f"{archive}: zip entry {info.filename!r} is a symbolic link; refused")
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if total > max_bytes or (info.file_size > 10 * _CHUNK and ratio > max_ratio):
                raise UnsafeArchive(
                    f"{archive}: would expand past the limit ({max_bytes:,} bytes, ratio "
                    f"{max_ratio:g}); refused as a possible zip bomb",
                    hint="raise ingest.max_unzipped_bytes in config.yml if the data is genuine",
                )
            plan.append((info, parts))
        _check_layout(archive, [parts for _, parts in plan])
        written = 0
        for info, parts in plan:
            target = dest.joinpath(*parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(_CHUNK):
                        written += len(block)
                        if written > max_bytes:  # sizes in the directory can lie
                            raise UnsafeArchive(
                                f"{archive}: expands past {max_bytes:,} bytes; refused as a "
                                "possible zip bomb"
                            )
                        out.write(block)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as err:
                raise IngestError(f"{archive}: entry {info.filename!r} cannot be read ({err})") from err
    return dest


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
