"""Scenario keys for CRM stage names written in any script.

A scenario's stage names are ASCII keys (``[a-z][a-z0-9_-]*``: they appear in exits, --set
paths and file names), but CRM stage names are whatever the sales team typed: "Квалификация",
"Präsentation", "Need Analysis". The CRM spelling stays the stage's label; the key is made
readable where it can be: Cyrillic is transliterated (a simple BGN/PCGN-like table), accents
are dropped from Latin letters, and anything else that leaves no ASCII letter gets a numbered
key (``stage_1``). Two spellings whose keys collide are never merged silently: the caller
reports both (see ``sim.crm``).
"""

from __future__ import annotations

import re
import unicodedata

_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяєіїґў"
_LATIN = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya ye i yi g u"
#: Cyrillic letter -> Latin letters (hard and soft signs, "-", vanish).
_CYRILLIC = {k: ("" if v == "-" else v) for k, v in zip(_LETTERS, _LATIN.split(), strict=True)}


def to_ascii(text: str) -> str:
    """``Квалификация`` -> ``kvalifikatsiya``, ``Präsentation`` -> ``prasentation`` (lower case;
    characters with no ASCII reading are dropped)."""
    out = []
    for ch in text.lower():
        if ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
            continue
        plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
        out.append(plain if plain else (" " if not ch.isalnum() else ""))
    return "".join(out)


def key_words(text: str) -> list[str]:
    """The ASCII words of a name, for keys: ``Need Analysis`` -> ``["need", "analysis"]``."""
    return re.sub(r"[^a-z0-9]+", " ", to_ascii(text)).split()


def name_slug(text: str, fallback: str = "scenario") -> str:
    """A file-name part for a name in any script: ``Завод — план 2027`` -> ``zavod-plan-2027``.

    Results folders and starter files are named from a scenario's name, which may be any text;
    the slug keeps them ASCII and free of path separators. ``fallback`` when nothing is left.
    """
    return "-".join(key_words(text)) or fallback


def cut_slug(slug: str, limit: int) -> str:
    """``slug`` if it fits in ``limit`` bytes (UTF-8), else cut at its last word boundary within
    them (if any) and ending in ``-etc``: at most ``limit + 4`` bytes (a folder's name must fit
    the file system's 255 bytes, and a slug of a file's own name may keep its letters; the
    files inside hold the whole name)."""
    data = slug.encode("utf-8")
    if len(data) <= limit:
        return slug
    kept = data[:limit].decode("utf-8", errors="ignore")  # never half a letter
    return kept.rsplit("-", 1)[0] + "-etc"
