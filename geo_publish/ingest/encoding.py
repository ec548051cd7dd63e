"""Decide the text encoding of legacy attribute data (DBF, CSV, GeoJSON).

Order: option > declared (``.cpg``, or the DBF's language driver id) > detected > default, and
the winner is recorded with its evidence.

A declared encoding that decodes the bytes is a fact about the file: it is overridden only on
strong evidence (the bytes do not decode, or nearly every word reads implausibly in it while
another encoding reads them plausibly), and the note says which. Detection without a
declaration: strict UTF-8 first; then each single-byte candidate (Cyrillic cp1251, cp866,
KOI8-R; Western European cp1252; Turkish cp1254) is judged word by word with script rules that
hold for any language (:func:`implausible`); charset-normalizer's language coherence, then the
frequency of Cyrillic letters, only break ties between equally plausible readings.
"""

from __future__ import annotations

import codecs
import re
import struct
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geo_publish.errors import EncodingError

# Single-byte code pages met in Central Asian, Russian and Western European data, in the order
# preferred when the evidence cannot tell them apart.
CANDIDATES = ("cp1251", "cp1252", "cp866", "koi8_r", "cp1254", "iso8859_5")
_FREQUENT = "оеаинтсрвлкмдпуяызьбгчйхжшюцщэфъёўқғҳ"
_WEIGHT = {c: 1.0 + (len(_FREQUENT) - i) / len(_FREQUENT) for i, c in enumerate(_FREQUENT)}
_CPG_ALIASES = {"1251": "cp1251", "866": "cp866", "1252": "cp1252", "65001": "utf-8",
                "utf8": "utf-8", "ansi 1251": "cp1251", "ansi 1252": "cp1252",
                "oem 866": "cp866", "koi8-r": "koi8_r", "koi8r": "koi8_r", "88591": "iso8859_1",
                "1254": "cp1254", "ansi 1254": "cp1254"}
# A DBF's language driver id (byte 29), as GDAL reads it when there is no .cpg. 0x57 ("ANSI",
# the writer's system code page) names no code page, so it is no declaration.
_LDID = {0x01: "cp437", 0x02: "cp850", 0x03: "cp1252", 0x26: "cp866", 0x65: "cp866",
         0x64: "cp852", 0xC8: "cp1250", 0xC9: "cp1251", 0xCA: "cp1254", 0x1F: "cp852"}
# Bytes that separate words in every ASCII-compatible candidate: ASCII spaces, punctuation, digits.
_WORD = re.compile(rb"[^\x00-\x26\x28-\x40\x5b-\x60\x7b-\x7f]*[\x80-\xff][^\x00-\x26\x28-\x40\x5b-\x60\x7b-\x7f]*")
# Typographic marks that stand at the edges of words in real text (quotes, the numero sign, a
# no-break space), and dashes, which also join words; anywhere else they count as symbols.
_EDGES = "\u00a0\u00ab\u00bb\u2018\u2019\u201a\u201c\u201d\u201e\u2116\u00b0\u00b7\u2026"
_DASHES = re.compile("[\u2013\u2014]+")
_APOSTROPHES = "'\u02bb\u02bc\u2019\u02b9"
MAX_WORDS = 3000  # distinct words with non-ASCII bytes judged per candidate
TRUST = 0.75  # a declaration is overridden when at least this share of its words is implausible
TIE = 0.15  # readings whose implausible shares differ by no more are told apart by language


@dataclass(frozen=True)
class EncodingDecision:
    encoding: str
    source: str  # option | cpg | ldid | detected | default
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


@lru_cache(maxsize=4096)
def _script(ch: str) -> str | None:
    """LATIN, CYRILLIC, GREEK, ... for a letter; None for marks and modifier letters."""
    if unicodedata.category(ch) in ("Lm", "Mn", "Mc", "Me"):
        return None
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "?"


def implausible(word: str) -> str | None:
    """Why ``word`` (a run of letters holding non-ASCII text) cannot be real text, or None.

    The rules hold in any language: a word does not mix scripts (Latin with Cyrillic), hold
    symbols or control characters among its letters, switch from lower to upper case on a
    non-ASCII letter, or (in Latin script) consist mostly of accented letters.
    """
    scripts: set[str] = set()
    accented = letters = 0
    prev_lower = False
    for ch in word:
        cat = unicodedata.category(ch)
        if cat[0] not in "LM" and ch not in _APOSTROPHES:
            return "symbols among letters"
        if cat[0] != "L":
            continue
        script = _script(ch)
        if script is None:
            continue
        scripts.add(script)
        letters += 1
        if script == "LATIN" and not ch.isascii():
            accented += 1
        if prev_lower and cat == "Lu" and not ch.isascii():
            return "upper case after lower case"
        prev_lower = cat == "Ll"
    if len(scripts) > 1:
        return "mixed " + " and ".join(sorted(s.title() for s in scripts)) + " letters"
    if scripts == {"LATIN"} and letters >= 4 and accented * 5 > letters * 4:  # "Üçüncü" is 4 of 6
        return "mostly accented letters"
    return None


def words(sample: bytes) -> list[bytes]:
    """The distinct words of ``sample`` that hold non-ASCII bytes, first seen first."""
    seen: dict[bytes, None] = {}
    for m in _WORD.finditer(sample):
        seen.setdefault(m.group(), None)
        if len(seen) >= MAX_WORDS:
            break
    return list(seen)


@dataclass(frozen=True)
class Reading:
    """How ``sample`` reads in one encoding."""

    encoding: str
    judged: int  # words with non-ASCII text
    bad: int  # of those, implausible
    example: str | None = None  # the first implausible word and why

    @property
    def share(self) -> float:
        return self.bad / self.judged if self.judged else 0.0


def read_as(encoding: str, tokens: list[bytes]) -> Reading | None:
    """The reading of ``tokens`` in ``encoding``; None when the bytes do not decode."""
    judged = bad = 0
    example = None
    try:
        for token in tokens:
            text = token.decode(encoding)
            for part in _DASHES.split(text):
                word = part.strip(_EDGES)
                if word.isascii():
                    continue
                judged += 1
                why = implausible(word)
                if why:
                    bad += 1
                    if example is None:
                        example = f"{why} in {word[:30]!r}"
    except UnicodeDecodeError:
        return None
    return Reading(codecs.lookup(encoding).name, judged, bad, example)


def _frequency(text: str) -> float:
    """How much of ``text`` is frequent Cyrillic letters (ties between Cyrillic code pages)."""
    return sum(_WEIGHT.get(ch.lower(), 0.0) for ch in text) / max(len(text), 1)


def _coherence(sample: bytes, encodings: list[str]) -> dict[str, float]:
    """charset-normalizer's language coherence of ``sample`` in each of ``encodings``."""
    from charset_normalizer import from_bytes

    try:
        results = from_bytes(sample[: 64 * 1024], cp_isolation=encodings, explain=False)
    except Exception:  # noqa: BLE001 - a detector failure leaves the tie to the next rule
        return {}
    return {codecs.lookup(m.encoding).name: m.coherence - m.chaos for m in results}


def readings(sample: bytes, tokens: list[bytes] | None = None) -> list[Reading]:
    """Every candidate that decodes ``sample``, best first."""
    tokens = words(sample) if tokens is None else tokens
    found = [r for r in (read_as(enc, tokens) for enc in ("utf-8", *CANDIDATES)) if r is not None]
    if found and found[0].encoding == "utf-8" and found[0].judged:
        return found  # non-ASCII text that is valid UTF-8: UTF-8 (other readings kept for notes)
    found = [r for r in found if r.encoding != "utf-8"]
    best = min((r.share for r in found), default=0.0)
    tied = [r.encoding for r in found if r.share <= best + TIE]
    coherence = _coherence(sample, tied) if len(tied) > 1 else {}
    joined = b" ".join(tokens)
    order = {enc: i for i, enc in enumerate(codecs.lookup(c).name for c in CANDIDATES)}

    def key(r: Reading) -> tuple[float, float, float, int]:
        in_tie = r.encoding in tied
        return (
            0.0 if in_tie else r.share,
            -round(coherence.get(r.encoding, -1.0), 2) if in_tie and coherence else 0.0,  # absent: cn rejected it
            -round(_frequency(joined.decode(r.encoding)), 2) if in_tie else 0.0,
            order.get(r.encoding, 99),
        )

    return sorted(found, key=key)


def detect(sample: bytes) -> tuple[str, str | None]:
    """Best encoding for ``sample`` and a note when the choice was blind."""
    if not sample:
        return "utf-8", "no text to detect from"
    try:
        sample.decode("utf-8")
        return "utf-8", None
    except UnicodeDecodeError:
        pass
    found = readings(sample)
    if not found:
        return "utf-8", "no candidate encoding decodes the data"
    return found[0].encoding, None


def dbf_ldid(dbf: Path) -> str | None:
    """The code page a DBF's language driver id names, if it names one."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
    return _LDID.get(head[29]) if len(head) >= 32 else None


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


def _overridden(declared: str, enc: str, sample: bytes, declared_from: str) -> EncodingDecision | None:
    """The decision against a declaration that decodes, or None when the declaration stands."""
    tokens = words(sample)
    mine = read_as(enc, tokens)
    if mine is None or mine.judged == 0 or mine.share < TRUST:
        return None
    better = next((r for r in readings(sample, tokens) if r.encoding != enc and r.share <= 0.1), None)
    if better is None:
        return None
    return EncodingDecision(
        better.encoding, "detected",
        note=(f"declared encoding {declared!r} ({declared_from}) does not fit the data: "
              f"{mine.bad} of {mine.judged} words read implausibly as {enc} ({mine.example}); "
              f"used {better.encoding}, in which {better.judged - better.bad} of {better.judged} read plausibly"),
    )


def decide(
    option: str | None,
    declared: str | None,
    sample: bytes,
    default: str = "utf-8",
    declared_from: str = "cpg",
) -> EncodingDecision:
    """Apply option > declared (.cpg, LDID) > detected > default to one source."""
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
    if declared:
        try:
            enc: str | None = normalise(declared)
        except EncodingError:
            enc = None
        why = "is not an encoding this server knows"
        if enc is not None:
            try:
                sample.decode(enc)
            except UnicodeDecodeError as err:
                why = f"does not decode the data (byte 0x{sample[err.start]:02x} at {err.start})"
            else:
                return _overridden(declared, enc, sample, declared_from) or EncodingDecision(enc, declared_from)
        used = detect(sample)[0] if has_text else default
        return EncodingDecision(
            used, "detected" if has_text else "default",
            note=f"declared encoding {declared!r} ({declared_from}) {why}; used {used}",
        )
    if has_text:
        return EncodingDecision(detect(sample)[0], "detected")
    return EncodingDecision(default, "default")
