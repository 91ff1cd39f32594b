"""Decoding a CSV export whose encoding nobody wrote down.

CRMs write UTF-8 (often with a byte-order mark, which Excel needs to see it), Excel re-saves
as UTF-16 ("Unicode text") or in the Windows code page of the user's locale: cp1251 in Russia,
cp1252 in Western Europe and the Americas. Decoding with the wrong one gives mojibake stage
names and "unknown stage" errors that point nowhere, so the rule is stated and it asks when the
bytes cannot tell:

1. ``--encoding NAME`` is used as given (strictly: a byte it cannot decode is an error).
2. A byte-order mark decides: UTF-8, UTF-16 LE/BE (UTF-32 too).
3. No mark, and NUL bytes in every other position of the start: UTF-16 without a mark (LE or
   BE by which position holds the NULs); other NUL bytes: not a text file.
4. Valid UTF-8 is UTF-8 (pure ASCII included).
5. Otherwise a Windows code page, cp1251 or cp1252, decided by the words: a word (a run of
   letters) made only of non-ASCII letters ("Квалификация" in cp1251) votes cp1251; a word that
   mixes ASCII and non-ASCII letters ("Müller", "Café") votes cp1252. At least 90% of the votes
   must agree; a byte one code page does not define rules it out. When both decode to the same
   text (only shared punctuation) it does not matter. Anything else: an error that says so and
   names ``--encoding``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from sim.errors import UserError
from sim.plural import counted

#: Share of the word votes that must agree before a code page is chosen.
AGREEMENT = 0.9
#: Bytes the first N of which are looked at for UTF-16 without a mark.
_SNIFF = 4096
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Letters in both code pages: ASCII, and 0xC0-0xFF (А-я in cp1251, À-ÿ in cp1252) plus Ё/ё.
_WORD = re.compile(rb"[A-Za-z\xa8\xb8\xc0-\xff]+")
_ASCII_LETTER = re.compile(rb"[A-Za-z]")
#: Bytes that each code page leaves undefined.
_UNDEFINED = {"cp1252": frozenset(b"\x81\x8d\x8f\x90\x9d"), "cp1251": frozenset(b"\x98")}
ENCODING_HINT = "give the file's encoding with --encoding (e.g. utf-8, utf-16, cp1251, cp1252)"


@dataclass(frozen=True)
class Decoded:
    """A file's text and how it was read (``how`` is for the terminal: "cp1251, by its words")."""

    text: str
    encoding: str
    how: str


def decode_export(data: bytes, source: str, encoding: str | None = None) -> Decoded:
    """The text of an export's bytes, by the rule in the module docstring.

    Raises:
        UserError: the given encoding does not fit, the bytes are binary, or they could be
            cp1251 or cp1252 and the words do not tell which (the message names --encoding).
    """
    if encoding:
        return _decode_as(data, source, encoding)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _decode_as(data, source, name, how="by its byte-order mark")
    if b"\x00" in data[:_SNIFF]:
        utf16 = _utf16_without_bom(data[:_SNIFF])
        if utf16 is None:
            raise UserError(
                f"{source}: not a CSV text file (binary content: export the report as CSV, "
                f"or if it is text, {ENCODING_HINT})"
            )
        return _decode_as(data, source, utf16, how="UTF-16 without a byte-order mark")
    try:
        return Decoded(data.decode("utf-8"), "utf-8", "valid UTF-8")
    except UnicodeDecodeError:
        pass
    return _code_page(data, source)


def _decode_as(data: bytes, source: str, encoding: str, how: str = "as asked") -> Decoded:
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise UserError(
            f"--encoding {encoding}: unknown encoding (e.g. utf-8, utf-16, cp1251, cp1252)"
        ) from None
    name = "utf-8-sig" if codec.name == "utf-8" else codec.name  # a BOM is never a header
    try:
        return Decoded(data.decode(name), codec.name, how)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{source}: line {line}: byte {exc.start} ({data[exc.start]:#04x}) is not "
            f"{codec.name} ({'the encoding asked for' if how == 'as asked' else how}); "
            f"{ENCODING_HINT}"
        ) from None


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` when the NULs sit in every other byte, else None."""
    even, odd = head[0::2], head[1::2]
    if not odd:
        return None
    if odd.count(0) >= AGREEMENT * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= AGREEMENT * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _code_page(data: bytes, source: str) -> Decoded:
    """cp1251 or cp1252 by the words (rule 5 of the module docstring), or a clear question."""
    present = set(data)
    possible = [cp for cp in ("cp1251", "cp1252") if not present & _UNDEFINED[cp]]
    if not possible:
        raise UserError(f"{source}: not UTF-8, cp1251 or cp1252 text; {ENCODING_HINT}")
    if len(possible) == 1:
        return _decode_as(data, source, possible[0], how="the only code page that fits")
    if data.decode("cp1251") == data.decode("cp1252"):
        return Decoded(data.decode("cp1252"), "cp1252", "no letter outside ASCII")
    cyrillic = latin = 0
    for word in _WORD.findall(data):
        high = sum(1 for b in word if b >= 0x80)
        if not high:
            continue
        if _ASCII_LETTER.search(word):
            latin += 1
        elif len(word) >= 2:
            cyrillic += 1
    votes = cyrillic + latin
    if votes and cyrillic >= AGREEMENT * votes:
        return _decode_as(data, source, "cp1251", how=f"{counted(cyrillic, 'word')} in Cyrillic")
    if votes and latin >= AGREEMENT * votes:
        return _decode_as(data, source, "cp1252", how=f"{counted(latin, 'word')} in accented Latin")
    raise UserError(
        f"{source}: not UTF-8, and the words do not tell whether it is cp1251 (Cyrillic Windows) "
        f"or cp1252 (Western Windows): {cyrillic} words look Cyrillic, {latin} look accented "
        f"Latin; {ENCODING_HINT}"
    )
