"""Decide the text encoding of legacy attribute data (DBF, CSV).

Order: option > .cpg > detected > default, and the winner is recorded. Detection: strict UTF-8
first; otherwise score the Cyrillic code pages by how much of the text decodes to frequent
Cyrillic letters (charset detectors are wrong on the short samples a DBF gives).
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

from geo_publish.errors import EncodingError

CANDIDATES = ("cp1251", "cp866", "koi8_r", "iso8859_5", "mac_cyrillic")
# Frequent Russian and Uzbek-Cyrillic letters, most frequent first; weights fall with rank.
_FREQUENT = "оеаинтсрвлкмдпуяызьбгчйхжшюцщэфъёўқғҳ"
_WEIGHT = {c: 1.0 + (len(_FREQUENT) - i) / len(_FREQUENT) for i, c in enumerate(_FREQUENT)}
_CPG_ALIASES = {"1251": "cp1251", "866": "cp866", "1252": "cp1252", "65001": "utf-8",
                "utf8": "utf-8", "ansi 1251": "cp1251", "ansi 1252": "cp1252",
                "oem 866": "cp866", "koi8-r": "koi8_r", "koi8r": "koi8_r", "88591": "iso8859_1"}


@dataclass(frozen=True)
class EncodingDecision:
    encoding: str
    source: str  # option | cpg | detected | default
    note: str | None = None


def normalise(name: str) -> str:
    key = name.strip().lower().replace("windows-", "").replace("cp", "").strip()
    alias = _CPG_ALIASES.get(name.strip().lower()) or _CPG_ALIASES.get(key)
    candidate = alias or name.strip()
    try:
        return codecs.lookup(candidate).name
    except LookupError:
        try:
            return codecs.lookup("cp" + key).name
        except LookupError as err:
            raise EncodingError(f"unknown encoding {name!r}", hint="e.g. --encoding cp1251") from err


def score(text: str) -> float:
    """Higher is more like natural Cyrillic (or Latin) text; box drawing and symbols cost."""
    total = 0.0
    for ch in text:
        low = ch.lower()
        if low in _WEIGHT:
            total += _WEIGHT[low] if ch == low else _WEIGHT[low] * 0.6
        elif ch.isascii():
            continue
        elif "\u0400" <= ch <= "\u04ff":
            total += 0.2
        else:
            total -= 2.0
    return total


def detect(sample: bytes) -> tuple[str, str | None]:
    """Best encoding for ``sample`` and a note when the choice was close or blind."""
    if not sample:
        return "utf-8", "no text to detect from"
    try:
        sample.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    scored = sorted(
        ((score(sample.decode(enc, errors="replace")), enc) for enc in CANDIDATES), reverse=True
    )
    best = scored[0][1]
    return codecs.lookup(best).name, None


def dbf_sample(dbf: Path, max_bytes: int = 256 * 1024) -> bytes:
    """Bytes of the character fields (and field names) of a DBF, up to ``max_bytes``."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            return b""
        nrec, hlen, rlen = struct.unpack("<IHH", head[4:12])
        desc = fh.read(max(hlen - 32, 0))
        fields: list[tuple[int, int]] = []
        names = bytearray()
        offset = 1
        for i in range(0, len(desc) - 31, 32):
            if desc[i] == 0x0D:
                break
            name = desc[i : i + 11].split(b"\0", 1)[0]
            ftype, flen = chr(desc[i + 11]), desc[i + 16]
            names += name + b" "
            if ftype == "C":
                fields.append((offset, flen))
            offset += flen
        chunks = [bytes(names)]
        size = len(names)
        fh.seek(hlen)
        for _ in range(nrec):
            rec = fh.read(rlen)
            if len(rec) < rlen or size > max_bytes:
                break
            for off, ln in fields:
                value = rec[off : off + ln].rstrip(b" \0")
                if value:
                    chunks.append(value)
                    size += len(value)
    return b" ".join(chunks)


def decide(
    option: str | None,
    declared: str | None,
    sample: bytes,
    default: str = "utf-8",
    declared_from: str = "cpg",
) -> EncodingDecision:
    """Apply option > declared (.cpg) > detected > default to one source."""
    if option:
        enc = normalise(option)
        try:
            sample.decode(enc)
        except UnicodeDecodeError as err:
            raise EncodingError(
                f"the data does not decode as {option} (byte {err.start})",
                hint="check --encoding",
            ) from err
        return EncodingDecision(enc, "option")
    has_text = any(b > 0x7F for b in sample)
    detected, _ = detect(sample)
    if declared:
        try:
            enc = normalise(declared)
        except EncodingError:
            enc = None
        if enc is not None:
            try:
                decoded = sample.decode(enc)
            except UnicodeDecodeError:
                decoded = None
            if decoded is not None and (
                not has_text
                or enc == detected
                or score(decoded) >= 0.8 * score(sample.decode(detected, errors="replace"))
            ):
                return EncodingDecision(enc, declared_from)
        return EncodingDecision(
            detected if has_text else default,
            "detected" if has_text else "default",
            note=f"declared encoding {declared!r} does not fit the data; used {detected if has_text else default}",
        )
    if has_text:
        return EncodingDecision(detected, "detected")
    return EncodingDecision(default, "default")
